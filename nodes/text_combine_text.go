package nodes

import (
	"context"
	"strings"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Combine Text", newCombineText) }

// Combine Text follows Magick's nodes/text/CombineText.ts: the values of the
// user's input sockets, in the order the node declares them, joined with
// data.delimiter.
func newCombineText(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:         "Combine Text",
		Family:       "text",
		Doc:          "Concatenates its declared inputs, in order, with a delimiter between them.",
		Inputs:       []graph.Port{triggerIn},
		Outputs:      []graph.Port{triggerOut, dataOut("output", "string", "the combined text")},
		DynamicPorts: true,
		Config: []graph.ConfigField{
			{Name: "delimiter", Type: "string", Doc: "put between inputs; absent means none"},
		},
		New: func(n *graph.Node) (graph.Worker, error) {
			// Magick appends data.delimiter as JavaScript writes it, so an
			// unset delimiter put the word "undefined" between inputs, and
			// an input without a value added "undefined": Grimoire writes
			// nothing for either.
			delim := ""
			if v, ok := n.Config["delimiter"]; ok && v != nil {
				delim = text(v)
			}
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				var parts []string
				for _, d := range a.Node.Inputs {
					if d.Kind != graph.Data || d.Key == "trigger" {
						continue
					}
					v, _ := a.Input(d.Key)
					parts = append(parts, text(v))
				}
				return graph.Result{Outputs: graph.Outputs{"output": strings.Join(parts, delim)}}, nil
			}), nil
		},
	}
}
