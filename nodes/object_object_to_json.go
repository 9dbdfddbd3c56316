package nodes

import (
	"context"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Object To JSON", newObjectToJSON) }

// Object To JSON follows Magick's nodes/object/ObjectToJSON.ts:
// JSON.stringify of the "input" input (see stringifyInputJS).
func newObjectToJSON(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:    "Object To JSON",
		Family:  "object",
		Doc:     "Writes an object (or any value) as JSON text (JSON.stringify, as in Magick).",
		Inputs:  []graph.Port{triggerIn, dataIn("input", "object", "the object to write")},
		Outputs: []graph.Port{triggerOut, dataOut("output", "string", "the JSON text; left out when input has no value")},
		New: func(*graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				return stringifyInputJS(a, "input")
			}), nil
		},
	}
}
