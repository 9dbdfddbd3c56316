package nodes_test

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/nodes"
	"github.com/grimoire-run/grimoire/services"
	"github.com/grimoire-run/grimoire/services/jsvm"
	"github.com/grimoire-run/grimoire/services/sandbox"
)

func newProcessSandbox(t testing.TB, o sandbox.Options) *sandbox.Pool {
	t.Helper()
	p, err := sandbox.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// Code nodes behave the same in worker processes: outputs, state and
// error messages.
func TestCodeNodeInWorkerProcesses(t *testing.T) {
	h := newHarness(t, nodes.Services{Sandbox: newProcessSandbox(t, sandbox.Options{Workers: 2})})
	outs, _ := h.mustRun(t, codeSpell("const twice = n => n * 2\nfunction worker(inputs, data) { return { double: twice(inputs.x), label: data.label } }",
		map[string]any{"label": "ok"}), map[string]any{"x": 21.0})
	if outs["double"] != 42.0 || outs["label"] != "ok" {
		t.Fatalf("outputs %v", outs)
	}
	for _, tt := range []struct {
		code string
		cfg  map[string]any
		want string
	}{
		{"function worker(inputs) {\n  throw new Error('no ' + inputs.x)\n}", nil, "node code (Code): code threw Error: no 1 (line 2, column 9)"},
		{"function worker() { while (true) {} }", map[string]any{"timeout": "150ms"}, "node code (Code): code node exceeded its 150ms time limit"},
	} {
		_, rec, err := h.run(context.Background(), codeSpell(tt.code, tt.cfg), map[string]any{"x": 1.0})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("err = %v, want %q", err, tt.want)
		}
		if rec.count("code", graph.NodeFailed) != 1 {
			t.Error("no NodeFailed event for the code node")
		}
	}
}

// The bombs: each fails its own node with the sandbox's error while
// an innocent Code node running at the same time, on the same sandbox,
// completes; the test process (the server) survives them all.
func TestCodeNodeBombsFailTheirNodeOnly(t *testing.T) {
	exponential := "var a = ['x'.repeat(1000)]; for (var k = 0; k < 22; k++) a = [a, a];"
	bombs := []struct{ name, code, want string }{
		{"JSON.stringify", "function worker(i) {" + exponential + " return { double: JSON.stringify(a).length } }", "code node exceeded its memory limit"},
		{"Array.join", "function worker(i) {" + exponential + " return { double: a.join().length } }", "code node exceeded its memory limit"},
		{"catastrophic RegExp", "function worker(i) { return { double: /(a+)+\\1$/.test('a'.repeat(40) + 'b') } }", "code node exceeded its 3s time limit"},
		{"infinite loop", "function worker(i) { for (;;) {} }", "code node exceeded its 3s time limit"},
		{"deep recursion", "function worker(i) { function f(n) { return f(n + 1) + 1 } return { double: f(0) } }", "code node exceeded its call stack limit"},
		{"memory hog", "function worker(i) { var a = []; for (;;) a.push('x'.repeat(1000) + a.length) }", "code node exceeded its memory limit"},
	}
	pool := newProcessSandbox(t, sandbox.Options{Workers: len(bombs) + 1, MemoryBytes: 16 << 20,
		JS: jsvm.Options{Timeout: 3 * time.Second, MaxTimeout: 3 * time.Second}})
	h := newHarness(t, nodes.Services{Sandbox: pool})
	innocent := codeSpell("function worker(inputs, data) { return { double: inputs.x * 2, label: data.label } }", map[string]any{"label": "ok"})

	var wg sync.WaitGroup
	errs := make([]error, len(bombs))
	for i, b := range bombs {
		wg.Go(func() {
			_, _, errs[i] = h.run(context.Background(), codeSpell(b.code, nil), map[string]any{"x": 1.0})
		})
	}
	for n := range 10 {
		outs, _ := h.mustRun(t, innocent, map[string]any{"x": float64(n)})
		if outs["double"] != float64(2*n) {
			t.Fatalf("innocent run %d: outputs %v", n, outs)
		}
	}
	wg.Wait()
	var names []string
	for i, b := range bombs {
		err := errs[i]
		var le *services.LimitError
		ok := errors.As(err, &le) && strings.Contains(err.Error(), "node code (Code): ")
		// Six bombs share two CPUs: a memory bomb may run out of time first.
		if !ok || !(strings.Contains(err.Error(), b.want) || errors.Is(err, services.ErrSandboxTimeout)) {
			t.Errorf("%s: err = %v, want %q", b.name, err, b.want)
		}
		names = append(names, b.name)
	}
	sort.Strings(names)
	if s := pool.Stats(); s.Killed == 0 {
		t.Errorf("stats %+v: no worker was killed by %v", s, names)
	}
	outs, _ := h.mustRun(t, innocent, map[string]any{"x": 4.0})
	if outs["double"] != 8.0 {
		t.Fatalf("after the bombs: outputs %v", outs)
	}
}

// usersSeen records the user of each sandbox call.
type usersSeen struct {
	services.Sandbox
	mu    sync.Mutex
	users []string
}

func (u *usersSeen) Call(ctx context.Context, call services.SandboxCall) (services.SandboxResult, error) {
	u.mu.Lock()
	u.users = append(u.users, call.User)
	u.mu.Unlock()
	return u.Sandbox.Call(ctx, call)
}

// A Code node's activation tells the sandbox whose run it serves, so that
// the pool can share its workers between users.
func TestCodeNodeCallCarriesTheRunsUser(t *testing.T) {
	sb := &usersSeen{Sandbox: jsvm.New(jsvm.Options{})}
	r := &graph.Runner{Catalog: newCatalog(nodes.Services{Sandbox: sb})}
	spell := codeSpell("function worker(inputs) { return { double: inputs.x * 2 } }", nil)
	for _, user := range []string{"alice", ""} {
		if _, err := r.Run(context.Background(), spell, graph.RunRequest{RunID: "r-" + user, User: user, Inputs: map[string]any{"x": 1.0}}); err != nil {
			t.Fatal(err)
		}
	}
	if len(sb.users) != 2 || sb.users[0] != "alice" || sb.users[1] != "" {
		t.Fatalf("sandbox calls' users %q, want alice then the operator's", sb.users)
	}
}
