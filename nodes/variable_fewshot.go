package nodes

import (
	"context"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Fewshot Variable", newFewshotVariable) }

// Fewshot Variable follows Magick's nodes (Fewshot Variable, category
// Variable): a data-only node whose "output" is data.fewshot as written.
// Magick's "Public" flag (a value the agent overrides) is kept but not used.
func newFewshotVariable(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:    "Fewshot Variable",
		Family:  "variable",
		Doc:     "A fixed multi-line prompt text (a fewshot), evaluated when a node pulls it.",
		Outputs: []graph.Port{dataOut("output", "string", "the fewshot text")},
		Config: []graph.ConfigField{
			{Name: "fewshot", Type: "string", Doc: "the text; absent means \"\""},
			{Name: "name", Type: "string", Doc: "a label for the variable"},
		},
		New: func(n *graph.Node) (graph.Worker, error) {
			out := graph.Outputs{"output": text(n.Config["fewshot"])}
			return graph.WorkerFunc(func(context.Context, *graph.Activation) (graph.Result, error) {
				return graph.Result{Outputs: out}, nil
			}), nil
		},
	}
}
