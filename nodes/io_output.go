package nodes

import (
	"context"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Output", newOutput) }

func newOutput(*Services) *graph.NodeType {
	t := &graph.NodeType{
		DefaultName: fixedName("output"),
		Name:        "Output",
		Family:      "io",
		Doc:         "Sets the run output with this node's name to its input (from the branch that triggered it).",
		Role:        graph.RoleOutput,
		Inputs: []graph.Port{
			dataIn("input", "any", "the value to output"),
			triggerIn,
			dataIn("event", "event", "Magick's event override: the event the output answers (kept, not used: Grimoire returns outputs to the caller)"),
		},
		Outputs: []graph.Port{
			triggerOut,
			dataOut("output", "any", "the value output, for nodes after this one (Magick)"),
		},
		Config: []graph.ConfigField{
			{Name: "name", Type: "string", Default: "output", Doc: "the run output this node sets"},
			keyField,
		},
	}
	t.New = func(n *graph.Node) (graph.Worker, error) {
		name := t.PortName(n)
		return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
			v, _ := a.Input("input")
			a.SetRunOutput(name, v)
			// Magick's Output also passes its value on; with several
			// connected inputs it is the first truthy one, "" when none.
			passed := any("")
			for _, in := range a.Inputs["input"] {
				if truthy(in) {
					passed = in
					break
				}
			}
			return graph.Result{Outputs: graph.Outputs{"output": passed}}, nil
		}), nil
	}
	return t
}
