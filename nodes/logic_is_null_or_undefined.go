package nodes

import (
	"context"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Is Null Or Undefined", newIsNullOrUndefined) }

// Magick's flow/IsNullOrUndefined.ts: null, a missing input, empty text
// and an empty list count as nothing. The original reads .length of the
// value, so a number never counts; here a number is simply not nothing.
func newIsNullOrUndefined(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:   "Is Null Or Undefined",
		Family: "logic",
		Doc:    "Fires \"true\" when its input is missing, null, empty text or an empty list, else \"false\".",
		Inputs: []graph.Port{dataIn("input", "any", "the value to test"), triggerIn},
		Outputs: []graph.Port{
			{Name: "true", Kind: graph.Trigger, Doc: "fires when the input is missing, null, \"\" or []"},
			{Name: "false", Kind: graph.Trigger, Doc: "fires otherwise"},
		},
		New: func(*graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				v, _ := a.Input("input")
				empty := false
				switch x := v.(type) {
				case nil:
					empty = true
				case string:
					empty = x == ""
				case []any:
					empty = len(x) == 0
				}
				if empty {
					return graph.Result{Closed: []string{"false"}}, nil
				}
				return graph.Result{Closed: []string{"true"}}, nil
			}), nil
		},
	}
}
