package nodes_test

import (
	"context"
	"strings"
	"testing"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/nodes"
)

// branchProbeSpell wires a run input of the same name into each listed
// data port of one node of type typ, triggers it, and sets the run output
// "branch" to "true" or "false" after whichever of those triggers fired.
func branchProbeSpell(id, typ string, cfg map[string]any, ports ...string) *graph.Spell {
	b := newSpell(id).
		node("start", "Module Trigger In", nil).
		node("n", typ, cfg).
		node("yesVal", "String Variable", map[string]any{"_var": "true"}).
		node("noVal", "String Variable", map[string]any{"_var": "false"}).
		node("outYes", "Output", map[string]any{"name": "branch"}).
		node("outNo", "Output", map[string]any{"name": "branch"}).
		edge("start.trigger>n.trigger",
			"n.true>outYes.trigger", "yesVal.output>outYes.input",
			"n.false>outNo.trigger", "noVal.output>outNo.input")
	for _, p := range ports {
		b = b.node("in_"+p, "Input", map[string]any{"name": p}).edge("in_" + p + ".output>n." + p)
	}
	return b.build()
}

type branchCase struct {
	name   string
	cfg    map[string]any
	inputs map[string]any
	want   string // "true" or "false"
}

func runBranchCases(t *testing.T, typ string, ports []string, cases []branchCase) {
	t.Helper()
	h := newHarness(t, nodes.Services{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := branchProbeSpell("probe", typ, tc.cfg, ports...)
			outs := h.mustRunBoth(t, s, tc.inputs)
			if outs["branch"] != tc.want {
				t.Errorf("%s with config %v, inputs %v: fired %v, want %q", typ, tc.cfg, tc.inputs, outs["branch"], tc.want)
			}
		})
	}
}

// runBranchError expects the run to fail with an error containing want.
func runBranchError(t *testing.T, typ string, cfg map[string]any, ports []string, inputs map[string]any, want string) {
	t.Helper()
	h := newHarness(t, nodes.Services{})
	_, _, err := h.run(context.Background(), branchProbeSpell("bad", typ, cfg, ports...), inputs)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("%s with config %v, inputs %v: error %v, want one containing %q", typ, cfg, inputs, err, want)
	}
}

// Magick number/{Equal,GreaterThan,GreaterThanOrEqual,LessThan,
// LessThanOrEqual}.ts: input against the "value" socket, else data.value
// (default 0); true/false triggers.
func TestNumberComparisons(t *testing.T) {
	ports := []string{"input", "value"}
	type row struct {
		input, value any
		cfg          map[string]any
		eq, gt, ge   string
		lt, le       string
	}
	rows := map[string]row{
		"3 vs 5":                  {3.0, 5.0, nil, "false", "false", "false", "true", "true"},
		"5 vs 5":                  {5.0, 5.0, nil, "true", "false", "true", "false", "true"},
		"7 vs 5":                  {7.0, 5.0, nil, "false", "true", "true", "false", "false"},
		"text numbers":            {"10", "9", nil, "false", "true", "true", "false", "false"},
		"number vs text number":   {5.0, "5", nil, "true", "false", "true", "false", "true"},
		"config value, no socket": {4.0, nil, map[string]any{"value": "4"}, "true", "false", "true", "false", "true"},
		"socket wins over config": {4.0, 2.0, map[string]any{"value": 4.0}, "false", "true", "true", "false", "false"},
		"default value is 0":      {-1.0, nil, nil, "false", "false", "false", "true", "true"},
		"missing input is false":  {nil, 5.0, nil, "false", "false", "false", "false", "false"},
		"non-numbers as text":     {"b", "a", nil, "false", "true", "true", "false", "false"},
		"same text":               {"abc", "abc", nil, "true", "false", "true", "false", "true"},
	}
	for _, typ := range []string{"Equal", "Greater Than", "Greater Than Or Equal", "Less Than", "Less Than Or Equal"} {
		var cases []branchCase
		for name, r := range rows {
			want := map[string]string{"Equal": r.eq, "Greater Than": r.gt, "Greater Than Or Equal": r.ge, "Less Than": r.lt, "Less Than Or Equal": r.le}[typ]
			inputs := map[string]any{}
			if r.input != nil {
				inputs["input"] = r.input
			}
			if r.value != nil {
				inputs["value"] = r.value
			}
			cases = append(cases, branchCase{name, r.cfg, inputs, want})
		}
		t.Run(typ, func(t *testing.T) { runBranchCases(t, typ, ports, cases) })
		// An object cannot be compared: a clear error naming the port.
		runBranchError(t, typ, nil, ports, map[string]any{"input": map[string]any{"a": 1.0}, "value": 1.0}, `"input" is an object`)
	}
}

