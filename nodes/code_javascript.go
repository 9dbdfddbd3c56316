package nodes

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/services"
)

func init() { Register("Code", newCode) }

// The Code node runs `function worker(inputs, data, state) { … }` in the
// sandbox, as Thoth's Code node does. inputs holds the first value of each
// input port, keyed by port name (and by socket key where that differs);
// data is the node's configuration without the code; state is the spell's
// state (graph.SpellState) as this run sees it. As in Thoth's and Magick's
// Code (packages/core/src/components/logic/Code.ts) a returned `state`
// object updates it key by key ({...state, ...value.state}); Grimoire also
// keeps changes the code made to the state argument in place, as Thoth's
// server did by handing the worker its live object. Only keys whose value
// changed are written, so a Code node never overwrites a key that another
// run changed and it did not. Without a state store (tests, a run without a
// log) the state lives for the run only. The returned object's keys are
// output ports (by name or key). Thoth evaluates the code as one function expression, so the code may
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
			if err := checkCodeSyntax(svcs.Sandbox, code); err != nil {
				return nil, err
			}
			w := &codeWorker{svcs: svcs, code: code, data: map[string]any{}}
			if s := configString(n, "timeout"); s != "" {
				d, err := time.ParseDuration(s)
				if err != nil || d <= 0 {
					return nil, fmt.Errorf("config \"timeout\" %q: want a duration such as \"500ms\" or \"2s\"", s)
				}
				if lim, ok := svcs.Sandbox.(services.TimeoutLimiter); ok && d > lim.MaxTimeout() {
					return nil, fmt.Errorf("config \"timeout\" %q is more than the server's maximum of %s (GRIMOIRE_CODE_MAX_TIMEOUT)", s, lim.MaxTimeout())
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
	state, err := a.SpellState(ctx)
	if err != nil {
		return graph.Result{}, fmt.Errorf("read the spell state for the worker's state argument: %w", err)
	}
	args := []any{namedInputs(a), w.data, state}
	// Thoth evaluates the code as an expression: `(function worker(…){…})`.
	// Code written as statements (helpers, then function worker) is run as
	// a script that defines worker.
	call := services.SandboxCall{Source: codeAsExpression(w.code), Function: "__grimoireWorker", Args: args, Timeout: w.timeout, User: a.User()}
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
	out := graph.Result{Outputs: graph.Outputs{}}
	returned, _ := res.Value.(map[string]any)
	if res.Value != nil && returned == nil {
		return graph.Result{}, fmt.Errorf("worker returned %T; return an object keyed by output port, e.g. { output: value }", res.Value)
	}
	var mutated map[string]any
	if len(res.Args) == 3 {
		mutated, _ = res.Args[2].(map[string]any)
	}
	var update map[string]any
	if v, ok := returned["state"]; ok && v != nil {
		if update, ok = v.(map[string]any); !ok {
			return graph.Result{}, fmt.Errorf("worker returned state as %T; return state as an object of the keys to update, e.g. { state: { score: 3 } }", v)
		}
	}
	if err := a.WriteSpellState(ctx, codeStateOps(state, mutated, update)...); err != nil {
		return graph.Result{}, fmt.Errorf("write the state the worker changed: %w", err)
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

// codeAsExpression is Thoth's way of evaluating a Code node's code: as one
// function expression, bound to a name the call can use.
func codeAsExpression(code string) string {
	return "var __grimoireWorker = (" + code + "\n);"
}

// checkCodeSyntax compiles the code as the node will run it (an expression,
// else a script defining worker) when the sandbox can compile without
// running, and reports a syntax error with its line and column in the code.
func checkCodeSyntax(sb services.Sandbox, code string) error {
	checker, ok := sb.(services.SyntaxChecker)
	if !ok {
		return nil
	}
	err := checker.CheckSyntax(codeAsExpression(code))
	var se *services.ScriptError
	if !errors.As(err, &se) || se.Name != "SyntaxError" {
		return limitOrNil(err)
	}
	err = checker.CheckSyntax(code)
	if errors.As(err, &se) {
		return fmt.Errorf(`config "code" does not parse as JavaScript: %w`, se)
	}
	return limitOrNil(err)
}

// limitOrNil keeps a sandbox's limit error (oversized code) and drops any
// other: only what the run would refuse is reported at validation.
func limitOrNil(err error) error {
	var le *services.LimitError
	if errors.As(err, &le) {
		return fmt.Errorf(`config "code": %w`, le)
	}
	return nil
}

// codeStateOps turns what a Code worker did to its state argument (mutated:
// the argument after the call; nil when the sandbox did not give it back)
// and the state it returned (update) into the ops that change only the
// keys whose values differ from before, in key order.
func codeStateOps(before, mutated, update map[string]any) []graph.StateOp {
	after := map[string]any{}
	var deleted []string
	if mutated != nil {
		for k, v := range mutated {
			after[k] = v
		}
		for k := range before {
			if _, ok := mutated[k]; !ok {
				deleted = append(deleted, k)
			}
		}
	} else {
		for k, v := range before {
			after[k] = v
		}
	}
	for k, v := range update {
		after[k] = v
	}
	keys := make([]string, 0, len(after))
	for k := range after {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var ops []graph.StateOp
	for _, k := range keys {
		if old, ok := before[k]; ok && reflect.DeepEqual(normalizeStateValue(old), normalizeStateValue(after[k])) {
			continue
		}
		ops = append(ops, graph.StateOp{Op: graph.StateSet, Key: k, Value: after[k]})
	}
	sort.Strings(deleted)
	for _, k := range deleted {
		if _, back := update[k]; !back {
			ops = append(ops, graph.StateOp{Op: graph.StateDelete, Key: k})
		}
	}
	return ops
}

// normalizeStateValue gives a value its JSON shape (numbers as float64)
// so that a sandbox's int and the state's float64 compare equal.
func normalizeStateValue(v any) any {
	m, err := graph.CloneState(map[string]any{"v": v})
	if err != nil {
		return v
	}
	return m["v"]
}
