package nodes

import (
	"context"
	"strings"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Exclusive Gate", newExclusiveGate) }

// Exclusive Gate follows Magick's description ("outputs only the first one
// that gets triggered"): its declared trigger inputs race, and only the
// first activation in a run fires "trigger"; later ones are closed. Like
// Magick, each trigger input "X trigger" is paired with the declared data
// input whose name contains "X", and "output" carries that value.
// (Magick's own worker passes every trigger through and relies on its
// engine's runOneInput; Grimoire makes "first wins" explicit per run.)
func newExclusiveGate(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:         "Exclusive Gate",
		Family:       "flow",
		Doc:          "Passes only the first of its trigger inputs to fire in a run, with the data input paired to it.",
		Outputs:      []graph.Port{triggerOut, dataOut("output", "any", "the data paired with the trigger that won")},
		DynamicPorts: true,
		New: func(n *graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				if _, done := a.State["passed"]; done {
					return graph.Result{Closed: []string{"trigger"}}, nil
				}
				a.State["passed"] = a.Trigger
				return graph.Result{Outputs: graph.Outputs{"output": pairedValue(a)}}, nil
			}), nil
		},
	}
}

// pairedValue finds the data input paired with the trigger that fired.
func pairedValue(a *graph.Activation) any {
	filter := ""
	for _, d := range a.Node.Inputs {
		if d.Key == a.Trigger {
			filter = strings.TrimSpace(strings.ReplaceAll(portName(d), "trigger", ""))
		}
	}
	if filter == "" {
		filter = strings.TrimSpace(strings.ReplaceAll(a.Trigger, "trigger", ""))
	}
	for _, d := range a.Node.Inputs {
		if d.Kind != graph.Data || !strings.Contains(portName(d), filter) {
			continue
		}
		if v, ok := a.Input(d.Key); ok {
			return v
		}
	}
	return nil
}
