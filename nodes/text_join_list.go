package nodes

import (
	"context"
	"fmt"
	"strings"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Join List", newJoinList) }

// Join List follows Thoth's components/JoinList.ts: the "list" input's
// elements joined with data.separator, as Array.prototype.join does.
func newJoinList(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:   "Join List",
		Family: "text",
		Doc:    "Joins the elements of a list into one string with a separator (JavaScript Array.join, as in Thoth).",
		// Thoth's builder declares only "list" and "text"; its task lists a
		// trigger output, so both trigger ports are offered.
		Inputs:  []graph.Port{dataIn("list", "array", "the list to join (required)"), triggerIn},
		Outputs: []graph.Port{dataOut("text", "string", "the joined text"), triggerOut},
		Config: []graph.ConfigField{
			{Name: "separator", Type: "string", Default: " ", Doc: "put between elements; absent means \" \" (the editor's default), \"\" joins without one"},
		},
		New: func(n *graph.Node) (graph.Worker, error) {
			sep := " "
			if v, ok := n.Config["separator"]; ok && v != nil {
				sep = text(v)
			}
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				v, ok := a.Input("list")
				list, isList := v.([]any)
				if !ok || v == nil {
					return graph.Result{}, fmt.Errorf("Join List: input %q has no value; connect a node that outputs a list", "list")
				}
				if !isList {
					return graph.Result{}, fmt.Errorf("Join List: input %q is a %T, not a list; parse it first (JSON Parse) or connect an array", "list", v)
				}
				return graph.Result{Outputs: graph.Outputs{"text": joinListJS(list, sep)}}, nil
			}), nil
		},
	}
}

// joinListJS is Array.prototype.join: null and undefined elements become
// "", nested arrays are joined with ",". Objects render as JSON, where
// JavaScript would write "[object Object]".
func joinListJS(list []any, sep string) string {
	parts := make([]string, len(list))
	for i, e := range list {
		if inner, ok := e.([]any); ok {
			parts[i] = joinListJS(inner, ",")
			continue
		}
		parts[i] = text(e)
	}
	return strings.Join(parts, sep)
}
