package nodes_test

import (
	"testing"

	"github.com/grimoire-run/grimoire/nodes"
)

// Magick io/Respond.ts: the response is the first truthy input.
func TestRespondSetsTheRunOutput(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	s := newSpell("respond").
		node("start", "Module Trigger In", nil).
		node("a", "Input", map[string]any{"name": "a"}).node("b", "Input", map[string]any{"name": "b"}).
		node("r", "Respond", nil).
		edge("start.trigger>r.trigger", "a.output>r.input", "b.output>r.input").build()
	for _, c := range []struct {
		a, b, want any
	}{{"", "second", "second"}, {"first", "second", "first"}, {nil, 0.0, ""}} {
		outs := h.mustRunBoth(t, s, map[string]any{"a": c.a, "b": c.b})
		if outs["output"] != c.want {
			t.Errorf("Respond(%v, %v) = %v, want %v", c.a, c.b, outs["output"], c.want)
		}
	}
	named := newSpell("respond-named").
		node("start", "Module Trigger In", nil).node("a", "Input", map[string]any{"name": "a"}).
		node("r", "Respond", map[string]any{"name": "reply"}).
		edge("start.trigger>r.trigger", "a.output>r.input").build()
	if outs, _ := h.mustRun(t, named, map[string]any{"a": "hi"}); outs["reply"] != "hi" {
		t.Errorf("named Respond outputs %v", outs)
	}
}
