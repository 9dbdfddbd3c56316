package nodes_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/nodes"
)

// Expected values follow Thoth's core/src/components/StringAdder.ts:
// input + (newLineStarting ? "\n" : "") + newInput with JavaScript's +.
func TestThothStringAdder(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	cases := []struct {
		name   string
		cfg    map[string]any
		inputs map[string]any // keys "a" (string) and "b" (newInput); absent leaves the port unwired
		want   string
	}{
		{"plain", nil, map[string]any{"a": "foo", "b": "bar"}, "foobar"},
		{"newline bool", map[string]any{"newLineStarting": true}, map[string]any{"a": "foo", "b": "bar"}, "foo\nbar"},
		{"newline string", map[string]any{"newLineStarting": "true"}, map[string]any{"a": "foo", "b": "bar"}, "foo\nbar"},
		{"newline other string", map[string]any{"newLineStarting": "yes"}, map[string]any{"a": "foo", "b": "bar"}, "foobar"},
		{"empty strings", nil, map[string]any{"a": "", "b": ""}, ""},
		{"empty with newline", map[string]any{"newLineStarting": true}, map[string]any{"a": "", "b": ""}, "\n"},
		{"missing newInput", nil, map[string]any{"a": "foo"}, "fooundefined"},
		{"missing string", map[string]any{"newLineStarting": true}, map[string]any{"b": "bar"}, "undefined\nbar"},
		{"both missing newline", map[string]any{"newLineStarting": true}, map[string]any{}, "undefined\nundefined"},
		{"null input", nil, map[string]any{"a": nil, "b": "x"}, "nullx"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newSpell("adder").node("n", "String Adder", c.cfg).node("o", "Output", map[string]any{"name": "out"})
			if _, ok := c.inputs["a"]; ok {
				b = b.node("ia", "Input", map[string]any{"name": "a"}).edge("ia.output>n.string")
			}
			if _, ok := c.inputs["b"]; ok {
				b = b.node("ib", "Input", map[string]any{"name": "b"}).edge("ib.output>n.newInput")
			}
			outs := h.mustRunBoth(t, b.edge("n.output>o.input").build(), c.inputs)
			if got := outs["out"]; got != c.want {
				t.Fatalf("output = %#v; want %#v", got, c.want)
			}
		})
	}
}

// Expected branches follow Thoth's core/src/components/StringEvaluator.ts.
func TestThothStringEvaluator(t *testing.T) {
	ports := []string{"string"}
	in := func(s string) map[string]any { return map[string]any{"string": s} }
	runBranchCases(t, "String Evaluator", ports, []branchCase{
		{"default includes", map[string]any{"fewshot": "cat"}, in("a cat sat"), "true"},
		{"default includes miss", map[string]any{"fewshot": "dog"}, in("a cat sat"), "false"},
		{"empty fewshot includes", nil, in("anything"), "true"},
		{"empty string empty fewshot", nil, in(""), "true"},
		{"fewshot trimmed", map[string]any{"fewshot": "  cat\n"}, in("cat"), "true"},
		{"op trimmed lowercased", map[string]any{"fewshot": "cat", "operationType": " EQUALS "}, in("cat"), "true"},
		{"equals miss", map[string]any{"fewshot": "cat", "operationType": "equals"}, in("cats"), "false"},
		{"not equals", map[string]any{"fewshot": "cat", "operationType": "not equals"}, in("cats"), "true"},
		{"not includes", map[string]any{"fewshot": "cat", "operationType": "not includes"}, in("cats"), "false"},
		{"startsWith never matches", map[string]any{"fewshot": "c", "operationType": "startsWith"}, in("cat"), "false"},
		{"endsWith never matches", map[string]any{"fewshot": "t", "operationType": "endsWith"}, in("cat"), "false"},
		{"unknown op", map[string]any{"fewshot": "cat", "operationType": "matches"}, in("cat"), "false"},
	})
	runBranchError(t, "String Evaluator", nil, nil, nil, `"string" has no value`)
}

