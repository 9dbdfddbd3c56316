package graph_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/grimoire-run/grimoire/graph"
)

// answers is a Recorded holding an answer for the Ask activation, and
// (Waits) the activations still waiting.
type answers struct {
	results map[string]graph.Result
	waiting map[string]bool
}

func (a answers) Recorded(_ []string, nodeID string, _ int) (graph.Result, string, bool) {
	r, ok := a.results[nodeID]
	return r, "resume", ok
}

func (a answers) Waits(_ []string, nodeID string, _ int) bool { return a.waiting[nodeID] }

func waitingCatalog(counts *runCounters) runCatalog {
	c := newRunCatalog(counts)
	c["Ask"] = &graph.NodeType{Name: "Ask", Inputs: []graph.Port{tport("trigger")}, Outputs: []graph.Port{tport("trigger"), dport("answer")},
		New: func(*graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(context.Context, *graph.Activation) (graph.Result, error) {
				counts.inc("ask")
				return graph.Result{}, &graph.Waiting{Question: graph.Question{Prompt: "ok?", AnsweredBy: []string{"ada"}}}
			}), nil
		}}
	return c
}

// start fires an Ask (whose answer feeds "answered") and, in parallel, a
// Concat of the input (feeding "other"); "needs" pulls the Ask's answer
// from another branch.
func waitingSpell() *graph.Spell {
	return &graph.Spell{ID: "w", Nodes: []graph.Node{
		n("start", "Start", nil), n("in", "In", map[string]any{"name": "x"}),
		n("ask", "Ask", nil), n("answered", "Out", map[string]any{"name": "answered"}),
		n("cat", "Concat", nil), n("other", "Out", map[string]any{"name": "other"}),
	}, Edges: []graph.Edge{
		e("start.trigger", "ask.trigger"), e("ask.trigger", "answered.trigger"), e("ask.answer", "answered.input"),
		e("start.trigger", "cat.trigger"), e("in.output", "cat.a"), e("cat.trigger", "other.trigger"), e("cat.out", "other.input"),
	}}
}

func TestAWaitingNodeStopsItsBranchOnly(t *testing.T) {
	counts := &runCounters{calls: map[string]int{}}
	r := &graph.Runner{Catalog: waitingCatalog(counts)}
	log := &eventLog{}
	_, err := r.Run(context.Background(), waitingSpell(), graph.RunRequest{Inputs: map[string]any{"x": "v"}, Observer: log})
	var we *graph.WaitingError
	if !errors.Is(err, graph.ErrWaiting) || !errors.As(err, &we) || !slices.Equal(we.Nodes, []string{"ask#1"}) {
		t.Fatalf("run error %v, want ErrWaiting at ask#1", err)
	}
	if got := log.kinds("ask"); !slices.Equal(got, []string{"started", "waiting"}) {
		t.Fatalf("ask events %v", got)
	}
	if got := log.kinds("other"); !slices.Equal(got, []string{"started", "completed"}) {
		t.Fatalf("the parallel branch: %v", got)
	}
	if got := log.kinds("answered"); len(got) != 0 {
		t.Fatalf("downstream of the waiting node: %v (want nothing, not even skipped)", got)
	}
	for _, ev := range log.events {
		if ev.Kind == graph.NodeWaiting && (ev.Question == nil || ev.Question.Prompt != "ok?") {
			t.Fatalf("NodeWaiting without its question: %+v", ev)
		}
	}

	// Resumed with the activation still waiting: nothing asks again.
	log = &eventLog{}
	_, err = r.Run(context.Background(), waitingSpell(), graph.RunRequest{Inputs: map[string]any{"x": "v"}, Observer: log,
		Recorded: answers{waiting: map[string]bool{"ask": true}}})
	if !errors.Is(err, graph.ErrWaiting) || counts.get("ask") != 1 || len(log.kinds("ask")) != 0 {
		t.Fatalf("resumed while waiting: %v, ask ran %d times, events %v", err, counts.get("ask"), log.kinds("ask"))
	}

	// Resumed with the answer: it flows downstream.
	res, err := r.Run(context.Background(), waitingSpell(), graph.RunRequest{Inputs: map[string]any{"x": "v"},
		Recorded: answers{results: map[string]graph.Result{"ask": {Outputs: graph.Outputs{"answer": "yes"}}}}})
	if err != nil || res.Outputs["answered"] != "yes" || res.Outputs["other"] != "v<nil>" || counts.get("ask") != 1 {
		t.Fatalf("answered: %+v, %v", res, err)
	}
}

// A failure elsewhere wins over waiting: the run fails.
func TestAFailureElsewhereFailsAWaitingRun(t *testing.T) {
	counts := &runCounters{calls: map[string]int{}}
	r := &graph.Runner{Catalog: waitingCatalog(counts)}
	s := waitingSpell()
	s.Nodes = append(s.Nodes, n("boom", "Panic", nil))
	s.Edges = append(s.Edges, e("start.trigger", "boom.trigger"))
	_, err := r.Run(context.Background(), s, graph.RunRequest{Inputs: map[string]any{"x": "v"}})
	var ne *graph.NodeError
	if !errors.As(err, &ne) || ne.NodeID != "boom" || errors.Is(err, graph.ErrWaiting) {
		t.Fatalf("run error %v, want boom's failure", err)
	}
}
