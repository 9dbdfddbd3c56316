package nodes

import (
	"context"
	"strings"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Replace Text", newReplaceText) }

// Replace Text follows Magick's nodes/text/ReplaceText.ts: every occurrence
// of "match" in "input" replaced by "replace" (String.replaceAll with a
// string pattern, no regular expression). The match and replace inputs win
// when truthy, else data.match / data.replace.
func newReplaceText(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:   "Replace Text",
		Family: "text",
		Doc:    "Replaces every occurrence of a string in its input with another string.",
		Inputs: []graph.Port{
			triggerIn,
			dataIn("input", "string", "the text to change (required)"),
			dataIn("match", "string", "the text to find; overrides config \"match\" when not empty"),
			dataIn("replace", "string", "what to put instead; overrides config \"replace\" when not empty"),
		},
		Outputs: []graph.Port{triggerOut, dataOut("output", "string", "the text with every match replaced")},
		Config: []graph.ConfigField{
			{Name: "match", Type: "string", Doc: "the text to find (used when the match input is empty)"},
			{Name: "replace", Type: "string", Doc: "the replacement (used when the replace input is empty); absent means \"\""},
			{Name: "name", Type: "string", Doc: "a label for the node"},
		},
		New: func(n *graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				in, err := requiredTextInput(a, "input")
				if err != nil {
					return graph.Result{}, err
				}
				match, hasMatch := replaceTextArg(a, n, "match")
				replace, _ := replaceTextArg(a, n, "replace")
				// With no match at all JavaScript would look for the
				// word "undefined"; Grimoire leaves the text as it is.
				if !hasMatch {
					return graph.Result{Outputs: graph.Outputs{"output": in}}, nil
				}
				return graph.Result{Outputs: graph.Outputs{"output": strings.ReplaceAll(in, match, replace)}}, nil
			}), nil
		},
	}
}

// replaceTextArg is `(inputs[key] && inputs[key][0]) || node.data[key]`.
func replaceTextArg(a *graph.Activation, n *graph.Node, key string) (string, bool) {
	if v, ok := a.Input(key); ok && truthy(v) {
		return text(v), true
	}
	v, ok := n.Config[key]
	if !ok || v == nil {
		return "", false
	}
	return text(v), true
}
