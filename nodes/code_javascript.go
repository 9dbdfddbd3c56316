package nodes

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/services"
)

func init() { Register("Code", newCode) }

// The Code node runs `function worker(inputs, data, state) { … }` in the
// sandbox, as Thoth's Code node does. inputs holds the first value of each
// input port, keyed by port name (and by socket key where that differs);
// data is the node's configuration without the code; state starts empty in
// each run and carries over between this node's activations within the run,
// never across runs. The returned object's keys are output ports (by name or
// key). Thoth evaluates the code as one function expression, so the code may
// also be an anonymous function or an arrow function.
func newCode(svcs *Services) *graph.NodeType {
	return &graph.NodeType{
		Name:         "Code",
		Aliases:      []string{"Javascript", "JavaScript"},
		Family:       "code",
		Doc:          "Runs sandboxed JavaScript: function worker(inputs, data, state) returns {outputPort: value}.",
		Inputs:       []graph.Port{triggerIn},
		Outputs:      []graph.Port{triggerOut},
		DynamicPorts: true,
		// Code may read the clock or Math.random.
		Nondeterministic: true,
		Config: []graph.ConfigField{
			{Name: "code", Type: "string", Required: true, Doc: "JavaScript defining function worker(inputs, data, state)"},
			{Name: "timeout", Type: "string", Doc: "time limit per activation, e.g. \"500ms\" (default: the sandbox's, 1s)"},
		},
		New: func(n *graph.Node) (graph.Worker, error) {
			code := configString(n, "code")
			if strings.TrimSpace(code) == "" {
				return nil, errors.New(`config "code" is empty; write function worker(inputs, data, state) { return { output: … } }`)
			}
			w := &codeWorker{svcs: svcs, code: code, data: map[string]any{}}
			if s := configString(n, "timeout"); s != "" {
				d, err := time.ParseDuration(s)
				if err != nil || d <= 0 {
					return nil, fmt.Errorf("config \"timeout\" %q: want a duration such as \"500ms\" or \"2s\"", s)
				}
				w.timeout = d
			}
			for k, v := range n.Config {
				if k != "code" && !graph.IsEditorStateKey(k) {
					w.data[k] = v
				}
			}
			return w, nil
		},
	}
}

type codeWorker struct {
	svcs    *Services
	code    string
	data    map[string]any
	timeout time.Duration
}

func (w *codeWorker) Work(ctx context.Context, a *graph.Activation) (graph.Result, error) {
	if w.svcs.Sandbox == nil {
		return graph.Result{}, errors.New("no code sandbox configured (nodes.Services.Sandbox); Code nodes cannot run")
	}
	state, _ := a.State["js"].(map[string]any)
	if state == nil {
		state = map[string]any{}
	}
	args := []any{namedInputs(a), w.data, state}
	// Thoth evaluates the code as an expression: `(function worker(…){…})`.
	// Code written as statements (helpers, then function worker) is run as
	// a script that defines worker.
	call := services.SandboxCall{Source: "var __grimoireWorker = (" + w.code + "\n);", Function: "__grimoireWorker", Args: args, Timeout: w.timeout}
	res, err := w.svcs.Sandbox.Call(ctx, call)
	var se *services.ScriptError
	if errors.As(err, &se) && se.Name == "SyntaxError" {
		call.Source, call.Function = w.code, "worker"
		res, err = w.svcs.Sandbox.Call(ctx, call)
	}
	if err != nil {
		var le *services.LimitError
		if errors.As(err, &le) {
			return graph.Result{}, fmt.Errorf("code node %w", le)
		}
		if errors.As(err, &se) {
			return graph.Result{}, fmt.Errorf("code threw %w", se)
		}
		return graph.Result{}, err
	}
	if len(res.Args) == 3 {
		if st, ok := res.Args[2].(map[string]any); ok {
			a.State["js"] = st
		}
	}
	out := graph.Result{Outputs: graph.Outputs{}}
	returned, _ := res.Value.(map[string]any)
	if res.Value != nil && returned == nil {
		return graph.Result{}, fmt.Errorf("worker returned %T; return an object keyed by output port, e.g. { output: value }", res.Value)
	}
	for _, d := range a.Node.Outputs {
		if d.Kind != graph.Data {
			continue
		}
		if v, ok := returned[portName(d)]; ok {
			out.Outputs[d.Key] = v
		} else if v, ok := returned[d.Key]; ok {
			out.Outputs[d.Key] = v
		}
	}
	return out, nil
}
