package nodes

import (
	"context"
	"fmt"

	"github.com/grimoire-run/grimoire/graph"
)

func init() {
	Register("Get Values From Object", func(*Services) *graph.NodeType {
		return objectValuesType("Get Values From Object", "object", "Magick's nodes/object/GetValuesFromObject.ts")
	})
}

// objectValuesType builds Get Values From Object and Destructure (Magick's
// GetValuesFromObject.ts / Destructure.ts): one output per declared data
// output of the node, each object[socket key]; a key the object lacks
// (undefined) leaves that output out. The original dereferences the object,
// so a missing or null object is an error.
func objectValuesType(name, family, source string) *graph.NodeType {
	return &graph.NodeType{
		Name:         name,
		Family:       family,
		DynamicPorts: true,
		Doc:          "Splits an object into the node's declared outputs, one per key (as in " + source + ").",
		Inputs:       []graph.Port{triggerIn, dataIn("object", "object", "the object to read (required)")},
		Outputs:      []graph.Port{triggerOut},
		New: func(*graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				v, ok := a.Input("object")
				if !ok || v == nil {
					return graph.Result{}, fmt.Errorf("%s: input %q has no value; connect a node that outputs an object", a.Type.Name, "object")
				}
				obj, isObj := v.(map[string]any)
				if !isObj {
					return graph.Result{}, fmt.Errorf("%s: input %q is a %T, not an object; connect an object (JSON To Object parses text)", a.Type.Name, "object", v)
				}
				out := graph.Outputs{}
				for _, d := range a.Node.Outputs {
					if d.Kind != graph.Data {
						continue
					}
					if x, found := obj[d.Key]; found {
						out[d.Key] = x
					}
				}
				return graph.Result{Outputs: out}, nil
			}), nil
		},
	}
}
