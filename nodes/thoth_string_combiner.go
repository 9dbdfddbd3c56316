package nodes

import (
	"context"
	"fmt"
	"strings"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("String Combiner", newStringCombiner) }

// String Combiner follows Thoth's core/src/components/StringCombiner.ts:
// for each of the node's inputs whose key contains "replacer" (any case),
// in socket order, the first "$" + (first word of the key, lower-cased)
// in the "string" input is replaced by that input's value, with
// String.prototype.replace (first occurrence only; "$$", "$&", "$`" and
// "$'" in the value are expanded as JavaScript does). Thoth's task hands
// the worker connected inputs only, so an unconnected replacer is skipped.
func newStringCombiner(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:         "String Combiner",
		Family:       "text",
		DynamicPorts: true,
		Doc:          "Replaces \"$agent\" in the string with the value of an added input named like \"Agent Replacer\", one per replacer input (first occurrence, as in Thoth).",
		Inputs:       []graph.Port{dataIn("string", "string", "the text holding $placeholders; required when the node has replacer inputs"), triggerIn},
		Outputs:      []graph.Port{triggerOut, dataOut("output", "string", "the text with each placeholder's first occurrence replaced")},
		New: func(*graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				sv, sok := a.Input("string")
				s := text(sv)
				for _, d := range a.Node.Inputs {
					if d.Kind != graph.Data || !strings.Contains(strings.ToLower(d.Key), "replacer") {
						continue
					}
					v, ok := a.Input(d.Key)
					if !ok {
						continue // Thoth's task hands the worker connected inputs only
					}
					if !sok || sv == nil {
						return graph.Result{}, fmt.Errorf("%s: input %q has no value; connect a node that outputs text to it", a.Type.Name, "string")
					}
					placeholder := "$" + trimJS(strings.ToLower(strings.Split(d.Key, " ")[0]))
					s = replaceFirstJS(s, placeholder, concatOperandJS(v, true))
				}
				if !sok {
					return graph.Result{}, nil // output stays undefined, as in Thoth
				}
				return graph.Result{Outputs: graph.Outputs{"output": s}}, nil
			}), nil
		},
	}
}

// replaceFirstJS is String.prototype.replace with a string pattern and a
// string replacement: the first occurrence only, with $$, $&, $` and $'
// expanded in the replacement.
func replaceFirstJS(s, pattern, repl string) string {
	i := strings.Index(s, pattern)
	if i < 0 {
		return s
	}
	var b strings.Builder
	for j := 0; j < len(repl); j++ {
		if repl[j] == '$' && j+1 < len(repl) {
			switch repl[j+1] {
			case '$':
				b.WriteByte('$')
				j++
				continue
			case '&':
				b.WriteString(pattern)
				j++
				continue
			case '`':
				b.WriteString(s[:i])
				j++
				continue
			case '\'':
				b.WriteString(s[i+len(pattern):])
				j++
				continue
			}
		}
		b.WriteByte(repl[j])
	}
	return s[:i] + b.String() + s[i+len(pattern):]
}
