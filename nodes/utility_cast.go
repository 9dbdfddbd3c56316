package nodes

import (
	"context"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Cast", newCast) }

// Cast follows Magick's nodes/utility/Cast.ts: it passes its input on
// unchanged; data.socketType only changes the editor's socket type, so
// that an any-typed value can be connected to a typed input.
func newCast(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:    "Cast",
		Family:  "utility",
		Doc:     "Passes its input on unchanged under another socket type (the value is not converted).",
		Inputs:  []graph.Port{dataIn("input", "any", "the value to pass on"), triggerIn},
		Outputs: []graph.Port{dataOut("output", "any", "the input, unchanged"), triggerOut},
		Config: []graph.ConfigField{
			{Name: "socketType", Type: "string", Doc: "the editor socket type of the output, e.g. \"String\" (not a conversion)"},
		},
		New: func(*graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				v, _ := a.Input("input")
				return graph.Result{Outputs: graph.Outputs{"output": v}}, nil
			}), nil
		},
	}
}
