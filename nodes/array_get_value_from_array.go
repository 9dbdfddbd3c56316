package nodes

import (
	"context"
	"fmt"
	"strconv"
	"unicode/utf16"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Get Value From Array", newGetValueFromArray) }

// Get Value From Array follows Magick's nodes/array/GetValueFromArray.ts:
// array[index], a JavaScript property lookup, with the index from
// data.element, else data.indexControl, else 0. Newer Magick names the
// input "array", older Magick "input"; both are read. A lookup that finds
// nothing (undefined) leaves the output out.
func newGetValueFromArray(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:   "Get Value From Array",
		Family: "array",
		Doc:    "Takes the element at an index of an array (a JavaScript lookup: array[index], as in Magick).",
		Inputs: []graph.Port{
			triggerIn,
			dataIn("array", "array", "the array (or object, or string) to look in (required)"),
			dataIn("input", "array", "older Magick's name for array, read when array has no value"),
		},
		Outputs: []graph.Port{triggerOut, dataOut("output", "any", "the element; left out when there is none at that index")},
		Config: []graph.ConfigField{
			{Name: "element", Type: "number", Doc: "the index (a number or a string such as \"1\")"},
			{Name: "indexControl", Type: "number", Default: 0, Doc: "the index when element is absent; absent too means 0"},
		},
		New: func(n *graph.Node) (graph.Worker, error) {
			key := "0"
			for _, f := range []string{"element", "indexControl"} {
				if v, ok := n.Config[f]; ok && v != nil && v != "" {
					key = text(v) // String(index): 1 and "1" are the same key
					break
				}
			}
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				v, ok := a.Input("array")
				if !ok || v == nil {
					v, ok = a.Input("input")
				}
				if !ok || v == nil {
					return graph.Result{}, fmt.Errorf("%s: input %q has no value; connect a node that outputs an array", a.Type.Name, "array")
				}
				if x, found := lookupPropertyJS(v, key); found {
					return graph.Result{Outputs: graph.Outputs{"output": x}}, nil
				}
				return graph.Result{Outputs: graph.Outputs{}}, nil
			}), nil
		},
	}
}

// lookupPropertyJS is v[key] for a JSON value: an array or a string by a
// canonical index ("1", never "01" or "-1"), an object by key.
func lookupPropertyJS(v any, key string) (any, bool) {
	switch x := v.(type) {
	case map[string]any:
		e, ok := x[key]
		return e, ok
	case []any:
		if i, ok := arrayIndexJS(key, len(x)); ok {
			return x[i], true
		}
	case string:
		units := utf16.Encode([]rune(x)) // JavaScript strings index UTF-16 units
		if i, ok := arrayIndexJS(key, len(units)); ok {
			return string(utf16.Decode(units[i : i+1])), true
		}
	}
	return nil, false
}

// arrayIndexJS parses key as a canonical array index below n.
func arrayIndexJS(key string, n int) (int, bool) {
	i, err := strconv.Atoi(key)
	if err != nil || i < 0 || i >= n || strconv.Itoa(i) != key {
		return 0, false
	}
	return i, true
}
