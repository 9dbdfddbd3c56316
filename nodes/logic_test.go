package nodes_test

import (
	"strings"
	"testing"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/nodes"
)

// Magick boolean/IsVariableTrue.ts: only "true", true and 1 are true.
func TestLogicIsVariableTrue(t *testing.T) {
	runBranchCases(t, "Is Variable True", []string{"input"}, []branchCase{
		{"text true", nil, map[string]any{"input": "true"}, "true"},
		{"boolean true", nil, map[string]any{"input": true}, "true"},
		{"number 1", nil, map[string]any{"input": 1.0}, "true"},
		{"capitalised text", nil, map[string]any{"input": "True"}, "false"},
		{"text 1", nil, map[string]any{"input": "1"}, "false"},
		{"number 2 is truthy but not true", nil, map[string]any{"input": 2.0}, "false"},
		{"boolean false", nil, map[string]any{"input": false}, "false"},
		{"other text", nil, map[string]any{"input": "yes"}, "false"},
		{"object", nil, map[string]any{"input": map[string]any{"true": true}}, "false"},
		{"missing", nil, map[string]any{}, "false"},
	})
}

// Magick flow/IsNullOrUndefined.ts: null, undefined, or .length <= 0.
func TestLogicIsNullOrUndefined(t *testing.T) {
	runBranchCases(t, "Is Null Or Undefined", []string{"input"}, []branchCase{
		{"missing", nil, map[string]any{}, "true"},
		{"null", nil, map[string]any{"input": nil}, "true"},
		{"empty text", nil, map[string]any{"input": ""}, "true"},
		{"empty list", nil, map[string]any{"input": []any{}}, "true"},
		{"text", nil, map[string]any{"input": "x"}, "false"},
		{"space is not empty", nil, map[string]any{"input": " "}, "false"},
		{"zero has no length", nil, map[string]any{"input": 0.0}, "false"},
		{"number", nil, map[string]any{"input": 5.0}, "false"},
		{"false", nil, map[string]any{"input": false}, "false"},
		{"list", nil, map[string]any{"input": []any{1.0}}, "false"},
		{"empty object has no length", nil, map[string]any{"input": map[string]any{}}, "false"},
	})
}

// Magick boolean/LogicalOperator.ts: JavaScript ===, !==, >, < on input1
// and input2 ("less than" fixed: the original tested a misspelled name).
func TestLogicLogicalOperator(t *testing.T) {
	op := func(o string) map[string]any { return map[string]any{"operationType": o} }
	ports := []string{"input1", "input2"}
	runBranchCases(t, "Logical Operator", ports, []branchCase{
		{"equal text", op("equal"), map[string]any{"input1": "a", "input2": "a"}, "true"},
		{"unequal text", op("equal"), map[string]any{"input1": "a", "input2": "b"}, "false"},
		{"strict: number is not text", op("equal"), map[string]any{"input1": 5.0, "input2": "5"}, "false"},
		{"empty operationType is equal", op(""), map[string]any{"input1": "x", "input2": "x"}, "true"},
		{"no config is equal", nil, map[string]any{"input1": 2.0, "input2": 2.0}, "true"},
		{"missing equals missing", nil, map[string]any{}, "true"},
		{"missing is not empty text", nil, map[string]any{"input1": ""}, "false"},
		{"not equal", op("not equal"), map[string]any{"input1": "a", "input2": "b"}, "true"},
		{"not equal, same", op("not equal"), map[string]any{"input1": "a", "input2": "a"}, "false"},
		{"greater than text", op("greater than"), map[string]any{"input1": "b", "input2": "a"}, "true"},
		{"greater than is lexicographic for text", op("greater than"), map[string]any{"input1": "10", "input2": "9"}, "false"},
		{"greater than numbers", op("greater than"), map[string]any{"input1": 10.0, "input2": 9.0}, "true"},
		{"greater than, number vs text coerces", op("greater than"), map[string]any{"input1": 10.0, "input2": "9"}, "true"},
		{"greater than, missing is false", op("greater than"), map[string]any{"input1": 1.0}, "false"},
		{"less than fixed", op("less than"), map[string]any{"input1": "a", "input2": "b"}, "true"},
		{"less than numbers", op("less than"), map[string]any{"input1": 2.0, "input2": 10.0}, "true"},
		{"less than, equal", op("less than"), map[string]any{"input1": 2.0, "input2": 2.0}, "false"},
		{"case and spaces ignored", op(" Greater Than "), map[string]any{"input1": 3.0, "input2": 1.0}, "true"},
	})
	h := newHarness(t, nodes.Services{})
	err := validate(branchProbeSpell("badop", "Logical Operator", op("includes"), ports...), h.catalog)
	if err == nil || !strings.Contains(err.Error(), `"includes"`) || !strings.Contains(err.Error(), `"less than"`) {
		t.Errorf("operationType includes: validation error %v, want one naming it and the valid operations", err)
	}
	// The error output is the empty string when the comparison ran.
	s := newSpell("lo-error").
		node("start", "Module Trigger In", nil).
		node("n", "Logical Operator", op("equal")).
		node("o", "Output", map[string]any{"name": "error"}).
		edge("start.trigger>n.trigger", "n.true>o.trigger", "n.error>o.input").build()
	if outs := h.mustRunBoth(t, s, nil); outs["error"] != "" {
		t.Errorf("error output %v, want \"\"", outs["error"])
	}
}

