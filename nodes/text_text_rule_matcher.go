package nodes

import (
	"context"
	"strings"
	"unicode/utf16"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Text Rule Matcher", newTextRuleMatcher) }

// Text Rule Matcher follows Magick's nodes/text/ComplexStringMatcher.ts (the
// rewrite of Thoth's Complex String Matcher, latest Rete-era version):
//   - rules come from the matchBeginning / matchEnd / matchAny inputs, else
//     data.matchBeginningString / matchEndString / matchAnyString; each is
//     lower-cased and split on ", ", and an empty one is ignored;
//   - the input is compared as it is (that version no longer lower-cases
//     it): a beginning rule that matches sets "matched"; then an end rule
//     and an any (contains) rule each set "matched" to whether they hit;
//   - a non-zero data.stringMaxLength invalidates inputs longer than it or
//     shorter than data.stringMinLength (lengths in UTF-16 units).
//
// "true" fires when the input matched and was not invalidated.
func newTextRuleMatcher(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:   "Text Rule Matcher",
		Family: "text",
		Doc:    "Tests its input against beginning / end / contains rules and a length range; fires \"true\" when they match, else \"false\".",
		Inputs: []graph.Port{
			triggerIn,
			dataIn("input", "string", "the text to test (required)"),
			dataIn("matchBeginning", "string", "\", \"-separated starts; overrides config matchBeginningString"),
			dataIn("matchEnd", "string", "\", \"-separated ends; overrides config matchEndString"),
			dataIn("matchAny", "string", "\", \"-separated texts it may contain; overrides config matchAnyString"),
		},
		Outputs: []graph.Port{
			{Name: "true", Kind: graph.Trigger, Doc: "fires when the rules match and the length is valid"},
			{Name: "false", Kind: graph.Trigger, Doc: "fires otherwise"},
		},
		Config: []graph.ConfigField{
			{Name: "matchBeginningString", Type: "string", Doc: "\", \"-separated starts to match"},
			{Name: "matchEndString", Type: "string", Doc: "\", \"-separated ends to match"},
			{Name: "matchAnyString", Type: "string", Doc: "\", \"-separated texts the input may contain"},
			{Name: "stringMinLength", Type: "number", Default: 0, Doc: "shortest valid input, checked when stringMaxLength is not 0"},
			{Name: "stringMaxLength", Type: "number", Default: 0, Doc: "longest valid input; 0 ignores both lengths"},
			{Name: "name", Type: "string", Doc: "a label for the node"},
		},
		New: func(n *graph.Node) (graph.Worker, error) {
			minLen, _, err := configNumber(n, "stringMinLength")
			if err != nil {
				return nil, err
			}
			maxLen, _, err := configNumber(n, "stringMaxLength")
			if err != nil {
				return nil, err
			}
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				in, err := requiredTextInput(a, "input")
				if err != nil {
					return graph.Result{}, err
				}
				rules := func(port, key string) []string {
					src, ok := a.Input(port)
					if !ok || src == nil {
						src = n.Config[key]
					}
					list := strings.Split(strings.ToLower(text(src)), ", ")
					if list[0] == "" {
						list = list[:len(list)-1] // Magick pops the last element
					}
					return list
				}
				any := func(list []string, f func(string, string) bool) bool {
					for _, m := range list {
						if f(in, m) {
							return true
						}
					}
					return false
				}
				length := float64(len(utf16.Encode([]rune(in))))
				invalidated := maxLen != 0 && (length > maxLen || length < minLen)
				matched := false
				if l := rules("matchBeginning", "matchBeginningString"); len(l) > 0 && any(l, strings.HasPrefix) {
					matched = true
				}
				if l := rules("matchEnd", "matchEndString"); len(l) > 0 {
					matched = any(l, strings.HasSuffix)
				}
				if l := rules("matchAny", "matchAnyString"); len(l) > 0 {
					matched = any(l, strings.Contains)
				}
				if !invalidated && matched {
					return graph.Result{Closed: []string{"false"}}, nil
				}
				return graph.Result{Closed: []string{"true"}}, nil
			}), nil
		},
	}
}
