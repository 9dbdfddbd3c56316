package nodes

import (
	"context"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Compose Object", newComposeObject) }

// Compose Object follows Magick's nodes/object/ComposeObject.ts: the
// node's own data inputs (the sockets the user added) become the keys of
// one object, each with its first value. Unconnected inputs are left out.
func newComposeObject(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:         "Compose Object",
		Family:       "object",
		DynamicPorts: true,
		Doc:          "Builds an object from the node's declared inputs: {input name: value} (as in Magick).",
		Inputs:       []graph.Port{triggerIn},
		Outputs:      []graph.Port{triggerOut, dataOut("output", "object", "the object, keyed by input name")},
		New: func(*graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				obj := map[string]any{}
				for _, d := range a.Node.Inputs {
					if d.Kind != graph.Data {
						continue
					}
					if v, ok := a.Input(d.Key); ok {
						obj[portName(d)] = v
					}
				}
				return graph.Result{Outputs: graph.Outputs{"output": obj}}, nil
			}), nil
		},
	}
}
