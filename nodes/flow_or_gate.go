package nodes

import (
	"context"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Or Gate", newOrGate) }

// Magick's flow/OrGate.ts: two trigger inputs, one trigger output that
// fires each time either input fires.
func newOrGate(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:   "Or Gate",
		Family: "flow",
		Doc:    "Fires its trigger output whenever either trigger input fires.",
		Inputs: []graph.Port{
			{Name: "trigger1", Kind: graph.Trigger, Doc: "runs the node"},
			{Name: "trigger2", Kind: graph.Trigger, Doc: "runs the node"},
		},
		Outputs: []graph.Port{{Name: "trigger", Kind: graph.Trigger, Doc: "fires after either input fires"}},
		New: func(*graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(context.Context, *graph.Activation) (graph.Result, error) {
				return graph.Result{}, nil
			}), nil
		},
	}
}
