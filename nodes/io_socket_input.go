package nodes

import (
	"context"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Socket Input", newSocketInput) }

// Socket Input (Magick io/SocketInput.ts) is an extra input of a spell used
// as a sub-spell: it yields the value the caller passed under its name,
// else its fewshot text (Magick's "default value for testing"). The editor
// names it "input-<node id>" when it is created, so saved spells carry the
// name; a node saved without one reads that name too.
func newSocketInput(*Services) *graph.NodeType {
	t := &graph.NodeType{
		DefaultName: func(n *graph.Node) string { return "input-" + n.ID },
		Name:        "Socket Input",
		Family:      "io",
		Doc:         "A sub-spell's extra input: the value passed under its name, else its fewshot text.",
		Role:        graph.RoleInput,
		Outputs:     []graph.Port{dataOut("output", "any", "the value passed in, else the fewshot text")},
		Config: []graph.ConfigField{
			{Name: "name", Type: "string", Doc: "the input's name (the editor's default: input-<node id>)"},
			keyField,
			{Name: "fewshot", Type: "string", Doc: "the value when none is passed"},
		},
	}
	t.New = func(n *graph.Node) (graph.Worker, error) {
		name := t.PortName(n)
		fewshot, _ := n.Config["fewshot"].(string)
		return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
			if v, ok := a.RunInput(name); ok && truthy(v) {
				return graph.Result{Outputs: graph.Outputs{"output": v}}, nil
			}
			return graph.Result{Outputs: graph.Outputs{"output": fewshot}}, nil
		}), nil
	}
	return t
}
