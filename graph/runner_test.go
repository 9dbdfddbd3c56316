package graph_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/graph"
)

// runCatalog is a handful of node types built for runner tests.
type runCatalog map[string]*graph.NodeType

func (c runCatalog) Lookup(name string) (*graph.NodeType, bool) { t, ok := c[name]; return t, ok }

type runCounters struct {
	mu    sync.Mutex
	calls map[string]int
}

func (c *runCounters) inc(id string) {
	c.mu.Lock()
	c.calls[id]++
	c.mu.Unlock()
}

func (c *runCounters) get(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[id]
}

func tport(n string) graph.Port { return graph.Port{Name: n, Kind: graph.Trigger} }
func dport(n string) graph.Port { return graph.Port{Name: n, Kind: graph.Data, Type: "any"} }

func newRunCatalog(counts *runCounters) runCatalog {
	fn := func(f func(ctx context.Context, a *graph.Activation) (graph.Result, error)) func(*graph.Node) (graph.Worker, error) {
		return func(n *graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(ctx context.Context, a *graph.Activation) (graph.Result, error) {
				counts.inc(a.Node.ID)
				return f(ctx, a)
			}), nil
		}
	}
	return runCatalog{
		"Start": {Name: "Start", Role: graph.RoleTriggerIn, Outputs: []graph.Port{tport("trigger")},
			New: fn(func(context.Context, *graph.Activation) (graph.Result, error) { return graph.Result{}, nil })},
		"In": {Name: "In", Role: graph.RoleInput, Outputs: []graph.Port{dport("output"), tport("trigger")},
			New: fn(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				v, _ := a.RunInput(a.Node.ConfigString("name"))
				return graph.Result{Outputs: graph.Outputs{"output": v}}, nil
			})},
		"Const": {Name: "Const", Outputs: []graph.Port{dport("value")},
			New: fn(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				return graph.Result{Outputs: graph.Outputs{"value": a.Node.Config["value"]}}, nil
			})},
		"Concat": {Name: "Concat", Inputs: []graph.Port{tport("trigger"), dport("a"), dport("b")}, Outputs: []graph.Port{tport("trigger"), dport("out")},
			New: fn(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				x, _ := a.Input("a")
				y, _ := a.Input("b")
				return graph.Result{Outputs: graph.Outputs{"out": fmt.Sprint(x) + fmt.Sprint(y)}}, nil
			})},
		"Gate": {Name: "Gate", Inputs: []graph.Port{tport("trigger"), dport("boolean")}, Outputs: []graph.Port{tport("true"), tport("false")},
			New: fn(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				if v, _ := a.Input("boolean"); v == true {
					return graph.Result{Closed: []string{"false"}}, nil
				}
				return graph.Result{Closed: []string{"true"}}, nil
			})},
		"Sleep": {Name: "Sleep", Inputs: []graph.Port{tport("trigger")}, Outputs: []graph.Port{tport("trigger")},
			New: fn(func(ctx context.Context, a *graph.Activation) (graph.Result, error) {
				select {
				case <-time.After(time.Duration(a.Node.Config["ms"].(float64)) * time.Millisecond):
					return graph.Result{}, nil
				case <-ctx.Done():
					return graph.Result{}, ctx.Err()
				}
			})},
		"Panic": {Name: "Panic", Inputs: []graph.Port{tport("trigger")},
			New: fn(func(context.Context, *graph.Activation) (graph.Result, error) { panic("boom") })},
		"Out": {Name: "Out", Role: graph.RoleOutput, Inputs: []graph.Port{tport("trigger"), dport("input")},
			New: fn(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				v, _ := a.Input("input")
				a.SetRunOutput(a.Node.ConfigString("name"), v)
				return graph.Result{}, nil
			})},
	}
}

func n(id, typ string, cfg map[string]any) graph.Node {
	return graph.Node{ID: id, Type: typ, Config: cfg}
}
func e(from, to string) graph.Edge {
	f, _ := graph.ParsePortRef(from)
	t, _ := graph.ParsePortRef(to)
	return graph.Edge{From: f, To: t}
}

// eventLog records observer events and checks their per-activation order.
type eventLog struct {
	mu     sync.Mutex
	events []graph.NodeEvent
}

func (l *eventLog) ObserveNode(ev graph.NodeEvent) {
	l.mu.Lock()
	l.events = append(l.events, ev)
	l.mu.Unlock()
}

