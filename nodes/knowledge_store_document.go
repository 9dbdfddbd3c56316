package nodes

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/services"
)

func init() { Register("Store Document", newStoreDocument) }

const (
	defaultKnowledgeBase = "default"
	defaultChunkSize     = 1000
	defaultChunkOverlap  = 100
)

// Store Document splits a text into chunks, embeds them and upserts them
// into a knowledge base of the vector store, under the run's user.
func newStoreDocument(svcs *Services) *graph.NodeType {
	return &graph.NodeType{
		Name:   "Store Document",
		Family: "knowledge",
		// It writes to the knowledge base: a cached output must not stand in
		// for the write.
		Nondeterministic: true,
		Doc:              "Chunks a document, embeds the chunks and stores them in a knowledge base.",
		Inputs: []graph.Port{
			triggerIn,
			dataIn("content", "string", "the document's text, or a list of texts (one document each)"),
			dataIn("embedding", "embedding", "a vector to store with a single-chunk document instead of embedding it"),
			dataIn("metadata", "object", "metadata stored with every chunk (searchable with filters)"),
			dataIn("id", "string", "the document's id (default: a hash of its text); chunks are id#0, id#1, …"),
		},
		Outputs: []graph.Port{
			triggerOut,
			dataOut("ids", "array", "ids of the stored chunks"),
			dataOut("chunks", "number", "how many chunks were stored"),
		},
		Config: []graph.ConfigField{
			{Name: "knowledgeBase", Type: "string", Default: defaultKnowledgeBase, Doc: "the knowledge base (collection) to store into"},
			{Name: "type", Type: "string", Doc: "Magick's document type, stored as metadata \"type\""},
			{Name: "chunkSize", Type: "number", Default: defaultChunkSize, Doc: "largest chunk, in characters (0: never split)"},
			{Name: "chunkOverlap", Type: "number", Default: defaultChunkOverlap, Doc: "characters repeated between neighbouring chunks"},
		},
		New: func(n *graph.Node) (graph.Worker, error) {
			w := &storeDocWorker{svcs: svcs, kb: configString(n, "knowledgeBase", "kb"), typ: strings.ToLower(strings.TrimSpace(configString(n, "type"))), size: defaultChunkSize, overlap: defaultChunkOverlap}
			if w.kb == "" {
				w.kb = defaultKnowledgeBase
			}
			if v, ok, err := configNumber(n, "chunkSize"); err != nil {
				return nil, err
			} else if ok {
				w.size = int(v)
			}
			if v, ok, err := configNumber(n, "chunkOverlap"); err != nil {
				return nil, err
			} else if ok {
				w.overlap = int(v)
			}
			if w.size > 0 && (w.overlap < 0 || w.overlap >= w.size) {
				return nil, fmt.Errorf("config \"chunkOverlap\" is %d; it must be at least 0 and less than chunkSize (%d)", w.overlap, w.size)
			}
			return w, nil
		},
	}
}

type storeDocWorker struct {
	svcs          *Services
	kb, typ       string
	size, overlap int
}

func (w *storeDocWorker) Work(ctx context.Context, a *graph.Activation) (graph.Result, error) {
	if w.svcs.Vectors == nil {
		return graph.Result{}, errNoVectors
	}
	raw, _ := firstInput(a, "content", "input", "text")
	var texts []string
	switch x := raw.(type) {
	case []any:
		for _, e := range x {
			if s := text(e); strings.TrimSpace(s) != "" {
				texts = append(texts, s)
			}
		}
	default:
		if s := text(x); strings.TrimSpace(s) != "" {
			texts = append(texts, s)
		}
	}
	if len(texts) == 0 {
		return graph.Result{}, errors.New(`input "content" is empty: connect the document's text`)
	}
	meta := map[string]any{}
	if v, ok := a.Input("metadata"); ok && v != nil {
		m, ok := v.(map[string]any)
		if !ok {
			return graph.Result{}, fmt.Errorf(`input "metadata": want an object, got %T`, v)
		}
		for k, e := range m {
			meta[k] = e
		}
	}
	if w.typ != "" {
		meta["type"] = w.typ
	}
	idIn, _ := a.Input("id")
	var docs []services.Document
	for i, t := range texts {
		base := text(idIn)
		if base == "" {
			sum := sha256.Sum256([]byte(t))
			base = hex.EncodeToString(sum[:12])
		} else if len(texts) > 1 {
			base = fmt.Sprintf("%s/%d", base, i)
		}
		for j, c := range chunkText(t, w.size, w.overlap) {
			m := make(map[string]any, len(meta)+2)
			for k, v := range meta {
				m[k] = v
			}
			m["document"] = base
			m["chunk"] = j
			docs = append(docs, services.Document{ID: fmt.Sprintf("%s#%d", base, j), Text: c, Metadata: m})
		}
	}
	if v, ok := a.Input("embedding"); ok && v != nil {
		vec, err := toVector(v)
		if err != nil {
			return graph.Result{}, fmt.Errorf(`input "embedding": %w`, err)
		}
		if len(docs) != 1 {
			return graph.Result{}, fmt.Errorf(`input "embedding" is one vector but the content makes %d chunks: disconnect it or raise chunkSize`, len(docs))
		}
		docs[0].Vector = vec
	} else {
		if w.svcs.Embedder == nil {
			return graph.Result{}, errNoEmbedder
		}
		chunks := make([]string, len(docs))
		for i, d := range docs {
			chunks[i] = d.Text
		}
		vecs, err := w.svcs.Embedder.Embed(ctx, chunks)
		if err != nil {
			return graph.Result{}, fmt.Errorf("embed %d chunks: %w", len(chunks), err)
		}
		if len(vecs) != len(docs) {
			return graph.Result{}, fmt.Errorf("embed: the embedder returned %d vectors for %d chunks", len(vecs), len(docs))
		}
		for i := range docs {
			docs[i].Vector = vecs[i]
		}
	}
	if err := w.svcs.Vectors.Upsert(ctx, w.kb, tenant(a), docs); err != nil {
		return graph.Result{}, fmt.Errorf("store %d chunks in knowledge base %q: %w", len(docs), w.kb, err)
	}
	ids := make([]any, len(docs))
	for i, d := range docs {
		ids[i] = d.ID
	}
	return graph.Result{Outputs: graph.Outputs{"ids": ids, "chunks": float64(len(docs))}}, nil
}

// chunkText splits s into pieces of at most size characters (runes),
// breaking at whitespace where it can (a word longer than size is cut),
// each piece repeating up to overlap characters of whole words of the one
// before. size <= 0 keeps s whole.
func chunkText(s string, size, overlap int) []string {
	s = strings.TrimSpace(s)
	r := []rune(s)
	if size <= 0 || len(r) <= size {
		return []string{s}
	}
	var out []string
	start := 0
	for start < len(r) {
		for start < len(r) && unicode.IsSpace(r[start]) {
			start++
		}
		if start == len(r) {
			break
		}
		end := min(start+size, len(r))
		if end < len(r) {
			for k := end; k > start; k-- {
				if unicode.IsSpace(r[k]) {
					end = k
					break
				}
			}
		}
		if chunk := strings.TrimSpace(string(r[start:end])); chunk != "" {
			out = append(out, chunk)
		}
		if end >= len(r) {
			break
		}
		// The next chunk starts overlap characters back, at the first word
		// that begins there; with no such word, where this one ended.
		next := end
		for k := max(end-overlap, start+1); k < end; k++ {
			if unicode.IsSpace(r[k-1]) && !unicode.IsSpace(r[k]) {
				next = k
				break
			}
		}
		start = next
	}
	return out
}
