package nodes_test

import (
	"testing"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/nodes"
)

func TestWaitForAllFiresOnceAfterEveryInput(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	s := newSpell("wait").
		node("start", "Module Trigger In", nil).
		node("fast", "Test Sleep", map[string]any{"ms": 1.0}).
		node("slow", "Test Sleep", map[string]any{"ms": 80.0, "value": "slow done"}).
		node("wait", "Wait For All", nil, tin("a"), tin("b")).
		node("after", "Echo", nil).
		node("out", "Output", map[string]any{"name": "o"}).
		edge("start.trigger>fast.trigger", "start.trigger>slow.trigger",
			"fast.trigger>wait.a", "slow.trigger>wait.b",
			"wait.default>after.trigger", "slow.output>after.string",
			"after.trigger>out.trigger", "after.output>out.input").build()
	outs, rec := h.mustRun(t, s, nil)
	if outs["o"] != "slow done" {
		t.Fatalf("output %v: the node after Wait For All ran before both branches finished", outs["o"])
	}
	if n := rec.count("wait", graph.NodeStarted); n != 2 {
		t.Errorf("Wait For All activated %d times, want 2 (one per input)", n)
	}
	if n := rec.count("after", graph.NodeStarted); n != 1 {
		t.Errorf("node after Wait For All ran %d times, want 1", n)
	}
}

func TestWaitForAllWaitsForADeclaredInputThatNeverFires(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	s := newSpell("wait-never").
		node("start", "Module Trigger In", nil).
		node("cond", "Boolean", map[string]any{"value": true}).
		node("gate", "Boolean Gate", nil).
		node("wait", "Wait For All", nil, tin("a"), tin("b")).
		node("after", "Test Pass", nil).
		edge("start.trigger>gate.trigger", "cond.output>gate.boolean", "gate.true>wait.a", "gate.false>wait.b", "wait.default>after.trigger").build()
	_, rec := h.mustRun(t, s, nil)
	rec.assertSkipped(t, "after")
}
