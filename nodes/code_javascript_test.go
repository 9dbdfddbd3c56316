package nodes_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/nodes"
	"github.com/grimoire-run/grimoire/services"
	"github.com/grimoire-run/grimoire/services/jsvm"
)

func codeSpell(code string, cfg map[string]any) *graph.Spell {
	c := map[string]any{"code": code}
	for k, v := range cfg {
		c[k] = v
	}
	return newSpell("code").
		node("start", "Module Trigger In", nil).
		node("in", "Input", map[string]any{"name": "x"}).
		node("code", "Code", c, named(in("sk-x"), "x"), named(out("sk-double"), "double"), out("label")).
		node("o1", "Output", map[string]any{"name": "double"}).
		node("o2", "Output", map[string]any{"name": "label"}).
		edge("start.trigger>code.trigger", "in.output>code.sk-x",
			"code.trigger>o1.trigger", "code.sk-double>o1.input", "code.trigger>o2.trigger", "code.label>o2.input").build()
}

func TestCodeNodeOutputs(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	tests := []struct {
		name, code string
	}{
		{"Thoth worker", "function worker(inputs, data, state) {\n  return { double: inputs.x * 2, label: data.label }\n}"},
		{"anonymous function", "function (inputs, data) { return { double: inputs.x * 2, label: data.label } }"},
		{"arrow", "(inputs, data) => ({ double: inputs.x * 2, label: data.label })"},
		{"statements with helpers", "const twice = n => n * 2\nfunction worker(inputs, data) { return { double: twice(inputs.x), label: data.label } }"},
		{"by socket key", "function worker(inputs, data) { return { 'sk-double': inputs['sk-x'] * 2, label: data.label } }"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			outs, _ := h.mustRun(t, codeSpell(tt.code, map[string]any{"label": "ok"}), map[string]any{"x": 21.0})
			if outs["double"] != 42.0 || outs["label"] != "ok" {
				t.Fatalf("outputs %v", outs)
			}
		})
	}
}

func TestCodeNodeErrors(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	tests := []struct {
		name, code string
		cfg        map[string]any
		want       []string
		is         error
	}{
		{"thrown error", "function worker(inputs) {\n  throw new Error('no ' + inputs.x)\n}", nil, []string{"node code (Code)", "Error: no 1", "line 2"}, nil},
		{"infinite loop", "function worker() { while (true) {} }", map[string]any{"timeout": "150ms"}, []string{"code node exceeded its 150ms time limit"}, services.ErrSandboxTimeout},
		{"default limit is 1s", "function worker() { for (;;) {} }", nil, []string{"exceeded its 1s time limit"}, services.ErrSandboxTimeout},
		{"returns a non-object", "function worker() { return 5 }", nil, []string{"return an object"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, rec, err := h.run(context.Background(), codeSpell(tt.code, tt.cfg), map[string]any{"x": 1.0})
			if err == nil {
				t.Fatal("run succeeded")
			}
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("took %s", took)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
			if rec.count("code", graph.NodeFailed) != 1 {
				t.Error("no NodeFailed event for the code node")
			}
			rec.assertSkipped(t, "o1", "o2")
		})
	}
}

// State carries over between a node's activations within one run, and
// never from one run to the next.
func TestCodeNodeStateIsPerRun(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	s := newSpell("state").
		node("start", "Module Trigger In", nil).
		node("a", "Test Pass", nil).node("b", "Test Sleep", map[string]any{"ms": 30.0}).
		node("code", "Code", map[string]any{"code": `function worker(inputs, data, state) {
  state.count = (state.count || 0) + 1
  globalThis.leak = (globalThis.leak || 0) + 1
  return { count: state.count, leak: leak }
}`}, out("count"), out("leak")).
		node("o1", "Output", map[string]any{"name": "count"}).
		node("o2", "Output", map[string]any{"name": "leak"}).
		edge("start.trigger>a.trigger", "start.trigger>b.trigger", "a.trigger>code.trigger", "b.trigger>code.trigger",
			"code.trigger>o1.trigger", "code.count>o1.input", "code.trigger>o2.trigger", "code.leak>o2.input").build()
	for run := 0; run < 3; run++ {
		outs, rec := h.mustRun(t, s, nil)
		if n := rec.count("code", graph.NodeStarted); n != 2 {
			t.Fatalf("code ran %d times, want 2", n)
		}
		if outs["count"] != 2.0 {
			t.Errorf("run %d: state.count %v at the second activation, want 2 (state must persist within a run and reset between runs)", run, outs["count"])
		}
		if outs["leak"] != 1.0 {
			t.Errorf("run %d: a global survived between activations (%v)", run, outs["leak"])
		}
	}
}

func TestCodeNodeWithoutSandbox(t *testing.T) {
	c := newCatalog(nodes.Services{})
	r := &graph.Runner{Catalog: c}
	_, err := r.Run(context.Background(), codeSpell("function worker() { return {} }", nil), graph.RunRequest{})
	if err == nil || !strings.Contains(err.Error(), "no code sandbox configured") {
		t.Fatalf("err = %v", err)
	}
}

// A Code node may not ask for more time than the sandbox allows: the spell
// is refused when it is built, naming the maximum.
func TestCodeNodeTimeoutIsCappedByTheServer(t *testing.T) {
	c := newCatalog(nodes.Services{Sandbox: jsvm.New(jsvm.Options{MaxTimeout: 2 * time.Second})})
	err := graph.Validate(codeSpell("function worker() { return {} }", map[string]any{"timeout": "87600h"}), c)
	if err == nil || !strings.Contains(err.Error(), `config "timeout" "87600h" is more than the server's maximum of 2s`) {
		t.Fatalf("err = %v", err)
	}
	if err := graph.Validate(codeSpell("function worker() { return {} }", map[string]any{"timeout": "2s"}), c); err != nil {
		t.Fatalf("a timeout at the maximum: %v", err)
	}
}
