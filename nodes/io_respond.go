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
func newRespond(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:   "Respond",
		Family: "io",
		Doc:    "Answers the run's caller: sets the run output with this node's name (default output) to the first truthy input.",
		Role:   graph.RoleOutput,
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
		New: func(n *graph.Node) (graph.Worker, error) {
			name := configString(n, "name")
			if name == "" {
				name = "output"
			}
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
		},
	}
}
