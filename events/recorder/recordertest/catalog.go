// Package recordertest is a small catalog of node types for tests and
// benchmarks of recording, running and resuming spells, so that those tests
// do not depend on the real node types in package nodes.
//
// It imports graph and the standard library only; production code must not
// import it.
package recordertest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/grimoire-run/grimoire/graph"
)

// Node type names.
const (
	TypeStart  = "Test Start"  // trigger-in: where a run starts
	TypeInput  = "Test Input"  // input: reads the run input named by config "name"
	TypeWork   = "Test Work"   // trigger run → done; waits config "delay" (a duration), emits config "tokens" tokens, passes data "in" to "out" with ">id" appended (and config "pad" bytes of padding, for large outputs)
	TypeBranch = "Test Branch" // trigger run; fires "yes", closes "no"
	TypeOutput = "Test Output" // output, trigger run: sets the run output named by config "name" from its "value" input
)

// Options change how the catalog's nodes behave.
type Options struct {
	// OnExec is called at the start of every executed (not replayed)
	// activation of a Work node.
	OnExec func(nodeID string)
	// Spin makes Work nodes busy-wait their delay instead of sleeping
	// (more exact for benchmarks of short delays).
	Spin bool
}

// Catalog is a graph.Catalog of the test node types.
type Catalog struct {
	types map[string]*graph.NodeType
}

// Lookup implements graph.Catalog.
func (c *Catalog) Lookup(name string) (*graph.NodeType, bool) {
	t, ok := c.types[name]
	return t, ok
}

// NewCatalog builds the catalog.
func NewCatalog(opts Options) *Catalog {
	trig := func(name string) graph.Port { return graph.Port{Name: name, Kind: graph.Trigger} }
	data := func(name string) graph.Port { return graph.Port{Name: name, Kind: graph.Data, Type: "any"} }
	fixed := func(w graph.WorkerFunc) func(*graph.Node) (graph.Worker, error) {
		return func(*graph.Node) (graph.Worker, error) { return w, nil }
	}
	types := []*graph.NodeType{
		{
			Name: TypeStart, Role: graph.RoleTriggerIn, Family: "flow",
			Outputs: []graph.Port{trig("out")},
			Config:  []graph.ConfigField{{Name: "name", Type: "string"}},
			New: fixed(func(context.Context, *graph.Activation) (graph.Result, error) {
				return graph.Result{}, nil
			}),
		},
		{
			Name: TypeInput, Role: graph.RoleInput, Family: "io",
			Outputs: []graph.Port{data("value")},
			Config:  []graph.ConfigField{{Name: "name", Type: "string", Required: true}},
			New: func(n *graph.Node) (graph.Worker, error) {
				name := n.ConfigString("name")
				return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
					v, _ := a.RunInput(name)
					return graph.Result{Outputs: graph.Outputs{"value": v}}, nil
				}), nil
			},
		},
		{
			Name: TypeWork, Family: "flow",
			Inputs:  []graph.Port{trig("run"), data("in")},
			Outputs: []graph.Port{trig("done"), data("out")},
			Config: []graph.ConfigField{
				{Name: "delay", Type: "string", Doc: "a Go duration"},
				{Name: "tokens", Type: "number"},
				{Name: "fail", Type: "boolean"},
				{Name: "pad", Type: "number", Doc: "bytes of padding appended to the output"},
			},
			New: func(n *graph.Node) (graph.Worker, error) {
				var delay time.Duration
				if d := n.ConfigString("delay"); d != "" {
					var err error
					if delay, err = time.ParseDuration(d); err != nil {
						return nil, fmt.Errorf("config delay: %w", err)
					}
				}
				tokens, pad := configInt(n.Config["tokens"]), configInt(n.Config["pad"])
				fail, _ := n.Config["fail"].(bool)
				id := n.ID
				return graph.WorkerFunc(func(ctx context.Context, a *graph.Activation) (graph.Result, error) {
					if opts.OnExec != nil {
						opts.OnExec(id)
					}
					if err := wait(ctx, delay, opts.Spin); err != nil {
						return graph.Result{}, err
					}
					for i := range tokens {
						a.Emit("t" + strconv.Itoa(i) + " ")
					}
					if tokens > 0 {
						a.ReportUsage(graph.Usage{Model: "test", CompletionTokens: tokens, TotalTokens: tokens, Calls: 1})
					}
					if fail {
						return graph.Result{}, fmt.Errorf("%s failed as configured", id)
					}
					in, _ := a.Input("in")
					s, _ := in.(string)
					if pad > 0 {
						s += strings.Repeat(".", pad)
					}
					return graph.Result{Outputs: graph.Outputs{"out": s + ">" + id}}, nil
				}), nil
			},
		},
		{
			Name: TypeBranch, Family: "flow",
			Inputs:  []graph.Port{trig("run")},
			Outputs: []graph.Port{trig("yes"), trig("no")},
			New: fixed(func(context.Context, *graph.Activation) (graph.Result, error) {
				return graph.Result{Closed: []string{"no"}}, nil
			}),
		},
		{
			Name: TypeOutput, Role: graph.RoleOutput, Family: "io",
			Inputs: []graph.Port{trig("run"), data("value")},
			Config: []graph.ConfigField{{Name: "name", Type: "string", Required: true}},
			New: func(n *graph.Node) (graph.Worker, error) {
				name := n.ConfigString("name")
				return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
					v, _ := a.Input("value")
					a.SetRunOutput(name, v)
					return graph.Result{}, nil
				}), nil
			},
		},
	}
	c := &Catalog{types: map[string]*graph.NodeType{}}
	for _, t := range types {
		c.types[t.Name] = t
	}
	return c
}

