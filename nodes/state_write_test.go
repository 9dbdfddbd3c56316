package nodes_test

import (
	"testing"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/nodes"
)

// Thoth's State Write rule (packages/core/src/components/state/StateWrite.ts):
// an array key gets the value appended, an object key merged, others replaced;
// State Read (StateRead.ts) yields the key of each output's name.
func TestStateWriteThenRead(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	build := func(id string, initial map[string]any) *graph.Spell {
		s := newSpell(id).
			node("start", "Module Trigger In", nil).
			node("v", "Text Variable", map[string]any{"value": "x"}).
			node("o", "Text Variable", map[string]any{"value": "ignored"}).
			node("w", "State Write", nil, in("list"), in("name"), in("missing")).
			node("r", "State Read", nil, out("list"), out("name"), out("absent")).
			node("o1", "Output", map[string]any{"name": "list"}).
			node("o2", "Output", map[string]any{"name": "name"}).
			node("o3", "Output", map[string]any{"name": "absent"}).
			edge("start.trigger>w.trigger", "v.output>w.list", "v.output>w.name",
				"w.trigger>o1.trigger", "w.trigger>o2.trigger", "w.trigger>o3.trigger",
				"r.list>o1.input", "r.name>o2.input", "r.absent>o3.input").build()
		s.Meta = map[string]any{"gameState": initial}
		return s
	}
	cases := []struct {
		name    string
		initial map[string]any
		list    any
	}{
		{"empty state: value written", map[string]any{}, "x"},
		{"array key: value appended", map[string]any{"list": []any{"a"}}, []any{"a", "x"}},
		{"scalar key: replaced", map[string]any{"list": 3.0}, "x"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			outs, _ := h.mustRun(t, build("sw", c.initial), nil)
			if !equalJSON(outs["list"], c.list) {
				t.Errorf("list = %v, want %v", outs["list"], c.list)
			}
			if outs["name"] != "x" {
				t.Errorf("name = %v, want x", outs["name"])
			}
			if outs["absent"] != nil {
				t.Errorf("absent key yielded %v, want no value", outs["absent"])
			}
		})
	}
	// Both formats, starting from an empty state.
	outs := h.mustRunBoth(t, build("sw-both", nil), nil)
	if outs["list"] != "x" {
		t.Errorf("mustRunBoth list = %v", outs["list"])
	}
}

// The merge rule of graph.ApplyStateOps: object keys merge one level.
func TestStateOpsObjectMerge(t *testing.T) {
	st, err := graph.ApplyStateOps(map[string]any{"o": map[string]any{"a": 1.0}}, []graph.StateOp{
		{Op: graph.StateWrite, Key: "o", Value: map[string]any{"b": 2.0}},
		{Op: graph.StateSet, Key: "n", Value: nil},
	})
	if err != nil || !equalJSON(st, map[string]any{"o": map[string]any{"a": 1.0, "b": 2.0}, "n": nil}) {
		t.Fatalf("state %v, err %v", st, err)
	}
	if _, err := graph.ApplyStateOps(nil, []graph.StateOp{{Op: "bogus"}}); err == nil {
		t.Fatal("unknown op accepted")
	}
}
