package nodes_test

import (
	"testing"

	"github.com/grimoire-run/grimoire/nodes"
)

// Both branches of a Boolean Gate lead to a chain of two nodes and an
// Output; only the open branch may run.
func TestBooleanGateRunsOnlyTheOpenBranch(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	s := newSpell("gate").
		node("start", "Module Trigger In", nil).
		node("cond", "Input", map[string]any{"name": "cond"}).
		node("gate", "Boolean Gate", nil).
		node("yes1", "Echo", nil).node("yes2", "Test Pass", nil).
		node("no1", "Echo", nil).node("no2", "Test Pass", nil).
		node("yesVal", "String Variable", map[string]any{"_var": "took true"}).
		node("noVal", "String Variable", map[string]any{"_var": "took false"}).
		node("outYes", "Output", map[string]any{"name": "result"}).
		node("outNo", "Output", map[string]any{"name": "result"}).
		edge("start.trigger>gate.trigger", "cond.output>gate.boolean",
			"gate.true>yes1.trigger", "yesVal.output>yes1.string", "yes1.trigger>yes2.trigger", "yes2.trigger>outYes.trigger", "yes1.output>outYes.input",
			"gate.false>no1.trigger", "noVal.output>no1.string", "no1.trigger>no2.trigger", "no2.trigger>outNo.trigger", "no1.output>outNo.input").build()
	tests := []struct {
		cond     any
		want     string
		ran, not []string
	}{
		{true, "took true", []string{"yes1", "yes2", "outYes"}, []string{"no1", "no2", "outNo", "noVal"}},
		{false, "took false", []string{"no1", "no2", "outNo"}, []string{"yes1", "yes2", "outYes", "yesVal"}},
		{"non-empty text is truthy", "took true", []string{"yes1"}, []string{"no1", "no2", "outNo"}},
		{0.0, "took false", []string{"no1"}, []string{"yes1", "yes2", "outYes"}},
		{nil, "took false", []string{"no1"}, []string{"yes1", "yes2", "outYes"}},
	}
	for _, tt := range tests {
		outs, rec := h.mustRun(t, s, map[string]any{"cond": tt.cond})
		if outs["result"] != tt.want {
			t.Errorf("cond %v: result %v, want %q", tt.cond, outs["result"], tt.want)
		}
		for _, id := range tt.ran {
			if rec.count(id, 1) != 1 { // NodeStarted
				t.Errorf("cond %v: %s did not run once", tt.cond, id)
			}
		}
		rec.assertSkipped(t, tt.not...)
	}
}