func (l *eventLog) kinds(nodeID string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, ev := range l.events {
		if ev.NodeID == nodeID {
			out = append(out, ev.Kind.String())
		}
	}
	return out
}

func TestRunnerTriggerPushDataPull(t *testing.T) {
	counts := &runCounters{calls: map[string]int{}}
	// One data node pulled by three consumers is evaluated once.
	s := &graph.Spell{ID: "s", Nodes: []graph.Node{
		n("1", "Start", nil),
		n("2", "Const", map[string]any{"value": "x"}),
		n("3", "Concat", nil), n("4", "Concat", nil), n("5", "Concat", nil),
		n("6", "Out", map[string]any{"name": "out"}),
	}, Edges: []graph.Edge{
		e("1.trigger", "3.trigger"), e("3.trigger", "4.trigger"), e("4.trigger", "5.trigger"), e("5.trigger", "6.trigger"),
		e("2.value", "3.a"), e("2.value", "4.a"), e("2.value", "5.a"),
		e("3.out", "4.b"), e("4.out", "5.b"), e("5.out", "6.input"),
	}}
	log := &eventLog{}
	r := &graph.Runner{Catalog: newRunCatalog(counts)}
	res, err := r.Run(context.Background(), s, graph.RunRequest{RunID: "r1", Observer: log})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Outputs["out"]; got != "xxx<nil>" {
		t.Fatalf("out = %v, want xxx<nil>", got)
	}
	if c := counts.get("2"); c != 1 {
		t.Fatalf("data node evaluated %d times, want 1", c)
	}
	if got := strings.Join(log.kinds("3"), ","); got != "started,completed" {
		t.Fatalf("node 3 events = %s", got)
	}
}

func TestRunnerGateClosesBranch(t *testing.T) {
	for _, cond := range []bool{true, false} {
		t.Run(fmt.Sprint(cond), func(t *testing.T) {
			counts := &runCounters{calls: map[string]int{}}
			s := &graph.Spell{ID: "g", Nodes: []graph.Node{
				n("1", "In", map[string]any{"name": "cond"}),
				n("2", "Gate", nil),
				n("3", "Const", map[string]any{"value": "yes"}), n("4", "Const", map[string]any{"value": "nope"}),
				n("5", "Out", map[string]any{"name": "output"}), n("6", "Out", map[string]any{"name": "output"}),
				n("7", "Concat", nil),
			}, Edges: []graph.Edge{
				e("1.trigger", "2.trigger"), e("1.output", "2.boolean"),
				e("2.true", "5.trigger"), e("3.value", "5.input"),
				e("2.false", "7.trigger"), e("7.trigger", "6.trigger"), e("4.value", "6.input"),
			}}
			log := &eventLog{}
			r := &graph.Runner{Catalog: newRunCatalog(counts)}
			res, err := r.Run(context.Background(), s, graph.RunRequest{Inputs: map[string]any{"cond": cond}, Observer: log})
			if err != nil {
				t.Fatal(err)
			}
			want, ran, closed := "nope", "6", "5"
			if cond {
				want, ran, closed = "yes", "5", "6"
			}
			if res.Outputs["output"] != want {
				t.Fatalf("output = %v, want %v", res.Outputs["output"], want)
			}
			if counts.get(ran) != 1 || counts.get(closed) != 0 {
				t.Fatalf("ran %s=%d closed %s=%d", ran, counts.get(ran), closed, counts.get(closed))
			}
			if got := strings.Join(log.kinds(closed), ","); got != "skipped" {
				t.Fatalf("closed branch node events = %q, want skipped", got)
			}
		})
	}
}

