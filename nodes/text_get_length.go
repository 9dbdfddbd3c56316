package nodes

import (
	"context"
	"fmt"
	"unicode/utf16"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Get Length", newGetLength) }

// Get Length follows Magick's nodes/text/GetLength.ts: the JavaScript
// `length` of the "string" input, so UTF-16 code units for a string (an
// emoji counts 2) and the element count for an array.
func newGetLength(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:    "Get Length",
		Family:  "text",
		Doc:     "Outputs the length of its input: UTF-16 code units of a string (as JavaScript counts), or elements of an array.",
		Inputs:  []graph.Port{triggerIn, dataIn("string", "string", "the string (or array) to measure (required)")},
		Outputs: []graph.Port{triggerOut, dataOut("output", "number", "the length")},
		New: func(*graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				v, ok := a.Input("string")
				switch x := v.(type) {
				case string:
					return graph.Result{Outputs: graph.Outputs{"output": float64(len(utf16.Encode([]rune(x))))}}, nil
				case []any:
					return graph.Result{Outputs: graph.Outputs{"output": float64(len(x))}}, nil
				case nil:
					if !ok {
						return graph.Result{}, fmt.Errorf("Get Length: input %q has no value; connect a node that outputs text", "string")
					}
				}
				return graph.Result{}, fmt.Errorf("Get Length: input %q is a %T; it measures a string or an array", "string", v)
			}), nil
		},
	}
}
