package nodes_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/nodes"
)

// Golden runs of the runner's semantics with the built-in node types.

func TestDataNodeIsEvaluatedOncePerRun(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	s := newSpell("once").
		node("start", "Module Trigger In", nil).
		node("v", "Text Variable", map[string]any{"_var": "shared"}).
		node("e1", "Echo", nil).node("e2", "Echo", nil).node("e3", "Echo", nil).
		node("tpl", "Text Template", map[string]any{"template": "{{a}}+{{b}}+{{c}}"}, in("a"), in("b"), in("c")).
		node("out", "Output", map[string]any{"name": "o"}).
		edge("start.trigger>e1.trigger", "start.trigger>e2.trigger", "start.trigger>e3.trigger",
			"v.output>e1.string", "v.output>e2.string", "v.output>e3.string",
			"e3.trigger>tpl.trigger", "e1.output>tpl.a", "e2.output>tpl.b", "e3.output>tpl.c",
			"tpl.trigger>out.trigger", "tpl.output>out.input").build()
	for i := 0; i < 3; i++ { // and once again in every run
		outs, rec := h.mustRun(t, s, nil)
		if n := rec.count("v", graph.NodeStarted); n != 1 {
			t.Fatalf("run %d: the variable was evaluated %d times, want 1", i, n)
		}
		if rec.count("v", graph.NodeCompleted) != 1 {
			t.Fatal("no NodeCompleted for the variable")
		}
		// e1 and e2 may not have run yet when e3 triggers tpl; e3's value is always there.
		if o, _ := outs["o"].(string); !strings.HasSuffix(o, "+shared") {
			t.Fatalf("output %v", outs["o"])
		}
	}
}

func TestParallelBranchesOverlap(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	s := newSpell("parallel").
		node("start", "Module Trigger In", nil).
		node("a", "Test Sleep", map[string]any{"ms": 300.0, "value": "a"}).
		node("b", "Test Sleep", map[string]any{"ms": 300.0, "value": "b"}).
		node("wait", "Wait For All", nil, tin("a"), tin("b")).
		node("tpl", "Text Template", map[string]any{"template": "{{a}}{{b}}"}, in("a"), in("b")).
		node("out", "Output", map[string]any{"name": "o"}).
		edge("start.trigger>a.trigger", "start.trigger>b.trigger", "a.trigger>wait.a", "b.trigger>wait.b",
			"wait.default>tpl.trigger", "a.output>tpl.a", "b.output>tpl.b", "tpl.trigger>out.trigger", "tpl.output>out.input").build()
	start := time.Now()
	outs, _ := h.mustRun(t, s, nil)
	took := time.Since(start)
	if outs["o"] != "ab" {
		t.Fatalf("output %v", outs["o"])
	}
	if took > 540*time.Millisecond { // sequential would be >= 600ms
		t.Fatalf("two 300ms branches took %s: they did not run in parallel", took)
	}
	t.Logf("two 300ms branches took %s", took)
}

func TestCancellationStopsTheRun(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	s := newSpell("cancel").
		node("start", "Module Trigger In", nil).
		node("slow", "Test Sleep", map[string]any{"ms": 10000.0}).
		node("after", "Test Pass", nil).
		edge("start.trigger>slow.trigger", "slow.trigger>after.trigger").build()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, rec, err := h.run(ctx, s, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("cancelled run took %s to return", took)
	}
	rec.assertSkipped(t, "after")
}

func TestNodeTimeout(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	h.runner.NodeTimeout = 100 * time.Millisecond
	s := newSpell("timeout").
		node("start", "Module Trigger In", nil).
		node("slow", "Test Sleep", map[string]any{"ms": 10000.0}).
		edge("start.trigger>slow.trigger").build()
	start := time.Now()
	_, rec, err := h.run(context.Background(), s, nil)
	var ne *graph.NodeError
	if !errors.As(err, &ne) || ne.NodeID != "slow" || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("err = %v, want the node named and a timeout", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("took %s", took)
	}
	if rec.count("slow", graph.NodeFailed) != 1 {
		t.Error("no NodeFailed event")
	}
}

func TestPanickingNodeFailsOnlyThatNode(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	s := newSpell("panic").
		node("start", "Module Trigger In", nil).
		node("boom", "Test Panic", nil).
		node("after", "Test Pass", nil).
		edge("start.trigger>boom.trigger", "boom.trigger>after.trigger").build()
	_, rec, err := h.run(context.Background(), s, nil)
	var ne *graph.NodeError
	if !errors.As(err, &ne) || ne.NodeID != "boom" || !strings.Contains(err.Error(), "panic") {
		t.Fatalf("err = %v", err)
	}
	if e, ok := rec.find("boom", graph.NodeFailed); !ok || !strings.Contains(e.Err, "nil map") {
		t.Errorf("NodeFailed event %+v", e)
	}
	rec.assertSkipped(t, "after")
	// The process, and the runner, carry on.
	outs, _ := h.mustRun(t, newSpell("after-panic").node("v", "String", map[string]any{"value": "alive"}).
		node("o", "Output", nil).edge("v.output>o.input").build(), nil)
	if outs["output"] != "alive" {
		t.Fatalf("outputs %v", outs)
	}
}

func TestObserverOrderPerActivation(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	s := newSpell("order").
		node("start", "Module Trigger In", nil).
		node("e", "Echo", nil).
		node("v", "String", map[string]any{"value": "x"}).
		node("o", "Output", nil).
		edge("start.trigger>e.trigger", "v.output>e.string", "e.trigger>o.trigger", "e.output>o.input").build()
	_, rec := h.mustRun(t, s, nil)
	last := map[string]graph.NodeEventKind{}
	for _, ev := range rec.events {
		prev := last[ev.NodeID]
		switch ev.Kind {
		case graph.NodeStarted:
			if prev != 0 && prev != graph.NodeCompleted {
				t.Errorf("%s: Started after %v", ev.NodeID, prev)
			}
		case graph.NodeCompleted, graph.NodeFailed:
			if prev != graph.NodeStarted && prev != graph.NodeChunk {
				t.Errorf("%s: %v after %v", ev.NodeID, ev.Kind, prev)
			}
		}
		last[ev.NodeID] = ev.Kind
	}
	for _, id := range []string{"start", "e", "v", "o"} {
		if last[id] != graph.NodeCompleted {
			t.Errorf("%s ended with %v", id, last[id])
		}
	}
}
