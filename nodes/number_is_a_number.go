package nodes

import (
	"context"
	"regexp"
	"strings"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Is A Number", newIsANumber) }

// Magick's number/IsANumber.ts: true when the input is not an object and
// Number.parseFloat reads a number from it, so a leading number counts
// ("12abc" is a number) and so does Infinity.
func newIsANumber(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:   "Is A Number",
		Family: "number",
		Doc:    "Fires \"true\" when its input reads as a number (JavaScript parseFloat: a leading number counts), else \"false\".",
		Inputs: []graph.Port{dataIn("input", "any", "the value to test; missing, objects and lists are not numbers"), triggerIn},
		Outputs: []graph.Port{
			{Name: "true", Kind: graph.Trigger, Doc: "fires when the input is a number"},
			{Name: "false", Kind: graph.Trigger, Doc: "fires otherwise"},
		},
		New: func(*graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				v, _ := a.Input("input")
				if parsesAsJSFloat(v) {
					return graph.Result{Closed: []string{"false"}}, nil
				}
				return graph.Result{Closed: []string{"true"}}, nil
			}), nil
		},
	}
}

// jsFloatPrefix is what Number.parseFloat accepts at the start of a string
// (after leading white space).
var jsFloatPrefix = regexp.MustCompile(`^[+-]?(Infinity|[0-9]+\.?[0-9]*|\.[0-9]+)`)

// parsesAsJSFloat reports whether !isNaN(Number.parseFloat(v)) for a value
// that is not an object (null and lists are objects in JavaScript).
func parsesAsJSFloat(v any) bool {
	switch x := v.(type) {
	case float64:
		return x == x
	case float32:
		return x == x
	case int, int64:
		return true
	case string:
		return jsFloatPrefix.MatchString(strings.TrimLeft(x, " \t\n\r\v\f\u00a0\ufeff"))
	}
	// nil (undefined or null), booleans ("true" parses as NaN), objects, lists.
	return false
}
