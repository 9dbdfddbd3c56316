package nodes

import (
	"context"
	"fmt"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("State Read", newStateRead) }

// State Read yields keys of the spell's state (Thoth's and Magick's "game
// state", see graph.SpellState). Thoth's worker returns the whole game
// state and the engine hands each output socket the state key of its name
// (packages/core/src/components/StateRead.ts in latitudegames/thoth;
// Magick's packages/core/src/components/state/StateRead.ts is the same),
// so a key the state lacks leaves its output without a value. The run sees
// one snapshot of the state, with its own writes on top.
func newStateRead(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:   "State Read",
		Family: "state",
		Doc:    "Reads the spell's state: each output port yields the state key of its name.",
		Outputs: []graph.Port{
			dataOut("state", "object", "the whole state (Grimoire addition; Thoth has no such socket)"),
		},
		DynamicPorts: true,
		// The state changes between runs: never reuse a read.
		Nondeterministic: true,
		New: func(n *graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(ctx context.Context, a *graph.Activation) (graph.Result, error) {
				state, err := a.SpellState(ctx)
				if err != nil {
					return graph.Result{}, fmt.Errorf("read the spell state: %w", err)
				}
				out := graph.Outputs{"state": state}
				for _, d := range a.Node.Outputs {
					if d.Kind != graph.Data || d.Key == "state" {
						continue
					}
					if v, ok := state[portName(d)]; ok {
						out[d.Key] = v
					} else if v, ok := state[d.Key]; ok {
						out[d.Key] = v
					}
				}
				return graph.Result{Outputs: out}, nil
			}), nil
		},
	}
}
