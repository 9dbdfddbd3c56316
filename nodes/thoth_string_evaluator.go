package nodes

import (
	"context"
	"strings"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("String Evaluator", newStringEvaluator) }

// String Evaluator follows Thoth's core/src/components/StringEvaluator.ts:
// the "string" input is tested against the trimmed config fewshot with the
// operation named by config operationType (lower-cased and trimmed; default
// "includes"), and fires "true" or "false". The original compares the
// lower-cased name against "startsWith"/"endsWith" spellings that can never
// match, so those operations (like any unknown one) always fire "false";
// that is kept.
func newStringEvaluator(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:   "String Evaluator",
		Family: "text",
		Doc:    "Tests a string against config fewshot (includes, not includes, equals, not equals) and fires \"true\" or \"false\" (as in Thoth).",
		Inputs: []graph.Port{dataIn("string", "string", "the text to test (required)"), triggerIn},
		Outputs: []graph.Port{
			{Name: "true", Kind: graph.Trigger, Doc: "fires when the test holds"},
			{Name: "false", Kind: graph.Trigger, Doc: "fires otherwise, and for startsWith/endsWith and unknown operations, as in Thoth"},
			dataOut("output", "string", "the input string, unchanged"),
		},
		New: func(n *graph.Node) (graph.Worker, error) {
			want := trimJS(n.ConfigString("fewshot"))
			op := strings.ToLower(trimJS(n.ConfigString("operationType")))
			if n.ConfigString("operationType") == "" {
				op = "includes"
			}
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				s, err := requiredTextInput(a, "string")
				if err != nil {
					return graph.Result{}, err
				}
				var is bool
				switch op {
				case "includes":
					is = strings.Contains(s, want)
				case "not includes":
					is = !strings.Contains(s, want)
				case "equals":
					is = s == want
				case "not equals":
					is = s != want
				}
				closed := "true"
				if is {
					closed = "false"
				}
				return graph.Result{Outputs: graph.Outputs{"output": s}, Closed: []string{closed}}, nil
			}), nil
		},
	}
}
