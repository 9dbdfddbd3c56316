// Package testspell is a small catalog of node types and a spell for the
// read models' tests: Start, In, Upper (deterministic), Dice
// (non-deterministic) and Out, each counting its executions. Tests only.
package testspell

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/grimoire-run/grimoire/graph"
)

// Catalog implements graph.Catalog and counts executions per node id.
type Catalog struct {
	types map[string]*graph.NodeType
	mu    sync.Mutex
	calls map[string]int
	// Lower makes Upper lower-case its input instead (a changed node,
	// for replay verification).
	Lower atomic.Bool
	dice  atomic.Int64
}

// Lookup implements graph.Catalog.
func (c *Catalog) Lookup(name string) (*graph.NodeType, bool) { t, ok := c.types[name]; return t, ok }

// Count is how many times node id executed.
func (c *Catalog) Count(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[id]
}

// New returns a catalog.
func New() *Catalog {
	c := &Catalog{calls: map[string]int{}}
	work := func(f func(a *graph.Activation) graph.Result) func(*graph.Node) (graph.Worker, error) {
		return func(*graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				c.mu.Lock()
				c.calls[a.Node.ID]++
				c.mu.Unlock()
				return f(a), nil
			}), nil
		}
	}
	tp := func(n string) graph.Port { return graph.Port{Name: n, Kind: graph.Trigger} }
	dp := func(n string) graph.Port { return graph.Port{Name: n, Kind: graph.Data, Type: "any"} }
	c.types = map[string]*graph.NodeType{
		"Start": {Name: "Start", Role: graph.RoleTriggerIn, Outputs: []graph.Port{tp("trigger")},
			New: work(func(*graph.Activation) graph.Result { return graph.Result{} })},
		"In": {Name: "In", Role: graph.RoleInput, Outputs: []graph.Port{dp("output")},
			New: work(func(a *graph.Activation) graph.Result {
				v, _ := a.RunInput(a.Node.ConfigString("name"))
				return graph.Result{Outputs: graph.Outputs{"output": v}}
			})},
		"Upper": {Name: "Upper", Inputs: []graph.Port{tp("trigger"), dp("text")}, Outputs: []graph.Port{tp("trigger"), dp("out")},
			New: work(func(a *graph.Activation) graph.Result {
				v, _ := a.Input("text")
				if c.Lower.Load() {
					return graph.Result{Outputs: graph.Outputs{"out": strings.ToLower(fmt.Sprint(v))}}
				}
				return graph.Result{Outputs: graph.Outputs{"out": strings.ToUpper(fmt.Sprint(v))}}
			})},
		"Dice": {Name: "Dice", Nondeterministic: true, Inputs: []graph.Port{tp("trigger"), dp("text")}, Outputs: []graph.Port{tp("trigger"), dp("out")},
			New: work(func(a *graph.Activation) graph.Result {
				v, _ := a.Input("text")
				return graph.Result{Outputs: graph.Outputs{"out": fmt.Sprintf("%v#%d", v, c.dice.Add(1))}}
			})},
		"Out": {Name: "Out", Role: graph.RoleOutput, Inputs: []graph.Port{tp("trigger"), dp("input")},
			New: work(func(a *graph.Activation) graph.Result {
				v, _ := a.Input("input")
				a.SetRunOutput(a.Node.ConfigString("name"), v)
				return graph.Result{}
			})},
	}
	return c
}

func edge(from, to string) graph.Edge {
	f, _ := graph.ParsePortRef(from)
	t, _ := graph.ParsePortRef(to)
	return graph.Edge{From: f, To: t}
}

// Spell is Start -> Upper(text = In "q") -> Dice -> Out "answer", with
// Upper's result also going to Out "upper". Node ids: start, in, upper,
// dice, answer, upper-out.
func Spell() *graph.Spell {
	return &graph.Spell{ID: "testspell", Nodes: []graph.Node{
		{ID: "answer", Type: "Out", Config: map[string]any{"name": "answer"}},
		{ID: "dice", Type: "Dice"},
		{ID: "in", Type: "In", Config: map[string]any{"name": "q"}},
		{ID: "start", Type: "Start"},
		{ID: "upper", Type: "Upper"},
		{ID: "upper-out", Type: "Out", Config: map[string]any{"name": "upper"}},
	}, Edges: []graph.Edge{
		edge("start.trigger", "upper.trigger"), edge("in.output", "upper.text"), edge("upper.trigger", "dice.trigger"),
		edge("upper.out", "dice.text"), edge("dice.trigger", "answer.trigger"), edge("dice.out", "answer.input"),
		edge("upper.trigger", "upper-out.trigger"), edge("upper.out", "upper-out.input"),
	}}
}
