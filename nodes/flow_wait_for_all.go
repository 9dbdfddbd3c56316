package nodes

import (
	"context"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Wait For All", newWaitForAll) }

// Wait For All fires "default" once, when each of its declared trigger
// inputs has fired at least once in the run. The worker only sees its own
// node, not the spell's edges, so it waits for every declared trigger input;
// declare exactly the ones you connect (Thoth's editor does).
func newWaitForAll(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:         "Wait For All",
		Family:       "flow",
		Doc:          "Fires once every declared trigger input has fired at least once in the run.",
		Outputs:      []graph.Port{{Name: "default", Kind: graph.Trigger, Doc: "fires when all inputs have fired"}},
		DynamicPorts: true,
		New: func(n *graph.Node) (graph.Worker, error) {
			var want []string
			for _, d := range n.Inputs {
				if d.Kind == graph.Trigger {
					want = append(want, d.Key)
				}
			}
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				closed := graph.Result{Closed: []string{"default"}}
				if a.State["done"] == true {
					return closed, nil
				}
				seen, _ := a.State["seen"].(map[string]bool)
				if seen == nil {
					seen = map[string]bool{}
					a.State["seen"] = seen
				}
				if a.Trigger != "" {
					seen[a.Trigger] = true
				}
				for _, k := range want {
					if !seen[k] {
						return closed, nil
					}
				}
				a.State["done"] = true
				return graph.Result{}, nil
			}), nil
		},
	}
}
