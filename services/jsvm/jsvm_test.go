package jsvm_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/internal/benchstat"
	"github.com/grimoire-run/grimoire/services"
	"github.com/grimoire-run/grimoire/services/jsvm"
	"github.com/grimoire-run/grimoire/services/sandboxtest"
)

func newSandbox(t *testing.T, o jsvm.Options) *jsvm.Sandbox {
	t.Helper()
	s := jsvm.New(o)
	t.Cleanup(func() { s.Close() })
	return s
}

func TestCallReturnsValues(t *testing.T) {
	s := newSandbox(t, jsvm.Options{})
	tests := []struct {
		name string
		src  string
		args []any
		want any
	}{
		{"object", `function worker(inputs, data, state) { return { out: inputs.a + 1, name: data.name } }`,
			[]any{map[string]any{"a": 41}, map[string]any{"name": "n"}, map[string]any{}},
			map[string]any{"out": 42.0, "name": "n"}},
		{"string", `function worker(i) { return i.s.toUpperCase() }`, []any{map[string]any{"s": "abc"}}, "ABC"},
		{"undefined is nil", `function worker() {}`, nil, nil},
		{"async function", `async function worker(i) { return await Promise.resolve(i.x * 2) }`, []any{map[string]any{"x": 4}}, 8.0},
		{"array", `function worker() { return [1, "a", true, null] }`, nil, []any{1.0, "a", true, nil}},
		{"other entry", `function main() { return 1 }`, nil, 1.0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			call := services.SandboxCall{Source: tt.src, Args: tt.args}
			if tt.name == "other entry" {
				call.Function = "main"
			}
			res, err := s.Call(context.Background(), call)
			if err != nil {
				t.Fatalf("Call: %v", err)
			}
			if !reflect.DeepEqual(res.Value, tt.want) {
				t.Fatalf("got %#v, want %#v", res.Value, tt.want)
			}
		})
	}
}

