package nodes

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Array To JSON", newArrayToJSON) }

// Array To JSON follows Magick's nodes/array/ArrayToJSON.ts:
// JSON.stringify of the "input" input. A missing input stays undefined
// (JSON.stringify(undefined) is undefined), so the output is left out.
func newArrayToJSON(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:    "Array To JSON",
		Family:  "array",
		Doc:     "Writes an array (or any value) as JSON text (JSON.stringify, as in Magick).",
		Inputs:  []graph.Port{triggerIn, dataIn("input", "array", "the array to write")},
		Outputs: []graph.Port{triggerOut, dataOut("output", "string", "the JSON text; left out when input has no value")},
		New: func(*graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				return stringifyInputJS(a, "input")
			}), nil
		},
	}
}

// stringifyInputJS is JSON.stringify of one input into "output": compact,
// "<", ">" and "&" kept as they are. Object keys come out sorted (Go maps
// keep no insertion order, which JavaScript would follow).
func stringifyInputJS(a *graph.Activation, port string) (graph.Result, error) {
	v, ok := a.Input(port)
	if !ok {
		return graph.Result{Outputs: graph.Outputs{}}, nil
	}
	s, err := jsonStringifyCompactJS(v)
	if err != nil {
		return graph.Result{}, fmt.Errorf("%s: input %q cannot be written as JSON: %w", a.Type.Name, port, err)
	}
	return graph.Result{Outputs: graph.Outputs{"output": s}}, nil
}

func jsonStringifyCompactJS(v any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}
