package nodes

import (
	"context"
	"fmt"
	"strings"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Array Variable", newArrayVariable) }

// Array Variable follows Magick's nodes/array/ArrayVariable.ts: data._var
// split by data.splitter, empty strings dropped unless data.keepEmpty.
func newArrayVariable(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:    "Array Variable",
		Family:  "array",
		Doc:     "Yields a fixed array: its text split by a separator (as in Magick).",
		Outputs: []graph.Port{dataOut("output", "array", "the array of strings")},
		Config: []graph.ConfigField{
			{Name: "_var", Type: "string", Doc: "the text to split (required; \"\" gives [])"},
			{Name: "splitter", Type: "string", Doc: "the separator; absent keeps the whole text as one element, \"\" splits into characters"},
			{Name: "keepEmpty", Type: "boolean", Default: false, Doc: "keep empty strings (true or \"true\"); otherwise they are dropped"},
			nameField,
		},
		New: func(n *graph.Node) (graph.Worker, error) {
			raw, ok := n.Config["_var"]
			if !ok || raw == nil {
				return nil, fmt.Errorf("Array Variable: config %q is missing; set the text to split", "_var")
			}
			s := text(raw)
			keep := n.Config["keepEmpty"] == true || n.Config["keepEmpty"] == "true"
			var parts []string
			if sep, ok := n.Config["splitter"]; !ok || sep == nil {
				parts = []string{s} // "abc".split(undefined) is ["abc"]
			} else if sepText := text(sep); sepText == "" {
				parts = strings.Split(s, "") // characters
			} else {
				parts = strings.Split(s, sepText)
			}
			list := []any{}
			for _, p := range parts {
				if p != "" || keep {
					list = append(list, p)
				}
			}
			return graph.WorkerFunc(func(context.Context, *graph.Activation) (graph.Result, error) {
				// A fresh slice each run, so no run sees another's changes.
				return graph.Result{Outputs: graph.Outputs{"output": append([]any{}, list...)}}, nil
			}), nil
		},
	}
}
