package nodes

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/services"
)

func init() { Register("String Processor", newStringProcessor) }

// stringProcessorDefault is the snippet Thoth's editor puts in a new node.
const stringProcessorDefault = "(inputStr) => {\n    return { \"outputKey\": \"outputValue\" }\n}"

// String Processor follows Thoth's components/strings/StringProcessor.ts:
// data.code is a JavaScript function expression, evaluated and called with
// the "input" string; the keys of the object it returns are the node's
// declared output sockets. Thoth ran it with eval in the page; Grimoire
// runs it in the code sandbox, like the Code node.
func newStringProcessor(svcs *Services) *graph.NodeType {
	return &graph.NodeType{
		Name:             "String Processor",
		Family:           "text",
		Doc:              "Runs a sandboxed JavaScript function over its input string; the returned object's keys are the declared outputs.",
		Inputs:           []graph.Port{dataIn("input", "string", "the string passed to the function (undefined when not connected)"), triggerIn},
		Outputs:          []graph.Port{triggerOut},
		DynamicPorts:     true,
		Nondeterministic: true, // the snippet may read the clock or Math.random
		Config: []graph.ConfigField{
			{Name: "code", Type: "string", Default: stringProcessorDefault, Doc: "a JavaScript function expression, e.g. (inputStr) => ({ upper: inputStr.toUpperCase() })"},
		},
		New: func(n *graph.Node) (graph.Worker, error) {
			code := configString(n, "code")
			if strings.TrimSpace(code) == "" {
				code = stringProcessorDefault
			}
			return graph.WorkerFunc(func(ctx context.Context, a *graph.Activation) (graph.Result, error) {
				if svcs.Sandbox == nil {
					return graph.Result{}, errors.New("no code sandbox configured (nodes.Services.Sandbox); String Processor nodes cannot run")
				}
				in, _ := a.Input("input")
				res, err := svcs.Sandbox.Call(ctx, services.SandboxCall{
					Source:   "var __grimoireStringProcessor = (" + code + "\n);",
					Function: "__grimoireStringProcessor",
					Args:     []any{in},
					User:     a.User(),
				})
				if err != nil {
					var le *services.LimitError
					var se *services.ScriptError
					switch {
					case errors.As(err, &le):
						return graph.Result{}, fmt.Errorf("String Processor %w", le)
					case errors.As(err, &se):
						return graph.Result{}, fmt.Errorf("String Processor code threw %w; config \"code\" must be a function expression such as (inputStr) => ({ output: inputStr })", se)
					}
					return graph.Result{}, err
				}
				returned, ok := res.Value.(map[string]any)
				if !ok {
					return graph.Result{}, fmt.Errorf("String Processor function returned %T; return an object keyed by output socket, e.g. { output: value }", res.Value)
				}
				out := graph.Outputs{}
				for _, d := range a.Node.Outputs {
					if d.Kind != graph.Data {
						continue
					}
					if v, ok := returned[portName(d)]; ok {
						out[d.Key] = v
					} else if v, ok := returned[d.Key]; ok {
						out[d.Key] = v
					}
				}
				return graph.Result{Outputs: out}, nil
			}), nil
		},
	}
}
