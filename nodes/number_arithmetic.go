package nodes

import (
	"context"
	"fmt"

	"github.com/grimoire-run/grimoire/graph"
)

// numberOperation is one of Magick's arithmetic components
// (packages/core/shared/src/nodes/number/{Add,Subtract,Multiply,Divide}.ts):
// two operands, each from its socket or else from the node's data, and a
// "result" output.
type numberOperation struct {
	name, doc string
	apply     func(x, y float64) (float64, error)
}

var numberOperations = []numberOperation{
	{"Add", "firstNumber + secondNumber", func(x, y float64) (float64, error) { return x + y, nil }},
	{"Subtract", "firstNumber - secondNumber", func(x, y float64) (float64, error) { return x - y, nil }},
	{"Multiply", "firstNumber × secondNumber", func(x, y float64) (float64, error) { return x * y, nil }},
	{"Divide", "firstNumber ÷ secondNumber", func(x, y float64) (float64, error) {
		// JavaScript would give Infinity or NaN, which JSON cannot carry.
		if y == 0 {
			return 0, fmt.Errorf("division by zero: \"secondNumber\" is 0; give a non-zero divisor")
		}
		return x / y, nil
	}},
}

func init() {
	for _, op := range numberOperations {
		op := op
		Register(op.name, func(*Services) *graph.NodeType { return newNumberOperation(op) })
	}
}

func newNumberOperation(op numberOperation) *graph.NodeType {
	return &graph.NodeType{
		Name:   op.name,
		Family: "number",
		Doc:    fmt.Sprintf("Outputs %s; each operand comes from its input, else from the node's configuration.", op.doc),
		Inputs: []graph.Port{
			dataIn("firstNumber", "number", "the first operand; overrides config \"firstNumber\""),
			dataIn("secondNumber", "number", "the second operand; overrides config \"secondNumber\""),
			triggerIn,
		},
		Outputs: []graph.Port{dataOut("result", "number", "the result"), triggerOut},
		Config: []graph.ConfigField{
			{Name: "firstNumber", Type: "number", Default: 1, Doc: "the first operand when its input is not connected"},
			{Name: "secondNumber", Type: "number", Default: 1, Doc: "the second operand when its input is not connected"},
		},
		New: func(n *graph.Node) (graph.Worker, error) {
			for _, f := range []string{"firstNumber", "secondNumber"} {
				if _, _, err := configNumber(n, f); err != nil {
					return nil, fmt.Errorf("%s: %w; write a number", op.name, err)
				}
			}
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				x, err := numberOperand(a, "firstNumber", 1)
				if err != nil {
					return graph.Result{}, fmt.Errorf("%s: %w", op.name, err)
				}
				y, err := numberOperand(a, "secondNumber", 1)
				if err != nil {
					return graph.Result{}, fmt.Errorf("%s: %w", op.name, err)
				}
				r, err := op.apply(x, y)
				if err != nil {
					return graph.Result{}, fmt.Errorf("%s: %w", op.name, err)
				}
				return graph.Result{Outputs: graph.Outputs{"result": r}}, nil
			}), nil
		},
	}
}

// numberOperand reads a number from the input port, else from the config
// field of the same name, else def: the original's
// `inputs[port][0] ?? node.data[port]` with the editor's default.
func numberOperand(a *graph.Activation, port string, def float64) (float64, error) {
	if v, ok := a.Input(port); ok && v != nil {
		f, err := toNumber(v)
		if err != nil {
			return 0, fmt.Errorf("input %q: %w; connect a number", port, err)
		}
		return f, nil
	}
	f, ok, err := configNumber(a.Node, port)
	if err != nil {
		return 0, fmt.Errorf("%w; write a number", err)
	}
	if !ok {
		return def, nil
	}
	return f, nil
}
