package nodes

import (
	"context"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Input", newInput) }

// defaultInputName is Magick's fallback entry Input.
const defaultInputName = "Input - Default"

func newInput(*Services) *graph.NodeType {
	t := &graph.NodeType{
		DefaultName: fixedName(defaultInputName),
		Name:        "Input",
		Aliases:     []string{"Universal Input", "Module Input"},
		Family:      "io",
		Doc:         "Yields the run input with this node's name (or its default); when its trigger is connected, a run can start here.",
		Role:        graph.RoleInput,
		Outputs: []graph.Port{
			dataOut("output", "any", "the run input's value"),
			{Name: "trigger", Kind: graph.Trigger, Doc: "fires when the run starts at this input"},
			dataOut("text", "string", "Thoth's deprecated Input field (also named Input): the text saved in the node (config text)"),
		},
		Config: []graph.ConfigField{
			{Name: "name", Type: "string", Default: defaultInputName, Doc: "the run input this node reads"},
			keyField,
			{Name: "default", Type: "any", Doc: "value used when the run has no such input (also read from defaultValue)"},
			{Name: "required", Type: "bool", Doc: "a run must give this input: one that leaves it out is refused (invalid_inputs) before anything runs"},
			{Name: "text", Type: "string", Doc: "Thoth's deprecated Input field: the text its \"text\" output yields"},
			{Name: "type", Type: "string", Doc: "the value type callers that only see a schema are told (MCP tools): string, number, integer, boolean, object or array; unset, the default's type, else any"},
			{Name: "description", Type: "string", Doc: "what the input is for, as callers that only see a schema are told (MCP tools)"},
		},
	}
	t.New = func(n *graph.Node) (graph.Worker, error) {
		name := t.PortName(n)
		def, _ := configValue(n, "default", "defaultValue")
		field, hasField := n.Config["text"].(string)
		return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
			v, ok := a.RunInput(name)
			if !ok {
				v = def
			}
			out := graph.Outputs{"output": v}
			if hasField {
				out["text"] = field
			}
			return graph.Result{Outputs: out}, nil
		}), nil
	}
	return t
}
