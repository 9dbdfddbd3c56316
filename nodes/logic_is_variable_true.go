package nodes

import (
	"context"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Is Variable True", newIsVariableTrue) }

// Magick's boolean/IsVariableTrue.ts: not JavaScript truthiness; only the
// text "true", the boolean true and the number 1 count as true.
func newIsVariableTrue(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:   "Is Variable True",
		Family: "logic",
		Doc:    "Fires \"true\" when its input is the text \"true\", the boolean true or the number 1, else \"false\".",
		Inputs: []graph.Port{dataIn("input", "any", "the value to test; missing fires \"false\""), triggerIn},
		Outputs: []graph.Port{
			{Name: "true", Kind: graph.Trigger, Doc: "fires when the input is \"true\", true or 1"},
			{Name: "false", Kind: graph.Trigger, Doc: "fires otherwise"},
		},
		New: func(*graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				v, _ := a.Input("input")
				is := false
				switch x := v.(type) {
				case string:
					is = x == "true"
				case bool:
					is = x
				case float64:
					is = x == 1
				case int:
					is = x == 1
				case int64:
					is = x == 1
				}
				if is {
					return graph.Result{Closed: []string{"false"}}, nil
				}
				return graph.Result{Closed: []string{"true"}}, nil
			}), nil
		},
	}
}
