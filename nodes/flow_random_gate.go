package nodes

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Random Gate", newRandomGate) }

// Magick's flow/RandomGate.ts: the user declares trigger outputs and a
// random one fires. The original picks one but then closes every output
// (nothing fires), a bug; here exactly the chosen one fires.
func newRandomGate(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:             "Random Gate",
		Family:           "flow",
		Doc:              "Fires exactly one of its declared trigger outputs, chosen uniformly at random.",
		Inputs:           []graph.Port{triggerIn},
		DynamicPorts:     true,
		Nondeterministic: true,
		New: func(n *graph.Node) (graph.Worker, error) {
			var choices []string
			for _, d := range n.Outputs {
				if d.Kind == graph.Trigger {
					choices = append(choices, d.Key)
				}
			}
			if len(choices) == 0 {
				return nil, fmt.Errorf("Random Gate %q declares no trigger outputs; add at least one output to choose from", n.ID)
			}
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				return graph.Result{Closed: closeAllBut(a, choices[rand.IntN(len(choices))])}, nil
			}), nil
		},
	}
}
