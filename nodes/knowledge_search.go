package nodes

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/services"
)

func init() { Register("Search Knowledge", newSearchKnowledge) }

const defaultSearchLimit = 4

// Search Knowledge finds the documents of a knowledge base nearest to a
// query (text, embedded here, or a vector), best first, with scores.
func newSearchKnowledge(svcs *Services) *graph.NodeType {
	return &graph.NodeType{
		Name:    "Search Knowledge",
		Aliases: []string{"Get Documents"},
		Family:  "knowledge",
		// The knowledge base changes between runs.
		Nondeterministic: true,
		Doc:              "Searches a knowledge base by meaning: the top documents with scores, optionally filtered by metadata.",
		Inputs: []graph.Port{
			triggerIn,
			dataIn("query", "string", "the text to search for (embedded, and used for hybrid keyword search)"),
			dataIn("embedding", "embedding", "a query vector (instead of embedding query)"),
			dataIn("filter", "object", "metadata that every hit must have, e.g. {\"lang\": \"en\"}"),
		},
		Outputs: []graph.Port{
			triggerOut,
			dataOut("documents", "array", "the hits, best first: [{id, text, score, metadata}]"),
			dataOut("best", "string", "the best hit's text (empty when nothing matched)"),
			dataOut("bestScore", "number", "the best hit's score (0 when nothing matched)"),
			dataOut("context", "string", "the hits' texts, best first, separated by blank lines (for prompts)"),
		},
		Config: []graph.ConfigField{
			{Name: "knowledgeBase", Type: "string", Default: defaultKnowledgeBase, Doc: "the knowledge base to search"},
			{Name: "limit", Type: "number", Default: defaultSearchLimit, Doc: "top-k: most hits (also topK, max_count)"},
			{Name: "minScore", Type: "number", Doc: "drop hits scoring below this (cosine similarity for vector search)"},
			{Name: "alpha", Type: "number", Default: 1, Doc: "1: vector search only; below 1 mixes in keyword search on query (hybrid); 0: keywords only"},
			{Name: "filter", Type: "object", Doc: "metadata filter, merged under the filter input"},
			{Name: "type", Type: "string", Doc: "Magick's document type: adds {\"type\": …} to the filter"},
		},
		New: func(n *graph.Node) (graph.Worker, error) {
			w := &searchWorker{svcs: svcs, kb: configString(n, "knowledgeBase", "kb"), limit: defaultSearchLimit, alpha: 1}
			if w.kb == "" {
				w.kb = defaultKnowledgeBase
			}
			if v, ok, err := configNumber(n, "limit", "topK", "top_k", "max_count", "maxCount"); err != nil {
				return nil, err
			} else if ok {
				if v < 1 {
					return nil, fmt.Errorf("config \"limit\" is %v; it must be at least 1", v)
				}
				w.limit = int(v)
			}
			if v, ok, err := configNumber(n, "minScore"); err != nil {
				return nil, err
			} else if ok {
				f := float32(v)
				w.minScore = &f
			}
			if v, ok, err := configNumber(n, "alpha"); err != nil {
				return nil, err
			} else if ok {
				if v < 0 || v > 1 {
					return nil, fmt.Errorf("config \"alpha\" is %v; it must be between 0 and 1", v)
				}
				w.alpha = float32(v)
			}
			if f, ok := n.Config["filter"].(map[string]any); ok {
				w.filter = f
			}
			if t := strings.ToLower(strings.TrimSpace(configString(n, "type"))); t != "" {
				w.typ = t
			}
			return w, nil
		},
	}
}

