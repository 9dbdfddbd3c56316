package nodes_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/nodes"
	"github.com/grimoire-run/grimoire/services/jsvm"
)

// testCatalog is the real registry plus a few node types that only tests
// need (slow, panicking, counting).
type testCatalog struct {
	reg   *nodes.Registry
	extra map[string]*graph.NodeType
}

func (c *testCatalog) Lookup(name string) (*graph.NodeType, bool) {
	if t, ok := c.extra[name]; ok {
		return t, true
	}
	return c.reg.Lookup(name)
}

var sleepCalls atomic.Int64

func newCatalog(svcs nodes.Services) *testCatalog {
	pass := func(context.Context, *graph.Activation) (graph.Result, error) { return graph.Result{}, nil }
	c := &testCatalog{reg: nodes.NewRegistry(svcs), extra: map[string]*graph.NodeType{}}
	c.extra["Test Pass"] = &graph.NodeType{
		Name: "Test Pass", Inputs: []graph.Port{{Name: "trigger", Kind: graph.Trigger}},
		Outputs: []graph.Port{{Name: "trigger", Kind: graph.Trigger}},
		New:     func(*graph.Node) (graph.Worker, error) { return graph.WorkerFunc(pass), nil },
	}
	// Test Sleep waits config "ms" milliseconds (honouring cancellation)
	// and outputs config "value".
	c.extra["Test Sleep"] = &graph.NodeType{
		Name: "Test Sleep", Inputs: []graph.Port{{Name: "trigger", Kind: graph.Trigger}},
		Outputs: []graph.Port{{Name: "trigger", Kind: graph.Trigger}, {Name: "output", Kind: graph.Data, Type: "any"}},
		New: func(n *graph.Node) (graph.Worker, error) {
			ms, _ := n.Config["ms"].(float64)
			return graph.WorkerFunc(func(ctx context.Context, a *graph.Activation) (graph.Result, error) {
				sleepCalls.Add(1)
				select {
				case <-time.After(time.Duration(ms) * time.Millisecond):
				case <-ctx.Done():
					return graph.Result{}, ctx.Err()
				}
				return graph.Result{Outputs: graph.Outputs{"output": n.Config["value"]}}, nil
			}), nil
		},
	}
	c.extra["Test Panic"] = &graph.NodeType{
		Name: "Test Panic", Inputs: []graph.Port{{Name: "trigger", Kind: graph.Trigger}},
		Outputs: []graph.Port{{Name: "trigger", Kind: graph.Trigger}},
		New: func(*graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(context.Context, *graph.Activation) (graph.Result, error) {
				var m map[string]int
				m["boom"] = 1 // nil map write: a real runtime panic
				return graph.Result{}, nil
			}), nil
		},
	}
	return c
}

// recorder is an Observer that keeps every event.
type recorder struct {
	mu     sync.Mutex
	events []graph.NodeEvent
}

func (r *recorder) ObserveNode(e graph.NodeEvent) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

// count returns how many events of a kind a node got (at top level, or in
// the sub-spell under path when given).
func (r *recorder) count(nodeID string, kind graph.NodeEventKind) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e.NodeID == nodeID && e.Kind == kind && len(e.Path) == 0 {
			n++
		}
	}
	return n
}

func (r *recorder) find(nodeID string, kind graph.NodeEventKind) (graph.NodeEvent, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e.NodeID == nodeID && e.Kind == kind && len(e.Path) == 0 {
			return e, true
		}
	}
	return graph.NodeEvent{}, false
}

func (r *recorder) chunks(nodeID string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if e.NodeID == nodeID && e.Kind == graph.NodeChunk {
			out = append(out, e.Chunk)
		}
	}
	return out
}

