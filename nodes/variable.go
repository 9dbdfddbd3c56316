package nodes

import (
	"context"
	"fmt"

	"github.com/grimoire-run/grimoire/graph"
)

// variableType builds a data-only node that yields its configured value.
// Thoth keeps the value in data._var, Magick's Text Variable in
// data.fewshot; Grimoire's field is "value".
func variableType(name, alias, typ, doc string, convert func(any) (any, error)) *graph.NodeType {
	return &graph.NodeType{
		Name:    name,
		Aliases: []string{alias},
		Family:  "variable",
		Doc:     doc,
		Outputs: []graph.Port{dataOut("output", typ, "the value")},
		Config: []graph.ConfigField{
			{Name: "value", Type: typ, Required: false, Doc: "the value (Thoth: _var; Magick's Text Variable: fewshot)"},
			{Name: "name", Type: "string", Doc: "a label for the variable"},
		},
		New: func(n *graph.Node) (graph.Worker, error) {
			raw, _ := configValue(n, "value", "_var", "fewshot")
			v, err := convert(raw)
			if err != nil {
				return nil, fmt.Errorf("config \"value\": %w", err)
			}
			out := graph.Outputs{"output": v}
			return graph.WorkerFunc(func(context.Context, *graph.Activation) (graph.Result, error) {
				return graph.Result{Outputs: out}, nil
			}), nil
		},
	}
}

func asString(v any) (any, error) { return text(v), nil }
