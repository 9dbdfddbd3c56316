package nodes_test

import (
	"testing"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/nodes"
)

func TestExclusiveGatePassesOnlyTheFirstTrigger(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	// Magick's socket pairs: "fast trigger" goes with data "fast".
	s := newSpell("xgate").
		node("start", "Module Trigger In", nil).
		node("fast", "Test Sleep", map[string]any{"ms": 1.0, "value": "fast answer"}).
		node("slow", "Test Sleep", map[string]any{"ms": 100.0, "value": "slow answer"}).
		node("gate", "Exclusive Gate", nil,
			named(tin("k1"), "fast trigger"), named(in("k2"), "fast"),
			named(tin("k3"), "slow trigger"), named(in("k4"), "slow")).
		node("after", "Echo", nil).
		node("out", "Output", map[string]any{"name": "winner"}).
		edge("start.trigger>fast.trigger", "start.trigger>slow.trigger",
			"fast.trigger>gate.k1", "fast.output>gate.k2", "slow.trigger>gate.k3", "slow.output>gate.k4",
			"gate.trigger>after.trigger", "gate.output>after.string", "after.trigger>out.trigger", "after.output>out.input").build()
	outs, rec := h.mustRun(t, s, nil)
	if outs["winner"] != "fast answer" {
		t.Fatalf("winner %v, want the first branch's data", outs["winner"])
	}
	if n := rec.count("gate", graph.NodeStarted); n != 2 {
		t.Errorf("gate activated %d times, want 2", n)
	}
	if n := rec.count("after", graph.NodeStarted); n != 1 {
		t.Errorf("node after the gate ran %d times, want exactly 1", n)
	}
	var fired [][]string
	for _, e := range rec.events {
		if e.NodeID == "gate" && e.Kind == graph.NodeCompleted {
			fired = append(fired, e.Fired)
		}
	}
	if len(fired) != 2 || len(fired[0]) != 1 || len(fired[1]) != 0 {
		t.Errorf("gate fired %v, want [[trigger] []]", fired)
	}
}
