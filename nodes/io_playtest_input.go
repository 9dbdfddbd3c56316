package nodes

import (
	"context"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Playtest Input", newPlaytestInput) }

// Playtest Input (Thoth deprecated/PlaytestInput.ts) started a spell with the
// text typed into Thoth's playtest window and put that text on its "text"
// output. Grimoire has no playtest window: what the editor sends is the
// run's input, so the node yields the run input with its name (default
// "Playtest Input") and a run can start at its trigger, as at an Input.
func newPlaytestInput(*Services) *graph.NodeType {
	t := &graph.NodeType{
		DefaultName: fixedName("Playtest Input"),
		Name:        "Playtest Input",
		Family:      "io",
		Doc:         "Thoth's playtest text: yields the run input with this node's name (default \"Playtest Input\"); a run can start here.",
		Role:        graph.RoleInput,
		Outputs: []graph.Port{
			dataOut("text", "string", "the playtest text (the run input)"),
			{Name: "trigger", Kind: graph.Trigger, Doc: "fires when the run starts here"},
		},
		Config: []graph.ConfigField{
			{Name: "name", Type: "string", Default: "Playtest Input", Doc: "the run input this node reads"},
		},
	}
	t.New = func(n *graph.Node) (graph.Worker, error) {
		name := t.PortName(n)
		return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
			v, _ := a.RunInput(name)
			return graph.Result{Outputs: graph.Outputs{"text": v}}, nil
		}), nil
	}
	return t
}
