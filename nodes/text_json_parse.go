package nodes

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("JSON Parse", newJSONParse) }

func newJSONParse(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:    "JSON Parse",
		Aliases: []string{"Parse JSON"},
		Family:  "text",
		Doc:     "Parses JSON text into a value.",
		Inputs:  []graph.Port{dataIn("input", "any", "JSON text (a non-string value passes through)"), triggerIn},
		Outputs: []graph.Port{dataOut("output", "any", "the parsed value"), triggerOut},
		New: func(*graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				v, _ := a.Input("input")
				s, ok := v.(string)
				if !ok {
					return graph.Result{Outputs: graph.Outputs{"output": v}}, nil
				}
				var out any
				if err := json.Unmarshal([]byte(s), &out); err != nil {
					return graph.Result{}, fmt.Errorf("input is not valid JSON: %w", err)
				}
				return graph.Result{Outputs: graph.Outputs{"output": out}}, nil
			}), nil
		},
	}
}
