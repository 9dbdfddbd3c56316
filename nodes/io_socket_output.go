package nodes

import (
	"context"
	"errors"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Socket Output", newSocketOutput) }

// Socket Output (Magick io/SocketOutput.ts) passes a value out of a spell
// used as a sub-spell, under its name: the first truthy of its inputs
// (undefined, so no output, when none is). Magick threw "No input provided
// to output component" when nothing was connected to its input; so does
// this node. The editor names it "output-<node id>" when it is created.
func newSocketOutput(*Services) *graph.NodeType {
	t := &graph.NodeType{
		DefaultName: func(n *graph.Node) string { return "output-" + n.ID },
		Name:        "Socket Output",
		Family:      "io",
		Doc:         "A sub-spell's extra output: sets the output with its name to the first truthy input.",
		Role:        graph.RoleOutput,
		Inputs: []graph.Port{
			triggerIn,
			dataIn("input", "any", "the value to pass out; with several connections, the first truthy one"),
		},
		Outputs: []graph.Port{triggerOut},
		Config: []graph.ConfigField{
			{Name: "name", Type: "string", Doc: "the output's name (the editor's default: output-<node id>)"},
			keyField,
		},
	}
	t.New = func(n *graph.Node) (graph.Worker, error) {
		name := t.PortName(n)
		return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
			vs, ok := a.Inputs["input"]
			if !ok || len(vs) == 0 {
				return graph.Result{}, errors.New("no input provided to output component: connect its input")
			}
			for _, v := range vs {
				if truthy(v) {
					a.SetRunOutput(name, v)
					break
				}
			}
			return graph.Result{}, nil
		}), nil
	}
	return t
}
