package nodes

import (
	"context"
	"errors"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Extract Relationship", newExtractRelationship) }

// Extract Relationship (Magick embedding/ExtractRelationship.ts) computes a
// relationship embedding by vector subtraction: combined − (embedding1 +
// embedding2), element by element. Inputs given as text are parsed (Magick
// JSON.parse'd them; Magick's "0.1,0.2" form is read too). Vectors of
// different lengths are refused with Magick's message.
func newExtractRelationship(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:   "Extract Relationship",
		Family: "knowledge",
		Doc:    "The relationship embedding: combinedEmbedding − (embedding1 + embedding2).",
		Inputs: []graph.Port{
			triggerIn,
			dataIn("embedding1", "embedding", "the first item's embedding"),
			dataIn("embedding2", "embedding", "the second item's embedding"),
			dataIn("combinedEmbedding", "embedding", "the embedding of both together"),
		},
		Outputs: []graph.Port{triggerOut, dataOut("embedding", "embedding", "the relationship's embedding")},
		New: func(*graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				vecs := make([][]float32, 3)
				for i, port := range []string{"combinedEmbedding", "embedding1", "embedding2"} {
					v, err := cosineInput(a, port)
					if err != nil {
						return graph.Result{}, err
					}
					vecs[i] = v
				}
				combined, e1, e2 := vecs[0], vecs[1], vecs[2]
				if len(combined) != len(e1) || len(combined) != len(e2) {
					return graph.Result{}, errors.New("embeddings must have the same dimensions")
				}
				out := make([]float32, len(combined))
				for i := range combined {
					out[i] = combined[i] - (e1[i] + e2[i])
				}
				return graph.Result{Outputs: graph.Outputs{"embedding": out}}, nil
			}), nil
		},
	}
}