// Thoth InRange.ts / Magick number/InRange.ts: inclusive bounds from the
// sockets, else data.startNumber / data.endNumber (defaults 10 and 100);
// Magick swaps reversed bounds.
func TestNumberInRange(t *testing.T) {
	ports := []string{"input", "startNumber", "endNumber"}
	runBranchCases(t, "In Range", ports, []branchCase{
		{"inside", nil, map[string]any{"input": 5.0, "startNumber": 1.0, "endNumber": 10.0}, "true"},
		{"lower bound inclusive", nil, map[string]any{"input": 1.0, "startNumber": 1.0, "endNumber": 10.0}, "true"},
		{"upper bound inclusive", nil, map[string]any{"input": 10.0, "startNumber": 1.0, "endNumber": 10.0}, "true"},
		{"above", nil, map[string]any{"input": 10.5, "startNumber": 1.0, "endNumber": 10.0}, "false"},
		{"below", nil, map[string]any{"input": 0.0, "startNumber": 1.0, "endNumber": 10.0}, "false"},
		{"reversed bounds are swapped", nil, map[string]any{"input": 5.0, "startNumber": 10.0, "endNumber": 1.0}, "true"},
		{"text numbers", nil, map[string]any{"input": "50", "startNumber": "10", "endNumber": "60"}, "true"},
		{"default bounds 10..100", nil, map[string]any{"input": 50.0}, "true"},
		{"default bounds exclude 5", nil, map[string]any{"input": 5.0}, "false"},
		{"config bounds as text", map[string]any{"startNumber": "1", "endNumber": "6"}, map[string]any{"input": 5.0}, "true"},
		{"socket wins over config", map[string]any{"startNumber": 1.0, "endNumber": 6.0}, map[string]any{"input": 5.0, "endNumber": 4.0}, "false"},
	})
	runBranchError(t, "In Range", nil, ports, map[string]any{"input": "lots"}, `"lots" is not a number`)
	runBranchError(t, "In Range", nil, ports, map[string]any{"input": 5.0, "startNumber": "low"}, `"startNumber"`)
	runBranchError(t, "In Range", nil, ports, map[string]any{}, `"input" has no value`)
	h := newHarness(t, nodes.Services{})
	if err := validate(branchProbeSpell("badcfg", "In Range", map[string]any{"endNumber": "many"}, ports...), h.catalog); err == nil || !strings.Contains(err.Error(), "endNumber") {
		t.Errorf("config endNumber \"many\": validation error %v, want one naming endNumber", err)
	}
}

// Magick number/IsANumber.ts: not an object and !isNaN(parseFloat(x)).
func TestNumberIsANumber(t *testing.T) {
	runBranchCases(t, "Is A Number", []string{"input"}, []branchCase{
		{"number", nil, map[string]any{"input": 42.0}, "true"},
		{"zero", nil, map[string]any{"input": 0.0}, "true"},
		{"numeric text", nil, map[string]any{"input": "3.14"}, "true"},
		{"leading number counts", nil, map[string]any{"input": "12abc"}, "true"},
		{"leading spaces and sign", nil, map[string]any{"input": "  -.5e3"}, "true"},
		{"Infinity", nil, map[string]any{"input": "Infinity"}, "true"},
		{"word", nil, map[string]any{"input": "abc"}, "false"},
		{"empty text", nil, map[string]any{"input": ""}, "false"},
		{"boolean", nil, map[string]any{"input": true}, "false"},
		{"list is an object", nil, map[string]any{"input": []any{1.0}}, "false"},
		{"object", nil, map[string]any{"input": map[string]any{"n": 1.0}}, "false"},
		{"missing", nil, map[string]any{}, "false"},
	})
}

// Magick number/{Add,Subtract,Multiply,Divide}.ts: operands from the
// sockets, else data.firstNumber / data.secondNumber (default 1).
func TestNumberArithmetic(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	spell := func(typ string, cfg map[string]any) *graph.Spell {
		return newSpell("arith").
			node("start", "Module Trigger In", nil).
			node("a", "Input", map[string]any{"name": "a"}).
			node("b", "Input", map[string]any{"name": "b"}).
			node("op", typ, cfg).
			node("o", "Output", map[string]any{"name": "result"}).
			edge("start.trigger>op.trigger", "a.output>op.firstNumber", "b.output>op.secondNumber",
				"op.trigger>o.trigger", "op.result>o.input").build()
	}
	tests := []struct {
		typ    string
		cfg    map[string]any
		inputs map[string]any
		want   float64
	}{
		{"Add", nil, map[string]any{"a": 2.0, "b": 3.5}, 5.5},
		{"Subtract", nil, map[string]any{"a": 2.0, "b": 3.5}, -1.5},
		{"Multiply", nil, map[string]any{"a": 2.0, "b": 3.5}, 7},
		{"Divide", nil, map[string]any{"a": 7.0, "b": 2.0}, 3.5},
		{"Add", nil, map[string]any{"a": "2", "b": "40"}, 42}, // text numbers are numbers, not concatenated
		{"Add", nil, map[string]any{}, 2},                     // both default to 1
		{"Subtract", map[string]any{"firstNumber": "10", "secondNumber": 4.0}, map[string]any{}, 6},
		{"Multiply", map[string]any{"firstNumber": 10.0, "secondNumber": 4.0}, map[string]any{"b": 3.0}, 30}, // socket wins
		{"Divide", map[string]any{"secondNumber": 4.0}, map[string]any{"a": 2.0}, 0.5},
	}
	for _, tt := range tests {
		outs := h.mustRunBoth(t, spell(tt.typ, tt.cfg), tt.inputs)
		if outs["result"] != tt.want {
			t.Errorf("%s config %v inputs %v: result %v, want %v", tt.typ, tt.cfg, tt.inputs, outs["result"], tt.want)
		}
	}
	bad := []struct {
		typ    string
		cfg    map[string]any
		inputs map[string]any
		want   string
	}{
		{"Divide", nil, map[string]any{"a": 1.0, "b": 0.0}, "division by zero"},
		{"Add", nil, map[string]any{"a": "one", "b": 1.0}, `input "firstNumber"`},
		{"Multiply", nil, map[string]any{"a": 1.0, "b": []any{2.0}}, `input "secondNumber"`},
	}
	for _, tt := range bad {
		_, _, err := h.run(context.Background(), spell(tt.typ, tt.cfg), tt.inputs)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s inputs %v: error %v, want one containing %q", tt.typ, tt.inputs, err, tt.want)
		}
	}
	if err := validate(spell("Subtract", map[string]any{"firstNumber": "ten"}), h.catalog); err == nil || !strings.Contains(err.Error(), "firstNumber") {
		t.Errorf("config firstNumber \"ten\": validation error %v, want one naming firstNumber", err)
	}
}
