package nodes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/services"
)

func init() { Register("Full Text Search", newFullTextSearch) }

// Full Text Search (Magick document/FullTextSearch.ts) finds documents by
// keywords: its Entities input is a JSON array of words (Magick
// JSON.parse'd it and joined the words with spaces), searched in the
// knowledge base by keyword; when an embedding is connected the keywords
// and the vector are mixed (hybrid search, alpha 0.5), as Magick sent both
// to its documents service. The type comes from the type input, else from
// data.type (lower-cased, trimmed); Magick's "none" (no type) filters
// nothing. max_count is read as Magick did: parseInt of a string, a number
// as it is, 10 when absent.
func newFullTextSearch(svcs *Services) *graph.NodeType {
	return &graph.NodeType{
		Name:             "Full Text Search",
		Family:           "knowledge",
		Nondeterministic: true, // the knowledge base changes between runs
		Doc:              "Searches a knowledge base by keywords (the Entities list), mixed with an embedding when one is connected.",
		Inputs: []graph.Port{
			triggerIn,
			dataIn("embedding", "embedding", "a vector to rank by as well (hybrid search)"),
			dataIn("Entities", "string", "the keywords: a JSON array of words"),
			dataIn("type", "string", "only documents of this type (overrides the node's type)"),
		},
		Outputs: []graph.Port{triggerOut, dataOut("documents", "array", "the hits, best first: [{id, text, score, metadata}]")},
		Config: []graph.ConfigField{
			{Name: "knowledgeBase", Type: "string", Default: defaultKnowledgeBase, Doc: "the knowledge base to search"},
			{Name: "type", Type: "string", Doc: "only documents of this type"},
			{Name: "max_count", Type: "number", Default: 10, Doc: "most documents returned"},
		},
		New: func(n *graph.Node) (graph.Worker, error) {
			w := &fullTextWorker{svcs: svcs, kb: configString(n, "knowledgeBase", "kb"), limit: 10}
			if w.kb == "" {
				w.kb = defaultKnowledgeBase
			}
			switch x := n.Config["max_count"].(type) {
			case nil:
			case string:
				c, ok := jsParseInt(x)
				if !ok {
					return nil, fmt.Errorf(`config "max_count" %q is not a number`, x)
				}
				w.limit = c
			case float64:
				w.limit = int(x)
			default:
				return nil, fmt.Errorf(`config "max_count": want a number, got %T`, x)
			}
			if w.limit < 1 {
				return nil, fmt.Errorf(`config "max_count" is %d; it must be at least 1`, w.limit)
			}
			w.typ = strings.ToLower(strings.TrimSpace(configString(n, "type")))
			return w, nil
		},
	}
}

type fullTextWorker struct {
	svcs    *Services
	kb, typ string
	limit   int
}

func (w *fullTextWorker) Work(ctx context.Context, a *graph.Activation) (graph.Result, error) {
	if w.svcs.Vectors == nil {
		return graph.Result{}, errNoVectors
	}
	words, err := entityWords(a)
	if err != nil {
		return graph.Result{}, err
	}
	q := services.SearchQuery{Limit: w.limit, Text: strings.Join(words, " "), Alpha: 0}
	if strings.TrimSpace(q.Text) == "" {
		return graph.Result{}, errors.New(`input "Entities" has no words to search for`)
	}
	if v, ok := a.Input("embedding"); ok && v != nil {
		vec, err := toVector(v)
		if err != nil {
			return graph.Result{}, fmt.Errorf(`input "embedding": %w`, err)
		}
		if len(vec) > 0 {
			q.Vector, q.Alpha = vec, 0.5
		}
	}
	typ := w.typ
	if v, ok := a.Input("type"); ok && v != nil {
		typ = text(v)
	}
	if typ != "" && typ != "none" {
		q.Filter = map[string]any{"type": typ}
	}
	hits, err := w.svcs.Vectors.Search(ctx, w.kb, tenant(a), q)
	if errors.Is(err, services.ErrNotFound) {
		hits, err = nil, nil // a knowledge base nothing was stored in yet is empty
	}
	if err != nil {
		return graph.Result{}, fmt.Errorf("search knowledge base %q: %w", w.kb, err)
	}
	docs := make([]any, 0, len(hits))
	for _, h := range hits {
		d := map[string]any{"id": h.ID, "text": h.Text, "score": float64(h.Score)}
		if len(h.Metadata) > 0 {
			d["metadata"] = h.Metadata
		}
		docs = append(docs, d)
	}
	return graph.Result{Outputs: graph.Outputs{"documents": docs}}, nil
}

// entityWords reads the Entities input: a JSON array text, as Magick
// JSON.parse'd it, or an array already.
func entityWords(a *graph.Activation) ([]string, error) {
	v, ok := a.Input("Entities")
	if !ok || v == nil {
		return nil, errors.New(`input "Entities" is missing: connect a JSON array of keywords, e.g. ["dragon","cave"]`)
	}
	var list []any
	switch x := v.(type) {
	case []any:
		list = x
	case string:
		if err := json.Unmarshal([]byte(x), &list); err != nil {
			shown := x
			if len(shown) > 80 {
				shown = shown[:80] + "…"
			}
			return nil, fmt.Errorf(`input "Entities": want a JSON array of keywords, got %s`, strconv.Quote(shown))
		}
	default:
		return nil, fmt.Errorf(`input "Entities": want a JSON array of keywords, got %T`, v)
	}
	words := make([]string, 0, len(list))
	for _, e := range list {
		words = append(words, text(e))
	}
	return words, nil
}
