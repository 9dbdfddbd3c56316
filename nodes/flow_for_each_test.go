package nodes_test

import (
	"context"
	"strings"
	"testing"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/nodes"
)

// forEachSpell loops over the run input "list": per element a Code node
// upper-cases it (reading the element through a data-only Code node that
// adds "!"), and an Output keeps the latest; "done" outputs the last one.
func forEachSpell() *graph.Spell {
	return newSpell("loop").
		node("start", "Module Trigger In", nil).
		node("list", "Input", map[string]any{"name": "list"}).
		node("fe", "ForEach", nil).
		node("bang", "Code", map[string]any{"code": "function worker(inputs){ return { out: inputs.x + '!' } }"}, in("x"), out("out")).
		node("up", "Code", map[string]any{"code": "function worker(inputs){ return { out: inputs.x.toUpperCase() } }"}, in("x"), out("out")).
		node("item", "Output", map[string]any{"name": "item"}).
		node("done", "Output", map[string]any{"name": "done"}).
		edge("start.trigger>fe.act1", "list.output>fe.array",
			"fe.act>up.trigger", "fe.element>bang.x", "bang.out>up.x",
			"up.trigger>item.trigger", "up.out>item.input",
			"fe.done>done.trigger", "up.out>done.input").build()
}

// Thoth's ForEach (components/ForEach.ts): "act" per element with the
// element on "element", then "done"; here the elements run in order.
func TestForEach(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	outs := h.mustRunBoth(t, forEachSpell(), map[string]any{"list": []any{"a", "b", "c"}})
	if outs["item"] != "C!" || outs["done"] != "C!" {
		t.Fatalf("outputs %v, want item and done C!", outs)
	}
	_, rec := h.mustRun(t, forEachSpell(), map[string]any{"list": []any{"a", "b", "c"}})
	var got []string
	rec.mu.Lock()
	for _, e := range rec.events {
		if e.NodeID == "up" && e.Kind == graph.NodeCompleted {
			got = append(got, e.Outputs["out"].(string))
		}
	}
	rec.mu.Unlock()
	if strings.Join(got, ",") != "A!,B!,C!" {
		t.Fatalf("the per-element branch produced %v, want A!, B!, C! in order", got)
	}
	if n := rec.count("fe", graph.NodeCompleted); n != 1 {
		t.Fatalf("ForEach completed %d times, want once", n)
	}
	if n := rec.count("bang", graph.NodeCompleted); n != 3 {
		t.Fatalf("the data-only node read by the branch ran %d times, want once per element", n)
	}

	// An empty array fires only "done", which then has no value to output.
	outs, rec = h.mustRun(t, forEachSpell(), map[string]any{"list": []any{}})
	if rec.count("up", graph.NodeStarted) != 0 || rec.count("done", graph.NodeCompleted) != 1 {
		t.Fatalf("empty array: up started %d times, done completed %d times", rec.count("up", graph.NodeStarted), rec.count("done", graph.NodeCompleted))
	}
	if v, ok := outs["done"]; !ok || v != nil {
		t.Fatalf("empty array: done = %v (present %v), want null", v, ok)
	}
}

func TestForEachRefusesBadInput(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	for _, tt := range []struct {
		inputs map[string]any
		want   string
	}{
		{map[string]any{"list": "abc"}, `input "array": want an array, got string`},
		{map[string]any{}, `input "array" has no value`},
	} {
		_, _, err := h.run(context.Background(), forEachSpell(), tt.inputs)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("inputs %v: err %v, want %q", tt.inputs, err, tt.want)
		}
	}
	// A trigger loop from the per-element branch back into the ForEach
	// fails the run instead of hanging it.
	loop := newSpell("loop-back").
		node("start", "Module Trigger In", nil).
		node("list", "Input", map[string]any{"name": "list"}).
		node("fe", "ForEach", nil).
		node("p", "Echo", nil).
		edge("start.trigger>fe.act1", "list.output>fe.array", "fe.act>p.trigger", "p.trigger>fe.trigger").build()
	_, _, err := h.run(context.Background(), loop, map[string]any{"list": []any{1.0}})
	if err == nil || !strings.Contains(err.Error(), "trigger loop leads back into node fe") {
		t.Fatalf("loop back: err %v", err)
	}
}
