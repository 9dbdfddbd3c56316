package nodes

import (
	"context"
	"fmt"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("While Loop", newWhileLoop) }

// While Loop is Thoth's logic/WhileLoop.ts (Magick kept it, commented out).
// Its worker, read as written: on the first activation it builds the list
// 1…recursionTimes, but clones and runs its task only for the element 1;
// that clone fires "false" (labelled Loop) with element 1, and the first
// activation then fires "true" (labelled Done). So, whatever the count, a
// recursionTimes of 1 or more fires Loop once with element 1 and then
// Done; 0, a missing count or one that does not read as a number fires
// only Done. Grimoire runs the Loop branch to its end before Done fires.
// recursionTimes is read with parseInt, as Thoth did.
func newWhileLoop(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:   "While Loop",
		Family: "flow",
		Doc:    "Thoth's While Loop: with recursionTimes ≥ 1 fires \"false\" (Loop) once with element 1, then \"true\" (Done).",
		Inputs: []graph.Port{
			{Name: "act1", Kind: graph.Trigger, Doc: "starts the loop (Thoth's socket name)"},
			triggerIn,
		},
		Outputs: []graph.Port{
			{Name: "false", Kind: graph.Trigger, Doc: "Loop: fires once with element 1 when recursionTimes ≥ 1"},
			dataOut("element", "number", "the loop's element (1) while the Loop branch runs"),
			{Name: "true", Kind: graph.Trigger, Doc: "Done: fires after the Loop branch"},
		},
		Config: []graph.ConfigField{
			{Name: "recursionTimes", Type: "number", Doc: "Thoth's Recursion Times (read with parseInt)"},
		},
		FiresPerItem: true,
		New: func(n *graph.Node) (graph.Worker, error) {
			times := 0
			if v, ok := n.Config["recursionTimes"]; ok && v != nil {
				switch x := v.(type) {
				case string:
					times, _ = jsParseInt(x)
				case float64:
					times = int(x)
				default:
					return nil, fmt.Errorf(`config "recursionTimes": want a number, got %T`, v)
				}
			}
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				if times >= 1 {
					if err := a.Fire("false", graph.Outputs{"element": float64(1)}); err != nil {
						return graph.Result{}, err
					}
				}
				return graph.Result{Outputs: graph.Outputs{}, Closed: []string{"false"}}, nil
			}), nil
		},
	}
}

// jsParseInt is JavaScript's parseInt(s) in base 10: leading white space, a
// sign, then as many digits as there are; ok is false where JavaScript
// gives NaN.
func jsParseInt(s string) (int, bool) {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r' || s[i] == '\f' || s[i] == '\v') {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	start, n := i, 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' && n < 1e15 {
		n = n*10 + int(s[i]-'0')
		i++
	}
	if i == start {
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, true
}
