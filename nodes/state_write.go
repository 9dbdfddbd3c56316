package nodes

import (
	"context"
	"fmt"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("State Write", newStateWrite) }

// State Write writes each of its declared data inputs to the spell state
// key of the input's name, with Thoth's rule (AtlasFoundation/Thoth and
// Oneirocom/Magick packages/core/src/components/state/StateWrite.ts): a key
// holding an array gets the value appended, a key holding an object gets
// the value's fields merged in, any other key is overwritten. Grimoire
// applies that rule when the write lands in the log (graph.StateWrite), so
// two runs appending to one array both keep their element. An input
// without a value writes nothing (Thoth would store undefined, which JSON
// drops). It then fires "trigger".
func newStateWrite(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:             "State Write",
		Family:           "state",
		Doc:              "Writes each input to the spell state key of its name (arrays get appended to, objects merged, other values replaced).",
		Inputs:           []graph.Port{triggerIn},
		Outputs:          []graph.Port{triggerOut},
		DynamicPorts:     true,
		Nondeterministic: true,
		New: func(n *graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(ctx context.Context, a *graph.Activation) (graph.Result, error) {
				var ops []graph.StateOp
				seen := map[string]bool{}
				for _, d := range a.Node.Inputs {
					if d.Kind != graph.Data {
						continue
					}
					v, ok := a.Input(d.Key)
					if !ok {
						continue
					}
					key := portName(d)
					seen[d.Key] = true
					ops = append(ops, graph.StateOp{Op: graph.StateWrite, Key: key, Value: v})
				}
				// Inputs that only appear in connections (implicit ports).
				for port, vs := range a.Inputs {
					if seen[port] || len(vs) == 0 {
						continue
					}
					ops = append(ops, graph.StateOp{Op: graph.StateWrite, Key: port, Value: vs[0]})
				}
				if err := a.WriteSpellState(ctx, ops...); err != nil {
					return graph.Result{}, fmt.Errorf("write the spell state: %w", err)
				}
				return graph.Result{}, nil
			}), nil
		},
	}
}
