package nodes

import (
	"context"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Respond", newRespond) }

// Respond (Magick io/Respond.ts) handed the first truthy of its inputs to
// the agent's response handler for the event's connector (Discord, REST…).
// In Grimoire the caller of the run is who gets the response, so Respond
// sets a run output: the first truthy input, "" when none is (Magick
// returned an empty string when nothing was connected). The event override is kept for
// Magick spells; the run's caller already knows which event it sent.
// Thoth's deprecated Module Output (deprecated/ModuleOutput.ts) did the same
// for a module's caller: the first truthy input, under its name; it gave
// undefined where Respond gives "".
func newRespond(*Services) *graph.NodeType {
	t := &graph.NodeType{
		DefaultName: fixedName("output"),
		Name:        "Respond",
		Aliases:     []string{"Module Output"},
		Family:      "io",
		Doc:         "Answers the run's caller: sets the run output with this node's name (default output) to the first truthy input.",
		Role:        graph.RoleOutput,
		Inputs: []graph.Port{
			triggerIn,
			dataIn("input", "any", "the response; with several connections, the first truthy value"),
			dataIn("event", "event", "Magick's event override (kept, not used: the response goes to the run's caller)"),
		},
		Outputs: []graph.Port{triggerOut},
		Config: []graph.ConfigField{
			{Name: "name", Type: "string", Default: "output", Doc: "the run output this node sets"},
			keyField,
		},
	}
	t.New = func(n *graph.Node) (graph.Worker, error) {
		name := t.PortName(n)
		return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
			resp := any("")
			for _, v := range a.Inputs["input"] {
				if truthy(v) {
					resp = v
					break
				}
			}
			a.SetRunOutput(name, resp)
			return graph.Result{}, nil
		}), nil
	}
	return t
}
