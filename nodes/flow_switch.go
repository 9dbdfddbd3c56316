package nodes

import (
	"context"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Switch", newSwitch) }

func newSwitch(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:         "Switch",
		Family:       "flow",
		Doc:          "Fires the declared trigger output whose name equals its input, else \"default\".",
		Inputs:       []graph.Port{dataIn("input", "any", "the value to switch on (compared as text)"), triggerIn},
		Outputs:      []graph.Port{{Name: "default", Kind: graph.Trigger, Doc: "fires when no case matches"}},
		DynamicPorts: true,
		New: func(n *graph.Node) (graph.Worker, error) {
			cases := map[string]string{} // case name -> port key
			for _, d := range n.Outputs {
				if d.Kind == graph.Trigger {
					if _, dup := cases[portName(d)]; !dup {
						cases[portName(d)] = d.Key
					}
				}
			}
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				v, _ := a.Input("input")
				open, ok := cases[text(v)]
				if !ok {
					open = "default"
				}
				return graph.Result{Closed: closeAllBut(a, open)}, nil
			}), nil
		},
	}
}
