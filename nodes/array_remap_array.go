package nodes

import (
	"context"
	"fmt"
	"strings"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Remap Array", newRemapArray) }

// Remap Array follows Magick's nodes/array/RemapArray.ts: data.values is a
// comma list of keys (each trimmed); every element keeps only those of its
// keys. A non-object element becomes {}; a missing or non-array input
// gives [].
func newRemapArray(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:    "Remap Array",
		Family:  "array",
		Doc:     "Keeps only the listed keys of every object in an array (as in Magick).",
		Inputs:  []graph.Port{triggerIn, dataIn("input", "array", "the array of objects; missing or not an array gives []")},
		Outputs: []graph.Port{triggerOut, dataOut("output", "array", "the objects with only the listed keys")},
		Config: []graph.ConfigField{
			{Name: "values", Type: "string", Doc: "comma-separated keys to keep, e.g. \"name, age\"; required: a run without it fails, as in Magick"},
		},
		New: func(n *graph.Node) (graph.Worker, error) {
			raw, hasValues := n.Config["values"]
			var keys []string
			if hasValues && raw != nil {
				for _, k := range strings.Split(text(raw), ",") {
					keys = append(keys, trimJS(k))
				}
			}
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				if !hasValues || raw == nil {
					// Magick calls values.split(",") on undefined, which throws.
					return graph.Result{}, fmt.Errorf("%s: config %q is missing; set the comma-separated keys to keep", a.Type.Name, "values")
				}
				v, _ := a.Input("input")
				list, _ := v.([]any)
				out := make([]any, len(list))
				for i, e := range list {
					m, _ := e.(map[string]any)
					kept := map[string]any{}
					for _, k := range keys {
						if x, ok := m[k]; ok {
							kept[k] = x
						}
					}
					out[i] = kept
				}
				return graph.Result{Outputs: graph.Outputs{"output": out}}, nil
			}), nil
		},
	}
}
