package nodes

import (
	"context"
	"fmt"
	"strings"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Inputs To JSON", newInputsToJSON) }

// Inputs To JSON follows Thoth's core/src/components/InputsToJSON.ts:
// JSON.stringify of {key.toLowerCase().trim(): first value} over the
// node's connected data inputs (Thoth's task hands the worker connected
// inputs only), keys in socket order; a later input whose key folds to the
// same name overwrites the value in place.
func newInputsToJSON(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:         "Inputs To JSON",
		Family:       "object",
		DynamicPorts: true,
		Doc:          "Writes the node's connected inputs as one JSON object text, keyed by lower-cased, trimmed input key (as in Thoth).",
		Inputs:       []graph.Port{triggerIn},
		Outputs:      []graph.Port{triggerOut, dataOut("output", "string", "the JSON text of {input key: value}")},
		New: func(*graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				var keys []string
				vals := map[string]any{}
				for _, d := range a.Node.Inputs {
					if d.Kind != graph.Data {
						continue
					}
					v, ok := a.Input(d.Key)
					if !ok {
						continue
					}
					k := trimJS(strings.ToLower(d.Key))
					if _, seen := vals[k]; !seen {
						keys = append(keys, k)
					}
					vals[k] = v
				}
				var b strings.Builder
				b.WriteByte('{')
				for i, k := range keys {
					if i > 0 {
						b.WriteByte(',')
					}
					ks, _ := jsonStringifyCompactJS(k)
					vs, err := jsonStringifyCompactJS(vals[k])
					if err != nil {
						return graph.Result{}, fmt.Errorf("%s: input %q cannot be written as JSON: %v", a.Type.Name, k, err)
					}
					b.WriteString(ks + ":" + vs)
				}
				b.WriteByte('}')
				return graph.Result{Outputs: graph.Outputs{"output": b.String()}}, nil
			}), nil
		},
	}
}
