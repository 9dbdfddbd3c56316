package nodes

import (
	"context"
	"fmt"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("In Range", newInRange) }

// Thoth's InRange.ts (packages/core/src/components) and
// Magick's number/InRange.ts: input within [startNumber, endNumber],
// bounds inclusive.
func newInRange(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:   "In Range",
		Family: "number",
		Doc:    "Fires \"true\" when its input lies between the start and end numbers (inclusive), else \"false\".",
		Inputs: []graph.Port{
			dataIn("input", "number", "the number to test"),
			dataIn("startNumber", "number", "the lower bound; overrides config \"startNumber\""),
			dataIn("endNumber", "number", "the upper bound; overrides config \"endNumber\""),
			triggerIn,
		},
		Outputs: []graph.Port{
			{Name: "true", Kind: graph.Trigger, Doc: "fires when startNumber <= input <= endNumber"},
			{Name: "false", Kind: graph.Trigger, Doc: "fires otherwise"},
		},
		Config: []graph.ConfigField{
			{Name: "startNumber", Type: "number", Default: 10, Doc: "the lower bound when its input is not connected"},
			{Name: "endNumber", Type: "number", Default: 100, Doc: "the upper bound when its input is not connected"},
		},
		New: func(n *graph.Node) (graph.Worker, error) {
			for _, f := range []string{"startNumber", "endNumber"} {
				if _, _, err := configNumber(n, f); err != nil {
					return nil, fmt.Errorf("In Range: %w; write a number", err)
				}
			}
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				v, ok := a.Input("input")
				if !ok || v == nil {
					return graph.Result{}, fmt.Errorf("In Range: input \"input\" has no value; connect the number to test")
				}
				x, err := toNumber(v)
				if err != nil {
					return graph.Result{}, fmt.Errorf("In Range: input \"input\": %w; connect a number", err)
				}
				lo, err := numberOperand(a, "startNumber", 10)
				if err != nil {
					return graph.Result{}, fmt.Errorf("In Range: %w", err)
				}
				hi, err := numberOperand(a, "endNumber", 100)
				if err != nil {
					return graph.Result{}, fmt.Errorf("In Range: %w", err)
				}
				if lo > hi { // Magick swaps reversed bounds; Thoth did not
					lo, hi = hi, lo
				}
				if x >= lo && x <= hi {
					return graph.Result{Closed: []string{"false"}}, nil
				}
				return graph.Result{Closed: []string{"true"}}, nil
			}), nil
		},
	}
}
