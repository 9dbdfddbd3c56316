package nodes

import (
	"context"
	"fmt"
	"math"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Cosine Similarity", newCosineSimilarity) }

// Cosine Similarity (Magick embedding/CosineSimilarity.ts, which used the
// compute-cosine-similarity package): the dot product over the product of
// the norms. Like that package it refuses a missing vector or vectors of
// different lengths, and gives null for two empty vectors.
func newCosineSimilarity(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:   "Cosine Similarity",
		Family: "knowledge",
		Doc:    "The cosine similarity of two embeddings: 1 for the same direction, 0 for unrelated, -1 for opposite.",
		Inputs: []graph.Port{
			triggerIn,
			dataIn("embeddingA", "embedding", "the first vector (a list of numbers, or Magick's \"0.1,0.2\" string)"),
			dataIn("embeddingB", "embedding", "the second vector, as long as the first"),
		},
		Outputs: []graph.Port{triggerOut, dataOut("similarity", "number", "the similarity, from -1 to 1 (null for two empty vectors)")},
		New: func(n *graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				x, err := cosineInput(a, "embeddingA")
				if err != nil {
					return graph.Result{}, err
				}
				y, err := cosineInput(a, "embeddingB")
				if err != nil {
					return graph.Result{}, err
				}
				if len(x) != len(y) {
					return graph.Result{}, fmt.Errorf(`inputs "embeddingA" (%d numbers) and "embeddingB" (%d numbers) differ in length: compare embeddings made by the same model`, len(x), len(y))
				}
				if len(x) == 0 {
					return graph.Result{Outputs: graph.Outputs{"similarity": nil}}, nil
				}
				var dot, nx, ny float64
				for i := range x {
					dot += float64(x[i]) * float64(y[i])
					nx += float64(x[i]) * float64(x[i])
					ny += float64(y[i]) * float64(y[i])
				}
				if nx == 0 || ny == 0 {
					port := "embeddingA"
					if nx != 0 {
						port = "embeddingB"
					}
					return graph.Result{}, fmt.Errorf("input %q is all zeros: cosine similarity is undefined for it", port)
				}
				return graph.Result{Outputs: graph.Outputs{"similarity": dot / (math.Sqrt(nx) * math.Sqrt(ny))}}, nil
			}), nil
		},
	}
}

func cosineInput(a *graph.Activation, port string) ([]float32, error) {
	v, ok := a.Input(port)
	if !ok || v == nil {
		return nil, fmt.Errorf("input %q is missing: connect an embedding (Create Text Embedding's output)", port)
	}
	vec, err := toVector(v)
	if err != nil {
		return nil, fmt.Errorf("input %q: %w", port, err)
	}
	return vec, nil
}