func TestRunnerFailures(t *testing.T) {
	loop := &graph.Spell{ID: "loop", Nodes: []graph.Node{n("1", "Start", nil), n("2", "Concat", nil)},
		Edges: []graph.Edge{e("1.trigger", "2.trigger"), e("2.trigger", "2.trigger")}}
	panics := &graph.Spell{ID: "panic", Nodes: []graph.Node{n("1", "Start", nil), n("2", "Panic", nil)},
		Edges: []graph.Edge{e("1.trigger", "2.trigger")}}
	slow := &graph.Spell{ID: "slow", Nodes: []graph.Node{n("1", "Start", nil), n("2", "Sleep", map[string]any{"ms": 5000.0})},
		Edges: []graph.Edge{e("1.trigger", "2.trigger")}}
	for _, tc := range []struct {
		name    string
		spell   *graph.Spell
		limits  func(*graph.Runner)
		cancel  time.Duration
		wantErr error
		want    string
	}{
		{name: "runaway loop", spell: loop, limits: func(r *graph.Runner) { r.MaxActivations = 50 }, wantErr: graph.ErrTooManyActivations, want: "node 2"},
		{name: "panic", spell: panics, want: "node 2 (Panic): panic: boom"},
		{name: "node timeout", spell: slow, limits: func(r *graph.Runner) { r.NodeTimeout = 20 * time.Millisecond }, want: "node timed out after 20ms"},
		{name: "cancelled", spell: slow, cancel: 20 * time.Millisecond, wantErr: context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			counts := &runCounters{calls: map[string]int{}}
			r := &graph.Runner{Catalog: newRunCatalog(counts)}
			if tc.limits != nil {
				tc.limits(r)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancel > 0 {
				time.AfterFunc(tc.cancel, cancel)
			}
			log := &eventLog{}
			start := time.Now()
			_, err := r.Run(ctx, tc.spell, graph.RunRequest{Observer: log})
			if err == nil {
				t.Fatal("run succeeded, want an error")
			}
			if time.Since(start) > 3*time.Second {
				t.Fatalf("run took %v", time.Since(start))
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %q, want it to contain %q", err, tc.want)
			}
			var ne *graph.NodeError
			if tc.wantErr != context.Canceled && (!errors.As(err, &ne) || ne.NodeID != "2") {
				t.Fatalf("err = %v, want a NodeError for node 2", err)
			}
		})
	}
}