func configInt(v any) int {
	switch v := v.(type) {
	case float64:
		return int(v)
	case int:
		return v
	}
	return 0
}

func wait(ctx context.Context, d time.Duration, spin bool) error {
	if d <= 0 {
		return ctx.Err()
	}
	if spin {
		end := time.Now().Add(d)
		for time.Now().Before(end) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Chain builds a spell: Start → n Work nodes in a line (w001, w002, …,
// each passing its data on) → Output "result". Work nodes wait delay and
// emit tokens tokens.
func Chain(id string, n int, delay time.Duration, tokens int) *graph.Spell {
	s := &graph.Spell{ID: id, Name: id}
	s.Nodes = append(s.Nodes, graph.Node{ID: "start", Type: TypeStart})
	prev, prevPort := "start", "out"
	prevData := ""
	for i := 1; i <= n; i++ {
		wid := fmt.Sprintf("w%03d", i)
		cfg := map[string]any{}
		if delay > 0 {
			cfg["delay"] = delay.String()
		}
		if tokens > 0 {
			cfg["tokens"] = tokens
		}
		s.Nodes = append(s.Nodes, graph.Node{ID: wid, Type: TypeWork, Config: cfg})
		s.Edges = append(s.Edges, graph.Edge{From: graph.PortRef{Node: prev, Port: prevPort}, To: graph.PortRef{Node: wid, Port: "run"}})
		if prevData != "" {
			s.Edges = append(s.Edges, graph.Edge{From: graph.PortRef{Node: prevData, Port: "out"}, To: graph.PortRef{Node: wid, Port: "in"}})
		}
		prev, prevPort, prevData = wid, "done", wid
	}
	s.Nodes = append(s.Nodes, graph.Node{ID: "out", Type: TypeOutput, Config: map[string]any{"name": "result"}})
	s.Edges = append(s.Edges,
		graph.Edge{From: graph.PortRef{Node: prev, Port: prevPort}, To: graph.PortRef{Node: "out", Port: "run"}},
	)
	if prevData != "" {
		s.Edges = append(s.Edges, graph.Edge{From: graph.PortRef{Node: prevData, Port: "out"}, To: graph.PortRef{Node: "out", Port: "value"}})
	}
	return s
}

// ExecLog counts executions of Work nodes (a Catalog's OnExec).
type ExecLog struct {
	mu    sync.Mutex
	count map[string]int
}

// Exec records one execution.
func (l *ExecLog) Exec(nodeID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.count == nil {
		l.count = map[string]int{}
	}
	l.count[nodeID]++
}

// Count returns how many times nodeID executed.
func (l *ExecLog) Count(nodeID string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.count[nodeID]
}

// Total returns how many executions were recorded.
func (l *ExecLog) Total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.count {
		n += c
	}
	return n
}
