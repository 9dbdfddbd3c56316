package nodes

import (
	"context"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Playtest Print", newPlaytestPrint) }

// Playtest Print (Thoth deprecated/PlaytestPrint.ts) sent the first truthy of
// its text inputs to Thoth's playtest window and fired its trigger; with no
// truthy text it sent nothing. In Grimoire what the editor shows is the
// run's outputs, so the node sets the run output with its name (default
// "output") to that text, and sets nothing when there is none.
func newPlaytestPrint(*Services) *graph.NodeType {
	t := &graph.NodeType{
		DefaultName: fixedName("output"),
		Name:        "Playtest Print",
		Family:      "io",
		Doc:         "Thoth's playtest print: sets the run output with this node's name (default output) to the first truthy text.",
		Role:        graph.RoleOutput,
		Inputs: []graph.Port{
			dataIn("text", "any", "what to print; with several connections, the first truthy value"),
			triggerIn,
		},
		Outputs: []graph.Port{triggerOut},
		Config: []graph.ConfigField{
			{Name: "name", Type: "string", Default: "output", Doc: "the run output this node sets"},
		},
	}
	t.New = func(n *graph.Node) (graph.Worker, error) {
		name := t.PortName(n)
		return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
			for _, v := range a.Inputs["text"] {
				if truthy(v) {
					a.SetRunOutput(name, v)
					break
				}
			}
			return graph.Result{}, nil
		}), nil
	}
	return t
}