func TestRunnerParallelBranches(t *testing.T) {
	counts := &runCounters{calls: map[string]int{}}
	s := &graph.Spell{ID: "par", Nodes: []graph.Node{
		n("1", "Start", nil), n("2", "Sleep", map[string]any{"ms": 200.0}), n("3", "Sleep", map[string]any{"ms": 200.0}),
	}, Edges: []graph.Edge{e("1.trigger", "2.trigger"), e("1.trigger", "3.trigger")}}
	r := &graph.Runner{Catalog: newRunCatalog(counts)}
	start := time.Now()
	if _, err := r.Run(context.Background(), s, graph.RunRequest{}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 380*time.Millisecond {
		t.Fatalf("two 200ms branches took %v: they did not run in parallel", d)
	}
	// With a per-run limit of one they run one after the other.
	r = &graph.Runner{Catalog: newRunCatalog(counts), MaxParallel: 1}
	start = time.Now()
	if _, err := r.Run(context.Background(), s, graph.RunRequest{}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 390*time.Millisecond {
		t.Fatalf("MaxParallel 1 took %v: the limit was not applied", d)
	}
}

type recordedMap map[string]graph.Result

func (m recordedMap) Recorded(path []string, nodeID string, activation int) (graph.Result, string, bool) {
	r, ok := m[fmt.Sprintf("%s#%d", nodeID, activation)]
	return r, "resume", ok
}

func TestRunnerReplaysRecordedActivations(t *testing.T) {
	counts := &runCounters{calls: map[string]int{}}
	s := &graph.Spell{ID: "rec", Nodes: []graph.Node{
		n("1", "Start", nil), n("2", "Const", map[string]any{"value": "a"}), n("3", "Concat", nil), n("4", "Out", map[string]any{"name": "o"}),
	}, Edges: []graph.Edge{e("1.trigger", "3.trigger"), e("2.value", "3.a"), e("3.trigger", "4.trigger"), e("3.out", "4.input")}}
	log := &eventLog{}
	r := &graph.Runner{Catalog: newRunCatalog(counts)}
	res, err := r.Run(context.Background(), s, graph.RunRequest{Observer: log,
		Recorded: recordedMap{"3#1": {Outputs: graph.Outputs{"out": "recorded"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outputs["o"] != "recorded" {
		t.Fatalf("o = %v", res.Outputs["o"])
	}
	if counts.get("3") != 0 {
		t.Fatal("a recorded activation was executed again")
	}
	if got := strings.Join(log.kinds("3"), ","); got != "replayed" {
		t.Fatalf("node 3 events = %s", got)
	}
}

// chainSpell is a Start node followed by n trivial trigger-chained nodes.
func chainSpell(size int, fanOut bool) *graph.Spell {
	s := &graph.Spell{ID: "bench", Nodes: []graph.Node{{ID: "start", Type: "Start"}}}
	prev := "start"
	for i := 0; i < size; i++ {
		id := fmt.Sprintf("n%04d", i)
		s.Nodes = append(s.Nodes, graph.Node{ID: id, Type: "Noop"})
		s.Edges = append(s.Edges, e(prev+".trigger", id+".trigger"))
		if !fanOut {
			prev = id
		}
	}
	return s
}

func benchCatalog() runCatalog {
	noop := graph.WorkerFunc(func(context.Context, *graph.Activation) (graph.Result, error) { return graph.Result{}, nil })
	newNoop := func(*graph.Node) (graph.Worker, error) { return noop, nil }
	return runCatalog{
		"Start": {Name: "Start", Role: graph.RoleTriggerIn, Outputs: []graph.Port{tport("trigger")}, New: newNoop},
		"Noop":  {Name: "Noop", Inputs: []graph.Port{tport("trigger")}, Outputs: []graph.Port{tport("trigger")}, New: newNoop},
	}
}

// BenchmarkRunnerOverhead measures the runner's cost per trivial node, for a
// chain and a fan-out of 1,000 nodes (docs/benchmarks.md).
func BenchmarkRunnerOverhead(b *testing.B) {
	for _, shape := range []struct {
		name   string
		fanOut bool
	}{{"chain1000", false}, {"fanout1000", true}} {
		b.Run(shape.name, func(b *testing.B) {
			r := &graph.Runner{Catalog: benchCatalog(), MaxActivations: 1_000_000}
			p, err := r.Compile(chainSpell(1000, shape.fanOut))
			if err != nil {
				b.Fatal(err)
			}
			var events atomic.Int64
			obs := graph.ObserverFunc(func(graph.NodeEvent) { events.Add(1) })
			b.ReportAllocs()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := r.RunProgram(context.Background(), p, graph.RunRequest{Observer: obs}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			runtime.ReadMemStats(&after)
			nodes := float64(b.N * 1001)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/nodes, "ns/node")
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/nodes, "B/node")
			if events.Load() == 0 {
				b.Fatal("observer saw nothing")
			}
		})
	}
}

type hookKey struct{}

// Each activation's worker runs under the context NodeContext returns, and
// its done hears the worker's error, a panic included.
func TestNodeContextWrapsEachActivation(t *testing.T) {
	counts := &runCounters{calls: map[string]int{}}
	cat := newRunCatalog(counts)
	var seen atomic.Value
	cat["Seen"] = &graph.NodeType{Name: "Seen", Inputs: []graph.Port{tport("trigger")}, Outputs: []graph.Port{tport("trigger"), dport("seen")},
		New: func(*graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(ctx context.Context, a *graph.Activation) (graph.Result, error) {
				seen.Store(ctx.Value(hookKey{}))
				return graph.Result{Outputs: graph.Outputs{"seen": ctx.Value(hookKey{})}}, nil
			}), nil
		}}
	s := &graph.Spell{ID: "h", Nodes: []graph.Node{
		n("1", "Start", nil), n("2", "Seen", nil), n("4", "Panic", nil),
	}, Edges: []graph.Edge{e("1.trigger", "2.trigger"), e("2.trigger", "4.trigger")}}
	var mu sync.Mutex
	ended := map[string]error{}
	hook := func(ctx context.Context, ev graph.NodeEvent) (context.Context, func(error)) {
		if ev.Kind != graph.NodeStarted {
			t.Errorf("hook got a %s event", ev.Kind)
		}
		return context.WithValue(ctx, hookKey{}, "span of "+ev.NodeID), func(err error) {
			mu.Lock()
			ended[ev.NodeID] = err
			mu.Unlock()
		}
	}
	r := &graph.Runner{Catalog: cat}
	_, err := r.Run(context.Background(), s, graph.RunRequest{RunID: "r", NodeContext: hook})
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("run error %v, want the panic", err)
	}
	var got *graph.NodeError
	if !errors.As(err, &got) || got.NodeID != "4" {
		t.Fatalf("error %v names no node 4", err)
	}
	if got := seen.Load(); got != "span of 2" {
		t.Errorf("the worker's context held %v, want the hook's value", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ended) != 3 {
		t.Fatalf("done called for %v, want the 3 activations", ended)
	}
	for _, id := range []string{"1", "2"} {
		if ended[id] != nil {
			t.Errorf("node %s ended with %v", id, ended[id])
		}
	}
	if ended["4"] == nil || !strings.Contains(ended["4"].Error(), "boom") {
		t.Errorf("the panicking node's done got %v", ended["4"])
	}
}
