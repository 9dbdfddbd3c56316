package nodes

import (
	"context"
	"errors"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Error", newErrorNode) }

// Error follows Magick's nodes/utility/Error.ts: when triggered it throws an
// error with its "string" input as the message, so the run fails there;
// its outputs never fire.
func newErrorNode(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:    "Error",
		Family:  "utility",
		Doc:     "Fails the run with its input as the error message.",
		Inputs:  []graph.Port{triggerIn, dataIn("string", "string", "the message (default \"Error in Error node.  Oops.\")")},
		Outputs: []graph.Port{triggerOut, dataOut("output", "string", "never set: the node always fails")},
		New: func(*graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				v, ok := a.Input("string")
				if !ok || v == nil { // JavaScript's `input ?? default`
					return graph.Result{}, errors.New("Error in Error node.  Oops.")
				}
				return graph.Result{}, errors.New(text(v))
			}), nil
		},
	}
}
