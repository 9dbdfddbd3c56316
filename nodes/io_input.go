package nodes

import (
	"context"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Input", newInput) }

// defaultInputName is Magick's fallback entry Input.
const defaultInputName = "Input - Default"

func newInput(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:    "Input",
		Aliases: []string{"Universal Input"},
		Family:  "io",
		Doc:     "Yields the run input with this node's name (or its default); when its trigger is connected, a run can start here.",
		Role:    graph.RoleInput,
		Outputs: []graph.Port{
			dataOut("output", "any", "the run input's value"),
			{Name: "trigger", Kind: graph.Trigger, Doc: "fires when the run starts at this input"},
		},
		Config: []graph.ConfigField{
			{Name: "name", Type: "string", Default: defaultInputName, Doc: "the run input this node reads"},
			keyField,
			{Name: "default", Type: "any", Doc: "value used when the run has no such input (also read from defaultValue)"},
		},
		New: func(n *graph.Node) (graph.Worker, error) {
			name := configString(n, "name")
			if name == "" {
				name = defaultInputName
			}
			def, _ := configValue(n, "default", "defaultValue")
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				v, ok := a.RunInput(name)
				if !ok {
					v = def
				}
				return graph.Result{Outputs: graph.Outputs{"output": v}}, nil
			}), nil
		},
	}
}
