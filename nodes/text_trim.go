package nodes

import (
	"context"
	"fmt"
	"strings"
	"unicode"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Trim", newTrim) }

// Trim follows Magick's nodes/text/Trim.ts: String.prototype.trim over the
// "string" input.
func newTrim(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:    "Trim",
		Family:  "text",
		Doc:     "Removes whitespace from the beginning and end of a string (JavaScript trim, as in Magick).",
		Inputs:  []graph.Port{triggerIn, dataIn("string", "string", "the text to trim (required)")},
		Outputs: []graph.Port{triggerOut, dataOut("output", "string", "the trimmed text")},
		New: func(*graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				s, err := requiredTextInput(a, "string")
				if err != nil {
					return graph.Result{}, err
				}
				return graph.Result{Outputs: graph.Outputs{"output": trimJS(s)}}, nil
			}), nil
		},
	}
}

// trimJS is JavaScript's String.prototype.trim: Unicode white space, line
// terminators and the byte order mark.
func trimJS(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return unicode.IsSpace(r) || r == '\uFEFF' })
}

// requiredTextInput reads a data input the original node dereferences
// unconditionally (where JavaScript throws a TypeError on a missing value):
// a missing value is an error naming the port; a non-string is taken as
// text.
func requiredTextInput(a *graph.Activation, port string) (string, error) {
	v, ok := a.Input(port)
	if !ok || v == nil {
		return "", fmt.Errorf("%s: input %q has no value; connect a node that outputs text to it", a.Type.Name, port)
	}
	return text(v), nil
}
