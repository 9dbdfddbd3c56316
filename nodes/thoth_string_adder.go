package nodes

import (
	"context"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("String Adder", newStringAdder) }

// String Adder follows Thoth's core/src/components/StringAdder.ts:
// output = string + (newLineStarting ? "\n" : "") + newInput, with
// JavaScript's + on the two inputs.
func newStringAdder(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:   "String Adder",
		Family: "text",
		Doc:    "Appends the \"newInput\" string to the \"string\" input, with a newline between them when config newLineStarting is true (as in Thoth).",
		Inputs: []graph.Port{
			dataIn("string", "string", "the text to add to; a missing value reads \"undefined\", as in JavaScript"),
			dataIn("newInput", "string", "the text appended; a missing value reads \"undefined\", as in JavaScript"),
			triggerIn,
		},
		Outputs: []graph.Port{triggerOut, dataOut("output", "string", "string + (newline if newLineStarting) + newInput")},
		New: func(n *graph.Node) (graph.Worker, error) {
			nl := n.Config["newLineStarting"] == true || n.Config["newLineStarting"] == "true"
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				left, lok := a.Input("string")
				right, rok := a.Input("newInput")
				if !nl && !lok && !rok {
					// undefined + undefined is NaN in JavaScript.
					return graph.Result{Outputs: graph.Outputs{"output": "NaN"}}, nil
				}
				sep := ""
				if nl {
					sep = "\n"
				}
				return graph.Result{Outputs: graph.Outputs{"output": concatOperandJS(left, lok) + sep + concatOperandJS(right, rok)}}, nil
			}), nil
		},
	}
}

// concatOperandJS renders a value as JavaScript's string + does: a missing
// value is "undefined", null is "null".
func concatOperandJS(v any, ok bool) string {
	if !ok {
		return "undefined"
	}
	if v == nil {
		return "null"
	}
	return text(v)
}
