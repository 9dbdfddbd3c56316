package nodes

import (
	"context"
	"fmt"
	"strings"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Evaluate Text", newEvaluateText) }

// evaluateTextOps are Magick's operations (nodes/text/EvaluateText.ts),
// keyed by the lower-cased, trimmed data.operationType. Magick lower-cases
// the operation before its switch, so its "startsWith"-style spellings
// never matched; Grimoire accepts their lower-case forms for them.
var evaluateTextOps = map[string]func(s, want string) bool{
	"includes":        strings.Contains,
	"not includes":    func(s, w string) bool { return !strings.Contains(s, w) },
	"equals":          func(s, w string) bool { return s == w },
	"not equals":      func(s, w string) bool { return s != w },
	"starts with":     strings.HasPrefix,
	"not starts with": func(s, w string) bool { return !strings.HasPrefix(s, w) },
	"ends with":       strings.HasSuffix,
	"not ends with":   func(s, w string) bool { return !strings.HasSuffix(s, w) },
}

var evaluateTextSynonyms = map[string]string{
	"equal": "equals", "===": "equals", "==": "equals",
	"not equal": "not equals", "!==": "not equals", "!=": "not equals",
	"startswith": "starts with", "not startswith": "not starts with",
	"endswith": "ends with", "not endswith": "not ends with",
}

// Evaluate Text compares its "string" input with the trimmed data.fewshot
// and fires "true" or "false".
func newEvaluateText(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:   "Evaluate Text",
		Family: "text",
		Doc:    "Compares its input with a fixed text (includes, equals, starts with, ends with, or their negations) and fires \"true\" or \"false\".",
		Inputs: []graph.Port{dataIn("string", "string", "the text to test (required)"), triggerIn},
		Outputs: []graph.Port{
			{Name: "true", Kind: graph.Trigger, Doc: "fires when the comparison holds"},
			{Name: "false", Kind: graph.Trigger, Doc: "fires otherwise"},
		},
		Config: []graph.ConfigField{
			{Name: "fewshot", Type: "string", Doc: "the text to compare with (trimmed)"},
			{Name: "operationType", Type: "string", Default: "includes", Doc: "includes, not includes, equals (equal, ==, ===), not equals (not equal, !=, !==), starts with, not starts with, ends with, not ends with"},
		},
		New: func(n *graph.Node) (graph.Worker, error) {
			want := strings.TrimSpace(text(n.Config["fewshot"]))
			opName := strings.ToLower(strings.TrimSpace(configString(n, "operationType")))
			if opName == "" {
				opName = "includes"
			}
			if syn, ok := evaluateTextSynonyms[opName]; ok {
				opName = syn
			}
			op, ok := evaluateTextOps[opName]
			if !ok {
				// Magick fired "false" for an unknown operation; a typo
				// is reported instead of silently taking one branch.
				return nil, fmt.Errorf("config \"operationType\" %q is not an operation; use includes, not includes, equals, not equals, starts with, not starts with, ends with or not ends with", configString(n, "operationType"))
			}
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				s, err := requiredTextInput(a, "string")
				if err != nil {
					return graph.Result{}, err
				}
				if op(s, want) {
					return graph.Result{Closed: []string{"false"}}, nil
				}
				return graph.Result{Closed: []string{"true"}}, nil
			}), nil
		},
	}
}