// SearchKnowledge finds the k documents of user's knowledge base kb
// nearest in meaning to query, best first, as a Search Knowledge node of
// user's run does with its defaults (vector search, no filter). kb ""
// is the default knowledge base; one nothing was stored in yet is empty.
// It is what agents call through the server's search_knowledge tool.
func (s *Services) SearchKnowledge(ctx context.Context, user, kb, query string, k int) ([]services.SearchHit, error) {
	if s.Vectors == nil {
		return nil, errNoVectors
	}
	if strings.TrimSpace(query) == "" {
		return nil, errors.New("nothing to search for: the query is empty")
	}
	if k < 1 {
		return nil, fmt.Errorf("k is %d; it must be at least 1", k)
	}
	if kb == "" {
		kb = defaultKnowledgeBase
	}
	vec, err := embedOne(ctx, s, query)
	if err != nil {
		return nil, err
	}
	hits, err := s.Vectors.Search(ctx, kb, tenantOf(user), services.SearchQuery{Vector: vec, Limit: k})
	if errors.Is(err, services.ErrNotFound) {
		return []services.SearchHit{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("search knowledge base %q: %w", kb, err)
	}
	return hits, nil
}

type searchWorker struct {
	svcs     *Services
	kb, typ  string
	limit    int
	minScore *float32
	alpha    float32
	filter   map[string]any
}

func (w *searchWorker) Work(ctx context.Context, a *graph.Activation) (graph.Result, error) {
	if w.svcs.Vectors == nil {
		return graph.Result{}, errNoVectors
	}
	q := services.SearchQuery{Limit: w.limit, Filter: map[string]any{}}
	for k, v := range w.filter {
		q.Filter[k] = v
	}
	if w.typ != "" {
		q.Filter["type"] = w.typ
	}
	if v, ok := a.Input("filter"); ok && v != nil {
		m, ok := v.(map[string]any)
		if !ok {
			return graph.Result{}, fmt.Errorf(`input "filter": want an object, got %T`, v)
		}
		for k, e := range m {
			q.Filter[k] = e
		}
	}
	if len(q.Filter) == 0 {
		q.Filter = nil
	}
	query := ""
	if v, ok := firstInput(a, "query", "input", "content"); ok {
		query = text(v)
	}
	if v, ok := a.Input("embedding"); ok && v != nil {
		vec, err := toVector(v)
		if err != nil {
			return graph.Result{}, fmt.Errorf(`input "embedding": %w`, err)
		}
		q.Vector = vec
	}
	if len(q.Vector) == 0 && query != "" && w.alpha > 0 {
		vec, err := embedOne(ctx, w.svcs, query)
		if err != nil {
			return graph.Result{}, err
		}
		q.Vector = vec
	}
	if w.alpha < 1 {
		if query == "" {
			return graph.Result{}, errors.New(`hybrid search (alpha below 1) needs a "query" text`)
		}
		q.Text, q.Alpha = query, w.alpha
	}
	if len(q.Vector) == 0 && q.Text == "" {
		return graph.Result{}, errors.New(`nothing to search for: connect "query" or "embedding"`)
	}
	hits, err := w.svcs.Vectors.Search(ctx, w.kb, tenant(a), q)
	if errors.Is(err, services.ErrNotFound) {
		hits, err = nil, nil // a knowledge base nothing was stored in yet is empty
	}
	if err != nil {
		return graph.Result{}, fmt.Errorf("search knowledge base %q: %w", w.kb, err)
	}
	docs := make([]any, 0, len(hits))
	var texts []string
	best, bestScore := "", 0.0
	for _, h := range hits {
		if w.minScore != nil && h.Score < *w.minScore {
			continue
		}
		d := map[string]any{"id": h.ID, "text": h.Text, "score": float64(h.Score)}
		if len(h.Metadata) > 0 {
			d["metadata"] = h.Metadata
		}
		if len(docs) == 0 {
			best, bestScore = h.Text, float64(h.Score)
		}
		docs = append(docs, d)
		texts = append(texts, h.Text)
	}
	return graph.Result{Outputs: graph.Outputs{
		"documents": docs, "best": best, "bestScore": bestScore, "context": strings.Join(texts, "\n\n"),
	}}, nil
}
