package nodes_test

import (
	"context"
	"strings"
	"testing"

	"github.com/grimoire-run/grimoire/nodes"
)

// Magick events/EventDelete.ts: the event Event Recall returned is removed.
func TestEventDeleteForgetsARecalledEvent(t *testing.T) {
	h := newHarness(t, nodes.Services{Memory: eventMemory(t)})
	store := newSpell("store").
		node("start", "Module Trigger In", nil).node("ev", "Input", map[string]any{"name": "event"}).
		node("store", "Store Event", nil).
		edge("start.trigger>store.trigger", "ev.output>store.event").build()
	for _, c := range []string{"a", "b", "c"} {
		h.mustRun(t, store, map[string]any{"event": map[string]any{"content": c, "channel": "x"}})
	}
	recall := newSpell("recall").
		node("start", "Module Trigger In", nil).node("ev", "Input", map[string]any{"name": "event"}).
		node("recall", "Event Recall", nil).node("o", "Output", map[string]any{"name": "events"}).
		edge("start.trigger>recall.trigger", "ev.output>recall.event", "recall.trigger>o.trigger", "recall.events>o.input").build()
	outs := h.mustRunBoth(t, recall, map[string]any{"event": map[string]any{"channel": "x"}})
	evs := outs["events"].([]any)
	if len(evs) != 3 {
		t.Fatalf("recalled %v", evs)
	}
	del := newSpell("del").
		node("start", "Module Trigger In", nil).node("ev", "Input", map[string]any{"name": "event"}).
		node("del", "Event Delete", nil).
		edge("start.trigger>del.trigger", "ev.output>del.event").build()
	h.mustRun(t, del, map[string]any{"event": evs[1]})
	outs, _ = h.mustRun(t, recall, map[string]any{"event": map[string]any{"channel": "x"}})
	var got []string
	for _, e := range outs["events"].([]any) {
		got = append(got, e.(map[string]any)["content"].(string))
	}
	if strings.Join(got, ",") != "a,c" {
		t.Fatalf("after deleting b: %v, want a,c", got)
	}

	for _, c := range []struct {
		name string
		in   any
		want string
	}{
		{"no id", map[string]any{"content": "x"}, "has no id"},
		{"not an event", "just text", "want an event object"},
		{"missing", nil, "want an event object"},
	} {
		_, _, err := h.run(context.Background(), del, map[string]any{"event": c.in})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
	_, _, err := newHarness(t, nodes.Services{}).run(context.Background(), del, map[string]any{"event": evs[0]})
	if err == nil || !strings.Contains(err.Error(), "no event memory configured") {
		t.Errorf("without memory: %v", err)
	}
}