// assertSkipped checks that a node never started and was reported skipped.
func (r *recorder) assertSkipped(t *testing.T, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if n := r.count(id, graph.NodeStarted); n != 0 {
			t.Errorf("node %s started %d times; it is downstream of a closed output and must not run", id, n)
		}
		if n := r.count(id, graph.NodeSkipped); n != 1 {
			t.Errorf("node %s: %d NodeSkipped events, want 1", id, n)
		}
	}
}

// spellBuilder writes spells compactly in tests.
type spellBuilder struct{ s graph.Spell }

func newSpell(id string) *spellBuilder { return &spellBuilder{s: graph.Spell{ID: id, Name: id}} }

func (b *spellBuilder) node(id, typ string, cfg map[string]any, ports ...graph.PortDecl) *spellBuilder {
	n := graph.Node{ID: id, Type: typ, Config: cfg}
	for _, p := range ports {
		if strings.HasPrefix(p.Key, "out:") {
			p.Key = strings.TrimPrefix(p.Key, "out:")
			n.Outputs = append(n.Outputs, p)
		} else {
			n.Inputs = append(n.Inputs, p)
		}
	}
	b.s.Nodes = append(b.s.Nodes, n)
	return b
}

// edge adds edges "a.port>b.port".
func (b *spellBuilder) edge(specs ...string) *spellBuilder {
	for _, spec := range specs {
		from, to, _ := strings.Cut(spec, ">")
		f, err := graph.ParsePortRef(from)
		if err != nil {
			panic(err)
		}
		tt, err := graph.ParsePortRef(to)
		if err != nil {
			panic(err)
		}
		b.s.Edges = append(b.s.Edges, graph.Edge{From: f, To: tt})
	}
	return b
}

func (b *spellBuilder) build() *graph.Spell { s := b.s; return &s }

// Declared ports: in("x") / out("x") for data, tin / tout for triggers.
func in(key string) graph.PortDecl   { return graph.PortDecl{Key: key, Kind: graph.Data} }
func out(key string) graph.PortDecl  { return graph.PortDecl{Key: "out:" + key, Kind: graph.Data} }
func tin(key string) graph.PortDecl  { return graph.PortDecl{Key: key, Kind: graph.Trigger} }
func tout(key string) graph.PortDecl { return graph.PortDecl{Key: "out:" + key, Kind: graph.Trigger} }

func named(d graph.PortDecl, name string) graph.PortDecl { d.Name = name; return d }

type spellMap map[string]*graph.Spell

func (m spellMap) LoadSpell(_ context.Context, _, ref string) (*graph.Spell, error) {
	if s, ok := m[ref]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("spell %q not found", ref)
}

type harness struct {
	t       *testing.T
	catalog *testCatalog
	runner  *graph.Runner
}

func newHarness(t *testing.T, svcs nodes.Services) *harness {
	t.Helper()
	if svcs.Sandbox == nil {
		sb := jsvm.New(jsvm.Options{})
		t.Cleanup(func() { sb.Close() })
		svcs.Sandbox = sb
	}
	c := newCatalog(svcs)
	return &harness{t: t, catalog: c, runner: &graph.Runner{Catalog: c, NodeTimeout: 10 * time.Second}}
}

func (h *harness) run(ctx context.Context, s *graph.Spell, inputs map[string]any) (*graph.RunResult, *recorder, error) {
	rec := &recorder{}
	res, err := h.runner.Run(ctx, s, graph.RunRequest{RunID: "run-" + s.ID, Inputs: inputs, Observer: rec})
	return res, rec, err
}

func (h *harness) mustRun(t *testing.T, s *graph.Spell, inputs map[string]any) (map[string]any, *recorder) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rec := &recorder{}
	res, err := h.runner.Run(ctx, s, graph.RunRequest{RunID: "run-" + s.ID, Inputs: inputs, Observer: rec})
	if err != nil {
		t.Fatalf("run %s: %v", s.ID, err)
	}
	return res.Outputs, rec
}

func (c *testCatalog) Types() []*graph.NodeType { return c.reg.Types() }