func TestArgsComeBackMutatedButCallerValuesUntouched(t *testing.T) {
	s := newSandbox(t, jsvm.Options{})
	state := map[string]any{"n": 1.0}
	res, err := s.Call(context.Background(), services.SandboxCall{
		Source: `function worker(inputs, data, state) { state.n += 1; inputs.x = 5; return state.n }`,
		Args:   []any{map[string]any{}, map[string]any{}, state},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Value != 2.0 {
		t.Fatalf("value %v", res.Value)
	}
	if state["n"] != 1.0 {
		t.Fatalf("caller's map was changed: %v", state)
	}
	if got := res.Args[2].(map[string]any)["n"]; got != 2.0 {
		t.Fatalf("state after call %v", got)
	}
}

func TestErrors(t *testing.T) {
	s := newSandbox(t, jsvm.Options{Timeout: 200 * time.Millisecond, MaxHeapGrowth: 64 << 20})
	tests := []struct {
		name     string
		src      string
		kind     error // LimitError kind, or nil for ScriptError
		contains []string
		line     int
	}{
		{"thrown error", "function worker() {\n  throw new TypeError('bad input')\n}", nil, []string{"TypeError", "bad input", "line 2"}, 2},
		{"thrown string", "function worker() { throw 'oops' }", nil, []string{"oops"}, 1},
		{"syntax error", "function worker() {\n  return )\n}", nil, []string{"SyntaxError", "line 2"}, 2},
		{"missing worker", "function other() {}", nil, []string{"must define a function named worker"}, 0},
		{"rejected promise", "async function worker() { throw new Error('later') }", nil, []string{"later"}, 0},
		{"infinite loop", "function worker() { while (true) {} }", services.ErrSandboxTimeout, []string{"exceeded its 200ms time limit"}, 0},
		{"infinite loop in callback", "function worker() { [1].map(function(){ for(;;){} }) }", services.ErrSandboxTimeout, []string{"time limit"}, 0},
		{"loop at top level", "while (true) {}", services.ErrSandboxTimeout, []string{"time limit"}, 0},
		{"caught timeout still stops", "function worker() { try { while (true) {} } catch (e) { return 'escaped' } }", services.ErrSandboxTimeout, []string{"time limit"}, 0},
		{"recursion", "function worker() { return worker() }", services.ErrSandboxStack, []string{"call stack limit"}, 0},
		{"huge fill", "function worker() { return new Array(1e9).fill(0).length }", services.ErrSandboxSize, []string{"array of 1000000000 elements"}, 0},
		{"huge repeat", "function worker() { return 'ab'.repeat(1e9).length }", services.ErrSandboxSize, []string{"string of 2000000000"}, 0},
		{"huge apply", "function worker() { return Math.max.apply(null, new Array(1e9)) }", services.ErrSandboxSize, []string{"array"}, 0},
		{"caught size limit still stops", "function worker() { try { new Array(1e9).join() } catch (e) { return 'escaped' } }", services.ErrSandboxSize, []string{"array"}, 0},
		{"no typed arrays", "function worker() { return new Uint8Array(1e9) }", nil, []string{"TypeError"}, 1},
		{"no require", "function worker() { return require('fs') }", nil, []string{"ReferenceError", "require"}, 1},
		{"no process", "function worker() { return process.env }", nil, []string{"ReferenceError", "process"}, 1},
		{"no timers", "function worker() { setTimeout(function(){}, 1) }", nil, []string{"ReferenceError", "setTimeout"}, 1},
		{"cyclic result", "function worker() { var o = {}; o.o = o; return o }", nil, []string{"TypeError"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, err := s.Call(context.Background(), services.SandboxCall{Source: tt.src})
			if err == nil {
				t.Fatal("want an error")
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("took %s", took)
			}
			for _, c := range tt.contains {
				if !strings.Contains(err.Error(), c) {
					t.Errorf("error %q does not contain %q", err, c)
				}
			}
			if tt.kind != nil {
				var le *services.LimitError
				if !errors.As(err, &le) || !errors.Is(err, tt.kind) {
					t.Fatalf("error %v (%T): want a LimitError for %v", err, err, tt.kind)
				}
				return
			}
			var se *services.ScriptError
			if !errors.As(err, &se) {
				t.Fatalf("error %v (%T): want a ScriptError", err, err)
			}
			if tt.line != 0 && se.Line != tt.line {
				t.Errorf("line %d, want %d", se.Line, tt.line)
			}
		})
	}
}

func TestMemoryGrowthIsStopped(t *testing.T) {
	s := newSandbox(t, jsvm.Options{Timeout: 20 * time.Second, MaxHeapGrowth: 32 << 20})
	start := time.Now()
	_, err := s.Call(context.Background(), services.SandboxCall{
		Source: "function worker() { var a = []; for (;;) a.push({s: 'x' + a.length}) }"})
	if !errors.Is(err, services.ErrSandboxMemory) || !strings.Contains(err.Error(), "memory limit") {
		t.Fatalf("err = %v, want the memory limit", err)
	}
	t.Logf("stopped after %s", time.Since(start))
}

// TestGarbageIsNotCountedAsMemory: a loop that allocates temporaries and
// drops them allocates far more than the bound in total, yet keeps almost
// nothing; it runs to completion.
func TestGarbageIsNotCountedAsMemory(t *testing.T) {
	s := newSandbox(t, jsvm.Options{Timeout: time.Minute, MaxHeapGrowth: 32 << 20})
	before := allocated()
	res, err := s.Call(context.Background(), services.SandboxCall{
		Source: "function worker() { let n = 0; for (let i = 0; i < 300000; i++) { const o = {s: 'x' + i, d: Date.now()}; n += o.s.length } return {n: n} }"})
	if err != nil {
		t.Fatalf("a loop that keeps nothing was stopped: %v", err)
	}
	if m, ok := res.Value.(map[string]any); !ok || m["n"] == nil {
		t.Errorf("result %#v", res.Value)
	}
	if total := allocated() - before; total < 64<<20 {
		t.Fatalf("the loop allocated only %d MiB in total; the test needs well over the 32 MiB bound", total>>20)
	}
}

// allocated is the process's cumulative heap allocation.
func allocated() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}

func TestNoStateLeaksBetweenCalls(t *testing.T) {
	s := newSandbox(t, jsvm.Options{})
	src := `var counter = (typeof counter === 'number') ? counter : 0;
Array.prototype.polluted = (Array.prototype.polluted || 0) + 1;
function worker() { counter++; globalThis.leak = (globalThis.leak || 0) + 1; return [counter, leak, Array.prototype.polluted] }`
	for i := 0; i < 3; i++ {
		res, err := s.Call(context.Background(), services.SandboxCall{Source: src})
		if err != nil {
			t.Fatal(err)
		}
		if want := []any{1.0, 1.0, 1.0}; !reflect.DeepEqual(res.Value, want) {
			t.Fatalf("call %d: got %v, want %v (state leaked)", i, res.Value, want)
		}
	}
}

func TestContextCancelStopsCall(t *testing.T) {
	s := newSandbox(t, jsvm.Options{Timeout: 10 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := s.Call(ctx, services.SandboxCall{Source: "function worker() { for (;;) {} }"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context deadline", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("took %s", took)
	}
}

func TestConcurrentCalls(t *testing.T) {
	s := newSandbox(t, jsvm.Options{})
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		go func(i int) {
			res, err := s.Call(context.Background(), services.SandboxCall{
				Source: `function worker(i) { var s = 0; for (var k = 0; k < 1000; k++) s += k; return s + i.n }`,
				Args:   []any{map[string]any{"n": i}},
			})
			if err == nil && res.Value != float64(499500+i) {
				err = errors.New("wrong result")
			}
			errs <- err
		}(i)
	}
	for i := 0; i < 8; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// BenchmarkCall measures one call in a fresh runtime (the isolation model):
// runtime creation, guards, argument copy-in and result copy-out.
func BenchmarkCall(b *testing.B) {
	s := jsvm.New(jsvm.Options{})
	defer s.Close()
	call := services.SandboxCall{
		Source: `function worker(inputs, data, state) { return { out: inputs.text.toUpperCase() } }`,
		Args:   []any{map[string]any{"text": "hello"}, map[string]any{}, map[string]any{}},
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Call(ctx, call); err != nil {
			b.Fatal(err)
		}
	}
}

func TestConsecutiveCallsAreIsolated(t *testing.T) {
	for _, spares := range []int{0, 1, 2} {
		t.Run(fmt.Sprintf("spares=%d", spares), func(t *testing.T) {
			s := newSandbox(t, jsvm.Options{Spares: spares})
			if err := s.Prepare(); err != nil {
				t.Fatal(err)
			}
			sandboxtest.Isolation(t, s)
		})
	}
}

// BenchmarkCallWithASpare measures a call that finds its runtime made
// (Options.Spares): what a sandbox worker's activation costs on its path
// when it had a moment since the last one (docs/benchmarks.md):
//
//	go test -run '^$' -bench BenchmarkCallWithASpare -benchtime 2000x ./services/jsvm/
func BenchmarkCallWithASpare(b *testing.B) {
	s := jsvm.New(jsvm.Options{Spares: 1})
	defer s.Close()
	call := services.SandboxCall{
		Source: `function worker(inputs, data, state) { return { out: inputs.text.toUpperCase() } }`,
		Args:   []any{map[string]any{"text": "hello"}, map[string]any{}, map[string]any{}},
	}
	ctx := context.Background()
	took := make([]time.Duration, 0, b.N)
	for b.Loop() {
		b.StopTimer()
		if err := s.Prepare(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0 := time.Now()
		if _, err := s.Call(ctx, call); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(t0))
	}
	slices.Sort(took)
	b.ReportMetric(float64(benchstat.Percentile(took, 0.50).Microseconds()), "p50-µs")
	b.ReportMetric(float64(benchstat.Percentile(took, 0.99).Microseconds()), "p99-µs")
}