// Expected values follow Thoth's core/src/components/StringCombiner.ts:
// input.replace('$' + key.split(' ')[0].toLowerCase().trim(), value) for
// every input key containing "replacer".
func TestThothStringCombiner(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	cases := []struct {
		name  string
		str   any // noInput leaves "string" unwired
		agent any // noInput leaves the replacer unwired
		want  any // noOutput: left out
	}{
		{"replaces first only", "hi $agent, $agent", "Bob", "hi Bob, $agent"},
		{"no placeholder", "hello", "Bob", "hello"},
		{"empty string", "", "Bob", ""},
		{"empty value", "[$agent]", "", "[]"},
		{"unwired replacer skipped", "[$agent]", noInput, "[$agent]"},
		{"null value", "[$agent]", nil, "[null]"},
		{"dollar patterns", "a $agent b", "$$-$&", "a $-$agent b"},
		{"number value", "n=$agent", 3.0, "n=3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newSpell("combiner").
				node("n", "String Combiner", nil, in("string"), in("Agent Replacer"), in("other")).
				node("s", "Input", map[string]any{"name": "s"}).
				node("o", "Output", map[string]any{"name": "out"}).
				edge("s.output>n.string", "n.output>o.input")
			if c.agent != noInput {
				b = b.node("ag", "Input", map[string]any{"name": "agent"}).edge("ag.output>n.Agent Replacer")
			}
			outs := h.mustRunBoth(t, b.build(), map[string]any{"s": c.str, "agent": c.agent})
			if got := outs["out"]; !equalJSON(got, c.want) {
				t.Fatalf("output = %#v; want %#v", got, c.want)
			}
		})
	}
	// No string and a replacer: JavaScript throws on undefined.replace.
	s := newSpell("combiner-nostring").
		node("n", "String Combiner", nil, in("string"), in("Agent Replacer")).
		node("ag", "Input", map[string]any{"name": "agent"}).
		node("o", "Output", map[string]any{"name": "out"}).edge("ag.output>n.Agent Replacer", "n.output>o.input").build()
	if _, _, err := h.run(context.Background(), s, map[string]any{"agent": "x"}); err == nil || !strings.Contains(err.Error(), `"string" has no value`) {
		t.Fatalf("err = %v; want a missing-string error", err)
	}
}

// Expected values follow Thoth's core/src/components/InputsToJSON.ts:
// JSON.stringify({key.toLowerCase().trim(): value}) over connected inputs.
func TestThothInputsToJSON(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	s := newSpell("inputs-to-json").
		node("a", "Input", map[string]any{"name": "a"}).
		node("b", "Input", map[string]any{"name": "b"}).
		node("n", "Inputs To JSON", nil, in("Zeta "), in("Alpha"), in("unwired")).
		node("o", "Output", map[string]any{"name": "out"}).
		edge("a.output>n.Zeta ", "b.output>n.Alpha", "n.output>o.input").build()
	cases := []struct {
		a, b any
		want string
	}{
		{"x<y>", 2.0, `{"zeta":"x<y>","alpha":2}`},
		{"", nil, `{"zeta":"","alpha":null}`},
		{[]any{true}, map[string]any{"k": "v"}, `{"zeta":[true],"alpha":{"k":"v"}}`},
	}
	for _, c := range cases {
		outs := h.mustRunBoth(t, s, map[string]any{"a": c.a, "b": c.b})
		if outs["out"] != c.want {
			t.Fatalf("inputs %v, %v: output = %#v; want %#v", c.a, c.b, outs["out"], c.want)
		}
	}
	// No connected inputs: "{}".
	empty := newSpell("inputs-to-json-empty").node("n", "Inputs To JSON", nil, in("lonely")).
		node("o", "Output", map[string]any{"name": "out"}).edge("n.output>o.input").build()
	if outs := h.mustRunBoth(t, empty, nil); outs["out"] != "{}" {
		t.Fatalf("output = %#v; want \"{}\"", outs["out"])
	}
}

// Expected values follow Thoth's core/src/components/RandomStringFromList.ts:
// a random line of fewshot, no line repeated until all have been picked.
func TestThothRandomStringFromList(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	build := func(fewshot string) *graph.Spell {
		return newSpell("random-list").node("n", "Random List From String", map[string]any{"fewshot": fewshot}).
			node("o", "Output", map[string]any{"name": "out"}).edge("n.output>o.input").build()
	}
	pick := func(s *graph.Spell) any {
		t.Helper()
		res, _, err := h.run(context.Background(), s, nil)
		if err != nil {
			t.Fatal(err)
		}
		return res.Outputs["out"]
	}
	lines := []string{"rsfl-one", "rsfl-two", "rsfl-three"}
	s := build(strings.Join(lines, "\n"))
	for cycle := 0; cycle < 3; cycle++ {
		seen := map[any]bool{}
		for range lines {
			got := pick(s)
			if !slices.Contains(lines, got.(string)) || seen[got] {
				t.Fatalf("cycle %d: picked %#v after %v; want an unpicked line of %v", cycle, got, seen, lines)
			}
			seen[got] = true
		}
	}
	// One line, the empty fewshot (split gives [""]) and duplicate lines
	// (where the original would spin forever) each give their one value.
	for fewshot, want := range map[string]string{"rsfl-only": "rsfl-only", "": "", "rsfl-dup\nrsfl-dup": "rsfl-dup"} {
		for i := 0; i < 3; i++ {
			if got := h.mustRunBoth(t, build(fewshot), nil)["out"]; got != want {
				t.Fatalf("fewshot %q, run %d: output = %#v; want %#v", fewshot, i, got, want)
			}
		}
	}
	// Thoth's class name works as an alias of the editor name.
	alias := newSpell("random-alias").node("n", "Random String From List", map[string]any{"fewshot": "rsfl-alias"}).
		node("o", "Output", map[string]any{"name": "out"}).edge("n.output>o.input").build()
	if got := pick(alias); got != "rsfl-alias" {
		t.Fatalf("alias output = %#v; want \"rsfl-alias\"", got)
	}
}