// Magick flow/OrGate.ts: either trigger input fires the trigger output.
func TestOrGate(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	spell := func(ports ...string) *graph.Spell {
		b := newSpell("or").
			node("start", "Module Trigger In", nil).
			node("p", "Test Pass", nil).
			node("or", "Or Gate", nil).
			node("v", "String Variable", map[string]any{"_var": "fired"}).
			node("o", "Output", map[string]any{"name": "result"}).
			edge("start.trigger>p.trigger", "or.trigger>o.trigger", "v.output>o.input")
		for _, p := range ports {
			b = b.edge("p.trigger>or." + p)
		}
		return b.build()
	}
	for _, ports := range [][]string{{"trigger1"}, {"trigger2"}} {
		if outs := h.mustRunBoth(t, spell(ports...), nil); outs["result"] != "fired" {
			t.Errorf("Or Gate triggered on %v: result %v, want fired", ports, outs["result"])
		}
	}
	// Both inputs fire: the output fires once for each.
	_, rec := h.mustRun(t, spell("trigger1", "trigger2"), nil)
	if n := rec.count("o", graph.NodeStarted); n != 2 {
		t.Errorf("Or Gate triggered on both inputs: downstream ran %d times, want 2", n)
	}
	// Or Gate has no "trigger" input: a spell wiring one is refused.
	bad := newSpell("or-bad").node("start", "Module Trigger In", nil).node("or", "Or Gate", nil).
		edge("start.trigger>or.trigger").build()
	if err := validate(bad, h.catalog); err == nil {
		t.Error("an edge into Or Gate's nonexistent \"trigger\" input passed validation")
	}
}

// Magick flow/RandomGate.ts: one random declared trigger output fires
// (the original closed them all, a bug).
func TestRandomGate(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	names := []string{"a", "b", "c"}
	b := newSpell("random").
		node("start", "Module Trigger In", nil).
		node("rg", "Random Gate", nil, tout("a"), tout("b"), tout("c")).
		edge("start.trigger>rg.trigger")
	for _, n := range names {
		b = b.node("v_"+n, "String Variable", map[string]any{"_var": n}).
			node("o_"+n, "Output", map[string]any{"name": "branch"}).
			edge("rg."+n+">o_"+n+".trigger", "v_"+n+".output>o_"+n+".input")
	}
	s := b.build()
	seen := map[string]int{}
	for i := 0; i < 200; i++ {
		outs, rec := h.mustRun(t, s, nil)
		fired := 0
		for _, n := range names {
			fired += rec.count("o_"+n, graph.NodeStarted)
		}
		if fired != 1 {
			t.Fatalf("run %d: %d branches ran, want exactly 1", i, fired)
		}
		seen[randomBranch(outs["branch"])]++
	}
	for _, n := range names {
		if seen[n] == 0 {
			t.Errorf("branch %q never fired in 200 runs (counts %v)", n, seen)
		}
	}
	// The Thoth export of the same spell runs too (outputs from data.outputs).
	rs, _, err := graph.ParseSpell(reteExport(s, true))
	if err != nil {
		t.Fatal(err)
	}
	outs, _ := h.mustRun(t, rs, nil)
	if b := randomBranch(outs["branch"]); b != "a" && b != "b" && b != "c" {
		t.Errorf("Thoth export: branch %q, want a, b or c", b)
	}
	if typ, _ := h.catalog.Lookup("Random Gate"); !typ.Nondeterministic {
		t.Error("Random Gate must be Nondeterministic")
	}
	none := newSpell("random-none").node("start", "Module Trigger In", nil).node("rg", "Random Gate", nil).
		edge("start.trigger>rg.trigger").build()
	if err := validate(none, h.catalog); err == nil || !strings.Contains(err.Error(), "no trigger outputs") {
		t.Errorf("Random Gate without outputs: validation error %v, want one saying it declares none", err)
	}
}

func randomBranch(v any) string { s, _ := v.(string); return s }
