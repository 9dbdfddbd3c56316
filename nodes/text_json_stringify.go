package nodes

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("JSON Stringify", newJSONStringify) }

func newJSONStringify(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:    "JSON Stringify",
		Aliases: []string{"Stringify JSON"},
		Family:  "text",
		Doc:     "Writes a value as JSON text.",
		Inputs:  []graph.Port{dataIn("input", "any", "the value to write"), triggerIn},
		Outputs: []graph.Port{dataOut("output", "string", "JSON text"), triggerOut},
		Config:  []graph.ConfigField{{Name: "indent", Type: "boolean", Default: false, Doc: "indent the JSON with two spaces"}},
		New: func(n *graph.Node) (graph.Worker, error) {
			indent, _ := n.Config["indent"].(bool)
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				v, _ := a.Input("input")
				var b []byte
				var err error
				if indent {
					b, err = json.MarshalIndent(v, "", "  ")
				} else {
					b, err = json.Marshal(v)
				}
				if err != nil {
					return graph.Result{}, fmt.Errorf("input cannot be written as JSON: %w", err)
				}
				return graph.Result{Outputs: graph.Outputs{"output": string(b)}}, nil
			}), nil
		},
	}
}
