package sandbox_test

import (
	"context"
	"errors"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/services"
	"github.com/grimoire-run/grimoire/services/jsvm"
	"github.com/grimoire-run/grimoire/services/sandbox"
	"github.com/grimoire-run/grimoire/services/sandboxtest"
)

// TestMain lets the pool start this test binary as its workers.
func TestMain(m *testing.M) {
	sandbox.ExitIfWorker()
	os.Exit(m.Run())
}

func newPool(t testing.TB, o sandbox.Options) *sandbox.Pool {
	t.Helper()
	p, err := sandbox.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

const innocent = `function worker(inputs) { return { out: inputs.n * 2 } }`

func callInnocent(p *sandbox.Pool, n int) error {
	res, err := p.Call(context.Background(), services.SandboxCall{Source: innocent, Args: []any{map[string]any{"n": n}}})
	if err != nil {
		return err
	}
	if want := map[string]any{"out": float64(2 * n)}; !reflect.DeepEqual(res.Value, want) {
		return errors.New("wrong result")
	}
	return nil
}

func TestCallReturnsValuesAndArguments(t *testing.T) {
	p := newPool(t, sandbox.Options{Workers: 1})
	state := map[string]any{"n": 1.0}
	res, err := p.Call(context.Background(), services.SandboxCall{
		Source: `async function worker(inputs, data, state) { state.n += inputs.x; return { sum: state.n, name: data.name } }`,
		Args:   []any{map[string]any{"x": 41}, map[string]any{"name": "n"}, state},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]any{"sum": 42.0, "name": "n"}; !reflect.DeepEqual(res.Value, want) {
		t.Fatalf("value %#v, want %#v", res.Value, want)
	}
	if got := res.Args[2].(map[string]any)["n"]; got != 42.0 || state["n"] != 1.0 {
		t.Fatalf("state after the call %v, caller's %v", got, state["n"])
	}
}

// One worker serves consecutive activations of several users: none sees
// what an earlier one left in its runtime (each gets a pristine one, made
// while the worker waited).
func TestConsecutiveActivationsOnOneWorkerAreIsolated(t *testing.T) {
	p := newPool(t, sandbox.Options{Workers: 1})
	sandboxtest.Isolation(t, p)
	if s := p.Stats(); s.Started != 1 {
		t.Fatalf("%d workers started, want the one worker to serve every call", s.Started)
	}
}

// While one user's slow activations hold every worker and more of them
// wait, another user's activation is served at the first free worker,
// before the flood's queued ones.
func TestAnotherUserIsServedBeforeAFloodsQueue(t *testing.T) {
	p := newPool(t, sandbox.Options{Workers: 2, Prewarm: true})
	slow := services.SandboxCall{User: "alice", Source: `function worker() { var t = Date.now(); while (Date.now() - t < 300) {} return { done: true } }`}
	const flood = 6
	var mu sync.Mutex
	finished := 0
	var wg sync.WaitGroup
	for range flood {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := p.Call(context.Background(), slow); err != nil {
				t.Error(err)
			}
			mu.Lock()
			finished++
			mu.Unlock()
		}()
	}
	defer wg.Wait()
	for p.Stats().Waiting < flood-2 {
		time.Sleep(time.Millisecond)
	}
	res, err := p.Call(context.Background(), services.SandboxCall{User: "bob", Source: innocent, Args: []any{map[string]any{"n": 2}}})
	if err != nil || !reflect.DeepEqual(res.Value, map[string]any{"out": 4.0}) {
		t.Fatalf("bob's call: %v, %v", res.Value, err)
	}
	mu.Lock()
	before := finished
	mu.Unlock()
	// Bob waits for one of the two activations running when he came; the
	// other may end while his runs.
	if before > 2 {
		t.Fatalf("%d of alice's %d activations ended before bob's: bob waited behind her queue", before, flood)
	}
}

// The pool's errors are jsvm's, word for word and by type.
func TestErrorsAreJSVMs(t *testing.T) {
	js := jsvm.Options{Timeout: 200 * time.Millisecond}
	p := newPool(t, sandbox.Options{Workers: 2, JS: js, MemoryBytes: 64 << 20})
	local := jsvm.New(jsvm.Options{Timeout: js.Timeout, MaxHeapGrowth: 64 << 20})
	defer local.Close()
	for _, src := range []string{
		"function worker() {\n  throw new TypeError('bad input')\n}",
		"function worker() { throw 'oops' }",
		"function worker() {\n  return )\n}",
		"function other() {}",
		"async function worker() { throw new Error('later') }",
		"function worker() { while (true) {} }",
		"function worker() { return worker() }",
		"function worker() { return new Array(1e9).fill(0).length }",
		"function worker() { return 'ab'.repeat(1e9).length }",
		"function worker() { return require('fs') }",
		"function worker() { var a = []; for (;;) a.push({s: 'x' + a.length}) }",
	} {
		_, want := local.Call(context.Background(), services.SandboxCall{Source: src})
		_, got := p.Call(context.Background(), services.SandboxCall{Source: src})
		if want == nil || got == nil || got.Error() != want.Error() || reflect.TypeOf(got) != reflect.TypeOf(want) {
			t.Errorf("%s:\n got  %v (%T)\n want %v (%T)", src, got, got, want, want)
		}
		for _, kind := range []error{services.ErrSandboxTimeout, services.ErrSandboxMemory, services.ErrSandboxStack, services.ErrSandboxSize} {
			if errors.Is(got, kind) != errors.Is(want, kind) {
				t.Errorf("%s: errors.Is(%v) differs", src, kind)
			}
		}
	}
}

// exponential builds a structure of 2^22 references to one 1000-character
// string: tiny to build, gigabytes once a builtin walks it.
const exponential = `var a = ['x'.repeat(1000)]; for (var k = 0; k < 22; k++) a = [a, a];`

// A bomb's kind is the limit it ends with on an idle machine. On two
// shared cores under the race detector a memory bomb may run out of time
// first, and the backtracking RegExp allocates its stack as it goes: those
// accept either (TestNativeAllocationEndsWithTheMemoryError pins the
// memory path).
var bombs = []struct {
	name    string
	src     string
	timeout time.Duration
	kind    error
	message string
}{
	{"JSON.stringify of an exponential structure", "function worker() {" + exponential + " return { r: JSON.stringify(a).length } }", 0,
		services.ErrSandboxMemory, "exceeded its memory limit"},
	{"Array.join of an exponential structure", "function worker() {" + exponential + " return { r: a.join().length } }", 0,
		services.ErrSandboxMemory, "exceeded its memory limit"},
	// goja runs /(a+)+$/ on Go's linear-time regexp engine; the
	// backreference sends this one to the backtracking engine.
	{"catastrophic RegExp", "function worker() { return { r: /(a+)+\\1$/.test('a'.repeat(40) + 'b') } }", 0,
		services.ErrSandboxTimeout, "exceeded its 3s time limit"},
	{"infinite loop", "function worker() { for (;;) {} }", 0, services.ErrSandboxTimeout, "exceeded its 3s time limit"},
	{"deep recursion", "function worker() { function f(n) { return f(n + 1) + 1 } return f(0) }", 0,
		services.ErrSandboxStack, "call stack limit"},
	{"huge timeout request", "function worker() { for (;;) {} }", 87600 * time.Hour, services.ErrSandboxTimeout, "exceeded its 3s time limit"},
	{"memory hog", "function worker() { var a = []; for (;;) a.push('x'.repeat(1000) + a.length) }", 0,
		services.ErrSandboxMemory, "exceeded its memory limit"},
}

// endedAs: err is the limit error of kind with message, or (for a bomb
// that allocates) the memory or time limit's.
func endedAs(err error, name string, kind error, message string) bool {
	var le *services.LimitError
	if !errors.As(err, &le) {
		return false
	}
	if errors.Is(err, kind) && strings.Contains(err.Error(), message) {
		return true
	}
	mayEitherWay := kind == services.ErrSandboxMemory || strings.Contains(name, "RegExp")
	return mayEitherWay && (errors.Is(err, services.ErrSandboxMemory) || errors.Is(err, services.ErrSandboxTimeout))
}

// A builtin that allocates in one native call ends with jsvm's memory
// error when it has time to reach the allowance: the worker's guard (or
// RLIMIT_AS) ends the process and the pool reports the memory limit.
func TestNativeAllocationEndsWithTheMemoryError(t *testing.T) {
	p := newPool(t, sandbox.Options{Workers: 1, MemoryBytes: 16 << 20, JS: jsvm.Options{MaxTimeout: time.Minute}})
	before := p.Stats()
	_, err := p.Call(context.Background(), services.SandboxCall{Source: bombs[0].src, Timeout: time.Minute})
	if !errors.Is(err, services.ErrSandboxMemory) || err.Error() != "exceeded its memory limit (its heap grew by more than 16 MiB)" {
		t.Fatalf("err = %v, want jsvm's memory error", err)
	}
	if after := p.Stats(); after.Killed != before.Killed+1 {
		t.Fatalf("stats %+v then %+v: the worker was not killed", before, after)
	}
	if err := callInnocent(p, 5); err != nil {
		t.Fatal(err)
	}
}

// A worker whose call was stopped at its memory limit is replaced, so that
// the heap it left cannot count against the next call (another user's):
// after each memory bomb on the only worker, an innocent call succeeds on
// a fresh process.
func TestWorkerIsReplacedAfterAMemoryLimit(t *testing.T) {
	p := newPool(t, bombOptions(1))
	for _, b := range bombs {
		if b.kind != services.ErrSandboxMemory {
			continue
		}
		before := p.Stats()
		_, err := p.Call(context.Background(), services.SandboxCall{Source: b.src, User: "mallory"})
		if !errors.Is(err, services.ErrSandboxMemory) {
			t.Logf("%s ended with %v, not at its memory limit", b.name, err)
			continue
		}
		if after := p.Stats(); after.Killed != before.Killed+1 {
			t.Errorf("%s: stats %+v then %+v: the worker was kept after its memory limit", b.name, before, after)
		}
		if err := callInnocent(p, 3); err != nil {
			t.Errorf("innocent call after %s: %v", b.name, err)
		}
	}
}

func bombOptions(workers int) sandbox.Options {
	// 16 MiB: the memory bombs reach it well within their 3s, even under
	// the race detector.
	return sandbox.Options{Workers: workers, MemoryBytes: 16 << 20, JS: jsvm.Options{Timeout: 3 * time.Second, MaxTimeout: 3 * time.Second}}
}

// Each bomb ends as its limit's error, promptly, while innocent calls on
// the same pool keep succeeding.
func TestBombsFailCleanlyBesideAnInnocentCall(t *testing.T) {
	p := newPool(t, bombOptions(2))
	for _, bomb := range bombs {
		t.Run(bomb.name, func(t *testing.T) {
			stop := make(chan struct{})
			innocentErr := make(chan error, 1)
			go func() {
				n := 0
				for {
					select {
					case <-stop:
						innocentErr <- nil
						return
					default:
					}
					if err := callInnocent(p, n); err != nil {
						innocentErr <- err
						return
					}
					n++
				}
			}()
			start := time.Now()
			_, err := p.Call(context.Background(), services.SandboxCall{Source: bomb.src, Timeout: bomb.timeout})
			took := time.Since(start)
			close(stop)
			if ierr := <-innocentErr; ierr != nil {
				t.Errorf("an innocent call beside the bomb failed: %v", ierr)
			}
			if !endedAs(err, bomb.name, bomb.kind, bomb.message) {
				t.Fatalf("err = %v (%T), want a LimitError %v containing %q", err, err, bomb.kind, bomb.message)
			}
			if took > 5*time.Second {
				t.Errorf("took %s", took)
			}
		})
	}
	if err := callInnocent(p, 1); err != nil {
		t.Fatalf("the pool no longer serves: %v", err)
	}
}

// All the bombs at once, and innocent calls among them.
func TestBombsAtOnce(t *testing.T) {
	p := newPool(t, bombOptions(len(bombs)+1))
	var wg sync.WaitGroup
	errs := make([]error, len(bombs))
	for i, bomb := range bombs {
		wg.Go(func() {
			_, errs[i] = p.Call(context.Background(), services.SandboxCall{Source: bomb.src, Timeout: bomb.timeout})
		})
	}
	for n := range 20 {
		if err := callInnocent(p, n); err != nil {
			t.Errorf("innocent call %d: %v", n, err)
		}
	}
	wg.Wait()
	for i, bomb := range bombs {
		if !endedAs(errs[i], bomb.name, bomb.kind, bomb.message) {
			t.Errorf("%s: err = %v, want %v", bomb.name, errs[i], bomb.kind)
		}
	}
}

// A worker that a bomb wrecked is killed and replaced: the pool of one
// keeps serving.
func TestWreckedWorkerIsReplaced(t *testing.T) {
	p := newPool(t, bombOptions(1))
	if err := callInnocent(p, 1); err != nil {
		t.Fatal(err)
	}
	// JSON.stringify and the RegExp run in one native call that jsvm cannot
	// interrupt: each wrecks its process.
	for _, bomb := range []int{0, 2} {
		bomb := bombs[bomb]
		before := p.Stats()
		if _, err := p.Call(context.Background(), services.SandboxCall{Source: bomb.src}); !endedAs(err, bomb.name, bomb.kind, bomb.message) {
			t.Fatalf("%s: err = %v", bomb.name, err)
		}
		if err := callInnocent(p, 2); err != nil {
			t.Fatalf("after %s: %v", bomb.name, err)
		}
		// The replacement may race the next call's own start; the spare
		// is killed, so at most one process lives.
		after := p.Stats()
		if after.Killed <= before.Killed || after.Started <= before.Started || after.Live > 1 {
			t.Errorf("%s: stats %+v then %+v, want the worker killed and another started", bomb.name, before, after)
		}
	}
	// A limit jsvm enforces by itself leaves the worker usable.
	for _, bomb := range []int{3, 4} { // infinite loop, recursion
		bomb := bombs[bomb]
		before := p.Stats()
		if _, err := p.Call(context.Background(), services.SandboxCall{Source: bomb.src}); !errors.Is(err, bomb.kind) {
			t.Fatalf("%s: %v", bomb.name, err)
		}
		if after := p.Stats(); after.Killed != before.Killed {
			t.Errorf("%s replaced the worker: %+v then %+v", bomb.name, before, after)
		}
	}
}

// Close kills a worker in the middle of a bomb and returns at once; the
// bomb's call returns ErrClosed.
func TestCloseDoesNotWaitForABomb(t *testing.T) {
	p, err := sandbox.New(sandbox.Options{Workers: 1, JS: jsvm.Options{MaxTimeout: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	if err := callInnocent(p, 1); err != nil { // a worker is up
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := p.Call(context.Background(), services.SandboxCall{Source: bombs[2].src, Timeout: time.Minute})
		done <- err
	}()
	for p.Stats().Started < 1 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	p.Close()
	if took := time.Since(start); took > time.Second {
		t.Fatalf("Close took %s", took)
	}
	select {
	case err := <-done:
		if !errors.Is(err, sandbox.ErrClosed) {
			t.Fatalf("the bomb's call: %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the bomb's call did not return after Close")
	}
	if err := callInnocent(p, 1); !errors.Is(err, sandbox.ErrClosed) {
		t.Fatalf("a call after Close: %v", err)
	}
}

func TestContextCancelStopsCall(t *testing.T) {
	p := newPool(t, sandbox.Options{Workers: 1, JS: jsvm.Options{Timeout: 10 * time.Second}})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := p.Call(ctx, services.SandboxCall{Source: "function worker() { for (;;) {} }"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's deadline", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("took %s", took)
	}
	if err := callInnocent(p, 3); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentCalls(t *testing.T) {
	p := newPool(t, sandbox.Options{Workers: 2})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() { errs <- callInnocent(p, i) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if s := p.Stats(); s.Started > 2 {
		t.Errorf("%d workers started for a pool of 2", s.Started)
	}
}

// A program that is not a worker is reported as such.
func TestWorkerThatDoesNotStart(t *testing.T) {
	p := newPool(t, sandbox.Options{Workers: 1, Command: []string{"/bin/sh", "-c", "echo not a sandbox >&2; exit 7"}})
	err := callInnocent(p, 1)
	if err == nil || !strings.Contains(err.Error(), "did not start") || !strings.Contains(err.Error(), "not a sandbox") {
		t.Fatalf("err = %v", err)
	}
}

func TestSyntaxAndMaxTimeout(t *testing.T) {
	p := newPool(t, sandbox.Options{JS: jsvm.Options{MaxTimeout: 3 * time.Second}})
	var se *services.ScriptError
	if err := p.CheckSyntax("function worker( {"); !errors.As(err, &se) || se.Name != "SyntaxError" {
		t.Fatalf("CheckSyntax: %v", err)
	}
	if p.MaxTimeout() != 3*time.Second {
		t.Fatalf("MaxTimeout %s", p.MaxTimeout())
	}
	if s := p.Stats(); s.Started != 0 {
		t.Fatalf("a syntax check started %d workers", s.Started)
	}
}

// A worker never starts workers.
func TestWorkerCannotStartAPool(t *testing.T) {
	t.Setenv("GRIMOIRE_SANDBOX_WORKER", "{}")
	if _, err := sandbox.New(sandbox.Options{}); err == nil || !strings.Contains(err.Error(), "ExitIfWorker") {
		t.Fatalf("err = %v", err)
	}
}
