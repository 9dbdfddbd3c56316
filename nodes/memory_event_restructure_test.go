package nodes_test

import (
	"testing"

	"github.com/grimoire-run/grimoire/nodes"
)

// Magick events/EventRestructure.ts: connected inputs become the event's
// fields, agentId is parsed as an integer; Event Destructure undoes it.
func TestEventRestructureBuildsAnEvent(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	for _, c := range []struct {
		name    string
		agentID any
		want    any
	}{
		{"numeric string", "42", 42.0},
		{"number", 7.0, 7.0},
		{"uuid kept", "3f2a-uuid", "3f2a-uuid"},
	} {
		s := newSpell("restructure").
			node("start", "Module Trigger In", nil).
			node("c", "Input", map[string]any{"name": "content"}).
			node("a", "Input", map[string]any{"name": "agent"}).
			node("r", "Event Restructure", nil).
			node("d", "Event Destructure", nil).
			node("o", "Output", map[string]any{"name": "event"}).
			node("o2", "Output", map[string]any{"name": "content"}).
			edge("start.trigger>r.trigger", "c.output>r.content", "c.output>r.sender", "a.output>r.agentId",
				"r.trigger>o.trigger", "r.output>o.input",
				"r.trigger>d.trigger", "r.output>d.event", "d.trigger>o2.trigger", "d.content>o2.input").build()
		outs := h.mustRunBoth(t, s, map[string]any{"content": "hi", "agent": c.agentID})
		ev := outs["event"].(map[string]any)
		if ev["content"] != "hi" || ev["sender"] != "hi" || ev["agentId"] != c.want {
			t.Errorf("%s: event %v, want content/sender hi, agentId %v", c.name, ev, c.want)
		}
		if _, ok := ev["channel"]; ok {
			t.Errorf("%s: unconnected channel present in %v", c.name, ev)
		}
		if outs["content"] != "hi" {
			t.Errorf("%s: destructured content %v", c.name, outs["content"])
		}
	}
}
