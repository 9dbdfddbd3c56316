package nodes

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Regular Expression", newRegularExpression) }

// Regular Expression follows Magick's nodes/text/RegularExpression.ts: every
// match of data.rule (a global regular expression) removed from "input".
// Both must be non-empty, else the node fails with Magick's message. The
// pattern is compiled by Go's regexp (RE2): JavaScript patterns using
// look-around or back-references are refused when the spell loads.
func newRegularExpression(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:    "Regular Expression",
		Family:  "text",
		Doc:     "Removes every match of a regular expression from its input.",
		Inputs:  []graph.Port{triggerIn, dataIn("input", "string", "the text to search (required, not empty)")},
		Outputs: []graph.Port{triggerOut, dataOut("output", "string", "the text with every match removed")},
		Config: []graph.ConfigField{
			{Name: "rule", Type: "string", Required: true, Doc: "the regular expression (RE2 syntax, e.g. \"[0-9]+\")"},
		},
		New: func(n *graph.Node) (graph.Worker, error) {
			var re *regexp.Regexp
			if rule := configString(n, "rule"); rule != "" {
				var err error
				if re, err = regexp.Compile(rule); err != nil {
					return nil, fmt.Errorf("config \"rule\" %q is not a regular expression Grimoire can run (RE2 syntax: no look-around or back-references): %w", rule, err)
				}
			}
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				v, _ := a.Input("input")
				in := text(v)
				if in == "" || re == nil {
					return graph.Result{}, errors.New(`Regular Expression: input and match must be defined: connect a non-empty "input" and set config "rule"`)
				}
				return graph.Result{Outputs: graph.Outputs{"output": re.ReplaceAllString(in, "")}}, nil
			}), nil
		},
	}
}
