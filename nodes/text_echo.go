package nodes

import (
	"context"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Echo", newEcho) }

func newEcho(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:    "Echo",
		Family:  "text",
		Doc:     "Passes its string input through unchanged.",
		Inputs:  []graph.Port{dataIn("string", "any", "the value to pass on"), triggerIn},
		Outputs: []graph.Port{dataOut("output", "string", "the input, as text"), triggerOut},
		New: func(*graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				v, _ := a.Input("string")
				return graph.Result{Outputs: graph.Outputs{"output": text(v)}}, nil
			}), nil
		},
	}
}
