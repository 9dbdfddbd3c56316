package nodes

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/grimoire-run/grimoire/graph"
)

func init() {
	Register("Create Text Embedding", newCreateTextEmbedding)
	Register("Find Text Embedding", newFindTextEmbedding)
}

// errNoEmbedder is what embedding nodes fail with when the runtime wired
// no embedder (the embedded default is always there in `grimoire serve`).
var errNoEmbedder = errors.New("no embedder configured: the runtime sets the embedded default (services/localembed) unless GRIMOIRE_OPENAI_BASE_URL names an embeddings endpoint")

// errNoVectors is errNoEmbedder for the vector store.
var errNoVectors = errors.New("no vector store configured: the runtime sets the embedded default (services/vectorindex) unless GRIMOIRE_WEAVIATE_URL is set")

func newCreateTextEmbedding(svcs *Services) *graph.NodeType {
	return &graph.NodeType{
		Name: "Create Text Embedding",
		// Magick's older "Create Embedding" (content in, embedding out) is
		// the same node: its index.ts registers createEmbedding as it.
		Aliases: []string{"Create Embedding"},
		Family:  "knowledge",
		Doc:     "Embeds a text with the embedding service.",
		Inputs:  []graph.Port{triggerIn, dataIn("input", "string", "the text to embed (also content)")},
		Outputs: []graph.Port{
			triggerOut,
			dataOut("embedding", "embedding", "the text's vector"),
			dataOut("result", "embedding", "the same vector (Magick's name for it)"),
		},
		Config: []graph.ConfigField{{Name: "model", Type: "string", Doc: "kept for Magick spells; the embeddings endpoint's model is used"}},
		New: func(n *graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(ctx context.Context, a *graph.Activation) (graph.Result, error) {
				txt, ok := firstInput(a, "input", "content", "text")
				if !ok || text(txt) == "" {
					return graph.Result{}, errors.New(`input "input" is empty: connect the text to embed`)
				}
				v, err := embedOne(ctx, svcs, text(txt))
				if err != nil {
					return graph.Result{}, err
				}
				return graph.Result{Outputs: graph.Outputs{"embedding": v, "result": v}}, nil
			}), nil
		},
	}
}

// Find Text Embedding (Magick) looked up a cached embedding of an exact
// string; here it embeds the string, which gives the same vector every
// time, and opens success (or failure for an empty input).
func newFindTextEmbedding(svcs *Services) *graph.NodeType {
	return &graph.NodeType{
		Name: "Find Text Embedding",
		// Magick's "Get Cached Embedding" is the same node (index.ts
		// registers getCachedEmbedding as FindTextEmbedding).
		Aliases: []string{"Get Cached Embedding"},
		Family:  "knowledge",
		Doc:     "Embeds a text; fires success with the vector, or failure when there is no text.",
		Inputs:  []graph.Port{triggerIn, dataIn("content", "string", "the text")},
		Outputs: []graph.Port{
			{Name: "success", Kind: graph.Trigger, Doc: "fires with an embedding"},
			{Name: "failure", Kind: graph.Trigger, Doc: "fires when the content is empty"},
			dataOut("embedding", "embedding", "the text's vector"),
		},
		New: func(n *graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(ctx context.Context, a *graph.Activation) (graph.Result, error) {
				txt, _ := firstInput(a, "content", "input")
				if text(txt) == "" {
					return graph.Result{Outputs: graph.Outputs{"embedding": nil}, Closed: []string{"success"}}, nil
				}
				v, err := embedOne(ctx, svcs, text(txt))
				if err != nil {
					return graph.Result{}, err
				}
				return graph.Result{Outputs: graph.Outputs{"embedding": v}, Closed: []string{"failure"}}, nil
			}), nil
		},
	}
}

func firstInput(a *graph.Activation, ports ...string) (any, bool) {
	for _, p := range ports {
		if v, ok := a.Input(p); ok {
			return v, true
		}
	}
	return nil, false
}

func embedOne(ctx context.Context, svcs *Services, s string) ([]float32, error) {
	if svcs.Embedder == nil {
		return nil, errNoEmbedder
	}
	vs, err := svcs.Embedder.Embed(ctx, []string{s})
	if err != nil {
		return nil, fmt.Errorf("embed: %w", err)
	}
	if len(vs) != 1 {
		return nil, fmt.Errorf("embed: the embedder returned %d vectors for 1 text", len(vs))
	}
	return vs[0], nil
}

// toVector reads an embedding however it arrives: []float32 from another
// node, []any after a JSON round trip, or Magick's "0.1,0.2" string.
func toVector(v any) ([]float32, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case []float32:
		return x, nil
	case []float64:
		out := make([]float32, len(x))
		for i, f := range x {
			out[i] = float32(f)
		}
		return out, nil
	case []any:
		out := make([]float32, len(x))
		for i, e := range x {
			f, err := toNumber(e)
			if err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
			out[i] = float32(f)
		}
		return out, nil
	case string:
		s := strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(x), "["), "]"))
		if s == "" {
			return nil, nil
		}
		parts := strings.Split(s, ",")
		out := make([]float32, len(parts))
		for i, p := range parts {
			f, err := strconv.ParseFloat(strings.TrimSpace(p), 32)
			if err != nil {
				return nil, fmt.Errorf("element %d: %q is not a number", i, p)
			}
			out[i] = float32(f)
		}
		return out, nil
	}
	return nil, fmt.Errorf("want an embedding (a list of numbers), got %T", v)
}

// tenant is the vector store tenant and memory owner of a run: its user.
func tenant(a *graph.Activation) string { return tenantOf(a.User()) }

// tenantOf is the knowledge-base tenant of a user: each user's documents
// are kept apart; runs with no user (the CLI) share "anonymous".
func tenantOf(user string) string {
	if user != "" {
		return user
	}
	return "anonymous"
}
