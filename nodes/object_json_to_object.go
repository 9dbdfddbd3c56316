package nodes

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/grimoire-run/grimoire/graph"
)

func init() {
	Register("JSON To Object", func(*Services) *graph.NodeType {
		return jsonToValueType("JSON To Object", "object", "Magick's nodes/object/JSONToObject.ts")
	})
}

// jsonToValueType builds JSON To Object and JSON To Array (Magick's
// JSONToObject.ts / JSONToArray.ts): a string input is parsed as JSON
// (JSON.parse throws on bad JSON); anything else (an array, object, null,
// number, boolean) passes through unchanged.
func jsonToValueType(name, family, source string) *graph.NodeType {
	return &graph.NodeType{
		Name:    name,
		Family:  family,
		Doc:     "Parses JSON text into a value; a value that is not text passes through (as in " + source + ").",
		Inputs:  []graph.Port{triggerIn, dataIn("input", "any", "JSON text, or a value already parsed (required)")},
		Outputs: []graph.Port{triggerOut, dataOut("output", family, "the parsed value")},
		New: func(*graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				v, ok := a.Input("input")
				if !ok {
					return graph.Result{}, fmt.Errorf("%s: input %q has no value; connect a node that outputs JSON text", a.Type.Name, "input")
				}
				s, isText := v.(string)
				if !isText {
					return graph.Result{Outputs: graph.Outputs{"output": v}}, nil
				}
				var parsed any
				if err := json.Unmarshal([]byte(s), &parsed); err != nil {
					return graph.Result{}, fmt.Errorf("%s: input %q is not valid JSON (%v); fix the text or connect an already parsed value", a.Type.Name, "input", err)
				}
				return graph.Result{Outputs: graph.Outputs{"output": parsed}}, nil
			}), nil
		},
	}
}
