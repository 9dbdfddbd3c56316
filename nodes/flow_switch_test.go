package nodes_test

import (
	"testing"

	"github.com/grimoire-run/grimoire/nodes"
)

func TestSwitchOpensOnlyTheMatchingCase(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	// Cases are declared like Thoth does: a socketKey (uuid) and a name.
	s := newSpell("switch").
		node("start", "Module Trigger In", nil).
		node("in", "Input", map[string]any{"name": "mood"}).
		node("sw", "Switch", nil, named(tout("0d5e-happy"), "happy"), named(tout("9f1a-sad"), "sad")).
		node("happy", "Test Pass", nil).node("sad", "Test Pass", nil).node("other", "Test Pass", nil).
		node("hv", "String", map[string]any{"value": ":)"}).
		node("sv", "String", map[string]any{"value": ":("}).
		node("ov", "String", map[string]any{"value": ":|"}).
		node("o1", "Output", map[string]any{"name": "face"}).
		node("o2", "Output", map[string]any{"name": "face"}).
		node("o3", "Output", map[string]any{"name": "face"}).
		edge("start.trigger>sw.trigger", "in.output>sw.input",
			"sw.0d5e-happy>happy.trigger", "happy.trigger>o1.trigger", "hv.output>o1.input",
			"sw.9f1a-sad>sad.trigger", "sad.trigger>o2.trigger", "sv.output>o2.input",
			"sw.default>other.trigger", "other.trigger>o3.trigger", "ov.output>o3.input").build()
	tests := []struct {
		mood, want string
		skipped    []string
	}{
		{"happy", ":)", []string{"sad", "other", "o2", "o3"}},
		{"sad", ":(", []string{"happy", "other", "o1", "o3"}},
		{"bored", ":|", []string{"happy", "sad", "o1", "o2"}},
	}
	for _, tt := range tests {
		outs, rec := h.mustRun(t, s, map[string]any{"mood": tt.mood})
		if outs["face"] != tt.want {
			t.Errorf("mood %s: face %v, want %s", tt.mood, outs["face"], tt.want)
		}
		rec.assertSkipped(t, tt.skipped...)
	}
}
