package nodes

import (
	"context"
	"fmt"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Array to String", newArrayToString) }

// Array to String follows Magick's nodes/array/ArrayToString.ts:
// array.join("\n") over the "array" input, which throws when the input is
// not an array.
func newArrayToString(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:    "Array to String",
		Family:  "array",
		Doc:     "Joins the elements of an array into one string, one per line (Array.join(\"\\n\"), as in Magick).",
		Inputs:  []graph.Port{triggerIn, dataIn("array", "array", "the array to join (required)")},
		Outputs: []graph.Port{triggerOut, dataOut("output", "string", "the elements, joined with newlines")},
		New: func(*graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				v, ok := a.Input("array")
				if !ok || v == nil {
					return graph.Result{}, fmt.Errorf("%s: input %q has no value; connect a node that outputs an array", a.Type.Name, "array")
				}
				list, isList := v.([]any)
				if !isList {
					return graph.Result{}, fmt.Errorf("%s: input %q is a %T, not an array; parse it first (JSON To Array) or connect an array", a.Type.Name, "array", v)
				}
				return graph.Result{Outputs: graph.Outputs{"output": joinListJS(list, "\n")}}, nil
			}), nil
		},
	}
}
