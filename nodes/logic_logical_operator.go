package nodes

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Logical Operator", newLogicalOperator) }

// logicalOperations are Magick's boolean/LogicalOperator.ts operations,
// as its dropdown lists them. Each tests input1 against input2 with
// JavaScript's semantics (=== and !== are strict; > and < compare text
// with text by code units and anything else as numbers). The original
// tested "less greater than" instead of "less than", so its "less than"
// never held; here "less than" is input1 < input2.
var logicalOperations = map[string]func(x, y any) bool{
	"equal":        jsStrictEqual,
	"not equal":    func(x, y any) bool { return !jsStrictEqual(x, y) },
	"greater than": func(x, y any) bool { return jsLess(y, x) },
	"less than":    jsLess,
}

func newLogicalOperator(*Services) *graph.NodeType {
	var ops []string
	for op := range logicalOperations {
		ops = append(ops, fmt.Sprintf("%q", op))
	}
	sort.Strings(ops)
	return &graph.NodeType{
		Name:   "Logical Operator",
		Family: "logic",
		Doc:    "Compares input1 with input2 (equal, not equal, greater than, less than) and fires \"true\" or \"false\".",
		Inputs: []graph.Port{
			triggerIn,
			dataIn("input1", "string", "the left operand"),
			dataIn("input2", "string", "the right operand"),
		},
		Outputs: []graph.Port{
			{Name: "true", Kind: graph.Trigger, Doc: "fires when the comparison holds"},
			{Name: "false", Kind: graph.Trigger, Doc: "fires otherwise"},
			dataOut("error", "string", "always empty: comparisons cannot fail here (the original reported a thrown error's message)"),
		},
		Config: []graph.ConfigField{
			{Name: "operationType", Type: "string", Default: "equal", Doc: "one of " + strings.Join(ops, ", ") + " (case and surrounding spaces ignored)"},
		},
		New: func(n *graph.Node) (graph.Worker, error) {
			// The original fell back to "includes", which matched nothing, when
			// the field was empty; an empty field here is the dropdown's
			// default, "equal".
			name := strings.ToLower(strings.TrimSpace(configString(n, "operationType")))
			if name == "" {
				name = "equal"
			}
			op, ok := logicalOperations[name]
			if !ok {
				return nil, fmt.Errorf("Logical Operator: config \"operationType\" is %q; use one of %s", name, strings.Join(ops, ", "))
			}
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				x, _ := a.Input("input1")
				y, _ := a.Input("input2")
				closed := []string{"true"}
				if op(x, y) {
					closed = []string{"false"}
				}
				return graph.Result{Outputs: graph.Outputs{"error": ""}, Closed: closed}, nil
			}), nil
		},
	}
}

// jsStrictEqual is JavaScript's === on decoded JSON values: same kind and
// same value; objects and lists are never equal (they would be two
// distinct objects).
func jsStrictEqual(x, y any) bool {
	switch a := x.(type) {
	case nil:
		return y == nil
	case string:
		b, ok := y.(string)
		return ok && a == b
	case bool:
		b, ok := y.(bool)
		return ok && a == b
	case float64:
		b, ok := y.(float64)
		return ok && a == b
	}
	return false
}

// jsLess is JavaScript's x < y: text against text compares code units
// (byte order equals code-point order for valid UTF-8, close enough for
// the editors' text); otherwise both sides become numbers, and NaN (or a
// missing side, which is undefined) makes it false.
func jsLess(x, y any) bool {
	if a, ok := x.(string); ok {
		if b, ok := y.(string); ok {
			return a < b
		}
	}
	a, ok := jsToNumber(x)
	if !ok {
		return false
	}
	b, ok := jsToNumber(y)
	return ok && a < b
}

// jsToNumber is JavaScript's Number(v); ok is false where that is NaN.
func jsToNumber(v any) (float64, bool) {
	switch x := v.(type) {
	case nil: // undefined; Number(null) would be 0, but JSON cannot tell them apart
		return 0, false
	case map[string]any:
		return 0, false
	case []any:
		if len(x) == 0 {
			return 0, true
		}
		if len(x) == 1 {
			return jsToNumber(text(x[0]))
		}
		return 0, false
	}
	f, err := toNumber(v)
	return f, err == nil && f == f
}
