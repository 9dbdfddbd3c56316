package nodes

import (
	"context"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Boolean Gate", newBooleanGate) }

func newBooleanGate(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:   "Boolean Gate",
		Family: "flow",
		Doc:    "Fires \"true\" or \"false\" depending on its input (JavaScript truthiness, as in Thoth).",
		Inputs: []graph.Port{dataIn("boolean", "any", "the condition"), triggerIn},
		Outputs: []graph.Port{
			{Name: "true", Kind: graph.Trigger, Doc: "fires when the condition is truthy"},
			{Name: "false", Kind: graph.Trigger, Doc: "fires otherwise"},
		},
		New: func(*graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				v, _ := a.Input("boolean")
				if truthy(v) {
					return graph.Result{Closed: []string{"false"}}, nil
				}
				return graph.Result{Closed: []string{"true"}}, nil
			}), nil
		},
	}
}
