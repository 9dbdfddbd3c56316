package nodes

import (
	"context"
	"fmt"
	"strings"

	"github.com/grimoire-run/grimoire/graph"
)

// numberComparison is one of Magick's number comparison components
// (packages/core/shared/src/nodes/number/{Equal,GreaterThan,
// GreaterThanOrEqual,LessThan,LessThanOrEqual}.ts). They share ports,
// configuration and behaviour; only the test differs.
type numberComparison struct {
	name, doc string
	holds     func(cmp int) bool // cmp is -1, 0 or 1: input compared with value
}

var numberComparisons = []numberComparison{
	{"Equal", "equals", func(c int) bool { return c == 0 }},
	{"Greater Than", "is greater than", func(c int) bool { return c > 0 }},
	{"Greater Than Or Equal", "is greater than or equal to", func(c int) bool { return c >= 0 }},
	{"Less Than", "is less than", func(c int) bool { return c < 0 }},
	{"Less Than Or Equal", "is less than or equal to", func(c int) bool { return c <= 0 }},
}

func init() {
	for _, c := range numberComparisons {
		c := c
		Register(c.name, func(*Services) *graph.NodeType { return newNumberComparison(c) })
	}
}

func newNumberComparison(c numberComparison) *graph.NodeType {
	return &graph.NodeType{
		Name:   c.name,
		Family: "number",
		Doc:    fmt.Sprintf("Fires \"true\" when its input %s the value, else \"false\" (numbers compared numerically, other text as text).", c.doc),
		Inputs: []graph.Port{
			dataIn("input", "number", "the number to test; missing fires \"false\""),
			dataIn("value", "number", "the value to compare with; overrides config \"value\""),
			triggerIn,
		},
		Outputs: []graph.Port{
			{Name: "true", Kind: graph.Trigger, Doc: fmt.Sprintf("fires when the input %s the value", c.doc)},
			{Name: "false", Kind: graph.Trigger, Doc: "fires otherwise"},
		},
		Config: []graph.ConfigField{
			{Name: "value", Type: "number", Default: 0, Doc: "the value to compare with when the \"value\" input is not connected"},
		},
		New: func(n *graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				in, ok := a.Input("input")
				if !ok || in == nil {
					// undefined compared with anything is false in JavaScript.
					return graph.Result{Closed: []string{"true"}}, nil
				}
				// As the original: the socket's value wins, else data.value.
				value, ok := a.Input("value")
				if !ok || value == nil {
					value, ok = configValue(a.Node, "value")
					if !ok {
						value = 0.0
					}
				}
				cmp, comparable, err := compareNumberOrText(in, value)
				if err != nil {
					return graph.Result{}, fmt.Errorf("%s: %w", c.name, err)
				}
				if comparable && c.holds(cmp) {
					return graph.Result{Closed: []string{"false"}}, nil
				}
				return graph.Result{Closed: []string{"true"}}, nil
			}), nil
		},
	}
}

// compareNumberOrText compares x with y numerically when both read as
// numbers (the editor saves data.value as text such as "10", and
// JavaScript's relational operators coerce it), else as text. The
// original's Equal is JavaScript ===, which would call 5 and "5" unequal;
// here they are equal, because the editor's own value field is text.
// comparable is false when a side is NaN (every comparison with NaN is
// false in JavaScript).
func compareNumberOrText(x, y any) (cmp int, comparable bool, err error) {
	for i, v := range []any{x, y} {
		switch v.(type) {
		case map[string]any, []any:
			return 0, false, fmt.Errorf("%q is %s; connect a number or text", [2]string{"input", "value"}[i], numberValueKind(v))
		}
	}
	fx, errx := toNumber(x)
	fy, erry := toNumber(y)
	if errx == nil && erry == nil && !numberIsBlank(x) && !numberIsBlank(y) {
		if fx != fx || fy != fy {
			return 0, false, nil
		}
		switch {
		case fx < fy:
			return -1, true, nil
		case fx > fy:
			return 1, true, nil
		}
		return 0, true, nil
	}
	return strings.Compare(text(x), text(y)), true, nil
}

func numberIsBlank(v any) bool {
	s, ok := v.(string)
	return ok && strings.TrimSpace(s) == ""
}

// numberValueKind names a decoded JSON value's kind for error messages.
func numberValueKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case string:
		return "text"
	case bool:
		return "a boolean"
	case float64, float32, int, int64:
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}
