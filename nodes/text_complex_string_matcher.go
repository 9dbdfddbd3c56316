package nodes

import (
	"context"
	"strings"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Complex String Matcher", newComplexStringMatcher) }

// Complex String Matcher is Thoth's FastClassifier
// (components/strings/ComplexStringMatcher.ts), reproduced as Thoth ran
// it so that saved Thoth spells take the branch they took there:
//   - the input loses ", ', < and > and is lower-cased;
//   - each rule list (data.matchBeginningString, matchEndString,
//     matchAnyString) is trimmed, lower-cased and split on ", "; all three
//     are tested with startsWith (Thoth's one match function), and an
//     empty list is the one rule "" which every input matches;
//   - a rule whose dontMatch* flag is set invalidates the input when it
//     matches; the rules run in order while the input is still valid, each
//     setting "matched";
//   - a non-zero data.stringMaxLength invalidates inputs longer than it or
//     shorter than data.stringMinLength.
//
// Thoth then closed "false" when the input was invalidated or unmatched,
// so "true" fired for those and "false" for a valid match. Magick's
// rewrite (Text Rule Matcher) fires them the other way round.
func newComplexStringMatcher(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:   "Complex String Matcher",
		Family: "text",
		Doc:    "Thoth's string rule matcher: tests its input's start against comma lists; fires \"false\" on a valid match and \"true\" otherwise, as Thoth did.",
		Inputs: []graph.Port{dataIn("input", "string", "the text to test (required)"), triggerIn},
		Outputs: []graph.Port{
			{Name: "true", Kind: graph.Trigger, Doc: "fires when the input was invalidated or matched no rule (Thoth's wiring)"},
			{Name: "false", Kind: graph.Trigger, Doc: "fires when the input matched and no rule invalidated it"},
		},
		Config: []graph.ConfigField{
			{Name: "matchBeginningString", Type: "string", Doc: "\", \"-separated starts to match"},
			{Name: "dontMatchBeginning", Type: "boolean", Doc: "invalidate the input when a beginning matches"},
			{Name: "matchEndString", Type: "string", Doc: "\", \"-separated texts (tested against the start, as Thoth did)"},
			{Name: "dontMatchEnd", Type: "boolean", Doc: "invalidate the input when an end rule matches"},
			{Name: "matchAnyString", Type: "string", Doc: "\", \"-separated texts (tested against the start, as Thoth did)"},
			{Name: "dontMatchAny", Type: "boolean", Doc: "invalidate the input when an any rule matches"},
			{Name: "stringMinLength", Type: "number", Doc: "shortest valid input, checked when stringMaxLength is not 0"},
			{Name: "stringMaxLength", Type: "number", Doc: "longest valid input; 0 or absent ignores both lengths"},
			{Name: "name", Type: "string", Doc: "a label for the node"},
		},
		New: func(n *graph.Node) (graph.Worker, error) {
			minLen, hasMin, err := configNumber(n, "stringMinLength")
			if err != nil {
				return nil, err
			}
			maxLen, hasMax, err := configNumber(n, "stringMaxLength")
			if err != nil {
				return nil, err
			}
			split := func(key string) []string {
				return strings.Split(strings.ToLower(strings.TrimSpace(text(n.Config[key]))), ", ")
			}
			rules := []struct {
				list []string
				dont bool
			}{
				{split("matchBeginningString"), truthy(n.Config["dontMatchBeginning"])},
				{split("matchEndString"), truthy(n.Config["dontMatchEnd"])},
				{split("matchAnyString"), truthy(n.Config["dontMatchAny"])},
			}
			strip := strings.NewReplacer(`"`, "", "'", "", "<", "", ">", "")
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				raw, err := requiredTextInput(a, "input")
				if err != nil {
					return graph.Result{}, err
				}
				in := strings.ToLower(strip.Replace(raw))
				length := float64(len(in))
				invalidated := hasMax && maxLen != 0 && (length > maxLen || (hasMin && length < minLen))
				matched := false
				for _, r := range rules {
					if invalidated {
						break
					}
					hit := false
					for _, m := range r.list {
						if strings.HasPrefix(in, m) {
							hit = true
							break
						}
					}
					switch {
					case r.dont && hit:
						invalidated = true
					case r.dont:
						matched = true
					default:
						matched = hit
					}
				}
				if invalidated || !matched {
					return graph.Result{Closed: []string{"false"}}, nil
				}
				return graph.Result{Closed: []string{"true"}}, nil
			}), nil
		},
	}
}
