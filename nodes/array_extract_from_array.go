package nodes

import (
	"context"
	"fmt"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Extract From Array", newExtractFromArray) }

// Extract From Array follows Magick's nodes/array/ExtractFromArray.ts:
// input.map(o => o[value]) with data.value trimmed. A missing or non-array
// input gives []; an element that is not an object, or lacks the key, gives
// null (undefined in JavaScript, null once written as JSON).
func newExtractFromArray(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:    "Extract From Array",
		Family:  "array",
		Doc:     "Takes one field from every object of an array (input.map(o => o[value]), as in Magick).",
		Inputs:  []graph.Port{triggerIn, dataIn("input", "array", "the array of objects; missing or not an array gives []")},
		Outputs: []graph.Port{triggerOut, dataOut("output", "array", "the field's value of each element (null where absent)")},
		Config: []graph.ConfigField{
			{Name: "value", Type: "string", Doc: "the field to take from each element (trimmed); required: a run without it fails, as in Magick"},
		},
		New: func(n *graph.Node) (graph.Worker, error) {
			raw, hasValue := n.Config["value"]
			key := ""
			if hasValue && raw != nil {
				key = trimJS(text(raw))
			}
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				if !hasValue || raw == nil {
					// Magick calls value.trim() on undefined, which throws.
					return graph.Result{}, fmt.Errorf("%s: config %q is missing; set the field to extract", a.Type.Name, "value")
				}
				v, _ := a.Input("input")
				list, _ := v.([]any)
				out := make([]any, len(list))
				for i, e := range list {
					if m, ok := e.(map[string]any); ok {
						out[i] = m[key]
					}
				}
				return graph.Result{Outputs: graph.Outputs{"output": out}}, nil
			}), nil
		},
	}
}
