package nodes

import (
	"context"
	"strconv"
	"unicode/utf16"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Merge Objects", newMergeObjects) }

// Merge Objects follows Magick's nodes/object/MergeObjects.ts:
// {...object, ...inputs}: the "object" input's keys, then one key per other
// declared data input (by port name), the inputs winning.
func newMergeObjects(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:         "Merge Objects",
		Family:       "object",
		DynamicPorts: true,
		Doc:          "Adds the node's declared inputs, by name, to an object ({...object, ...inputs}, as in Magick).",
		Inputs:       []graph.Port{triggerIn, dataIn("object", "object", "the object to add to; missing means {}")},
		Outputs:      []graph.Port{triggerOut, dataOut("object", "object", "the merged object")},
		New: func(*graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				merged := map[string]any{}
				// A missing or null object spreads as {} ({...undefined} is {}),
				// as JavaScript's spread does; an array or a string spreads its
				// elements by index, a number or boolean adds nothing.
				if v, ok := a.Input("object"); ok {
					switch base := v.(type) {
					case map[string]any:
						for k, x := range base {
							merged[k] = x
						}
					case []any:
						for i, x := range base {
							merged[strconv.Itoa(i)] = x
						}
					case string:
						for i, u := range utf16.Encode([]rune(base)) {
							merged[strconv.Itoa(i)] = string(utf16.Decode([]uint16{u}))
						}
					}
				}
				for _, d := range a.Node.Inputs {
					if d.Kind != graph.Data || d.Key == "object" {
						continue
					}
					if v, ok := a.Input(d.Key); ok {
						merged[portName(d)] = v
					}
				}
				return graph.Result{Outputs: graph.Outputs{"object": merged}}, nil
			}), nil
		},
	}
}
