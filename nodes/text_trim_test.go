package nodes_test

import (
	"context"
	"strings"
	"testing"

	"github.com/grimoire-run/grimoire/nodes"
)

// tuRun runs one triggered node of typ with run inputs wired to its ports
// and returns its data output port as the run output "o".
func tuRun(t *testing.T, h *harness, typ string, cfg map[string]any, inputs map[string]any, port string) (any, error) {
	t.Helper()
	b := newSpell("tu").node("start", "Module Trigger In", nil).node("n", typ, cfg).
		node("out", "Output", map[string]any{"name": "o"}).
		edge("start.trigger>n.trigger", "n.trigger>out.trigger", "n."+port+">out.input")
	for p := range inputs {
		b = b.node("in_"+p, "Input", map[string]any{"name": p}).edge("in_" + p + ".output>n." + p)
	}
	res, _, err := h.run(context.Background(), b.build(), inputs)
	if err != nil {
		return nil, err
	}
	return res.Outputs["o"], nil
}

// tuBranch reports which of a node's "true"/"false" outputs fired.
func tuBranch(t *testing.T, h *harness, typ string, cfg map[string]any, inputs map[string]any) (string, error) {
	t.Helper()
	b := newSpell("tub").node("start", "Module Trigger In", nil).node("n", typ, cfg).
		node("vt", "String Variable", map[string]any{"_var": "true"}).node("vf", "String Variable", map[string]any{"_var": "false"}).
		node("ot", "Output", map[string]any{"name": "b"}).node("of", "Output", map[string]any{"name": "b"}).
		edge("start.trigger>n.trigger", "n.true>ot.trigger", "vt.output>ot.input", "n.false>of.trigger", "vf.output>of.input")
	for p := range inputs {
		b = b.node("in_"+p, "Input", map[string]any{"name": p}).edge("in_" + p + ".output>n." + p)
	}
	res, _, err := h.run(context.Background(), b.build(), inputs)
	if err != nil {
		return "", err
	}
	s, _ := res.Outputs["b"].(string)
	return s, nil
}

func TestTUDataNodes(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	m := func(kv ...any) map[string]any {
		out := map[string]any{}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i].(string)] = kv[i+1]
		}
		return out
	}
	for _, tt := range []struct {
		name, typ string
		cfg, in   map[string]any
		port      string
		want      any
		wantErr   string
	}{
		// Magick nodes/text/Trim.ts: String.trim.
		{"trim", "Trim", nil, m("string", " \t hi there \n"), "output", "hi there", ""},
		{"trim missing", "Trim", nil, nil, "output", nil, `"string" has no value`},
		// Magick GetLength.ts: JavaScript length (UTF-16 units).
		{"length", "Get Length", nil, m("string", "héllo😀"), "output", 7.0, ""},
		{"length array", "Get Length", nil, m("string", []any{1.0, 2.0}), "output", 2.0, ""},
		{"length number", "Get Length", nil, m("string", 3.0), "output", nil, "measures a string or an array"},
		// Thoth JoinList.ts: Array.join(separator).
		{"join", "Join List", m("separator", ", "), m("list", []any{"a", 1.0, nil, []any{"x", "y"}}), "text", "a, 1, , x,y", ""},
		{"join default sep", "Join List", nil, m("list", []any{"a", "b"}), "text", "a b", ""},
		{"join empty", "Join List", nil, m("list", []any{}), "text", "", ""},
		{"join not a list", "Join List", nil, m("list", "abc"), "text", nil, "not a list"},
		// Magick ReplaceText.ts: replaceAll; inputs win when truthy.
		{"replace cfg", "Replace Text", m("match", "$agent", "replace", "Ana"), m("input", "hi $agent, $agent"), "output", "hi Ana, Ana", ""},
		{"replace inputs", "Replace Text", m("match", "x"), m("input", "a-b", "match", "-", "replace", "+"), "output", "a+b", ""},
		{"replace no replace", "Replace Text", m("match", "b"), m("input", "abc"), "output", "ac", ""},
		{"replace missing", "Replace Text", nil, nil, "output", nil, `"input" has no value`},
		// Magick RegularExpression.ts: matches removed.
		{"regex", "Regular Expression", m("rule", "[0-9]+"), m("input", "a1b22c"), "output", "abc", ""},
		{"regex empty input", "Regular Expression", m("rule", "x"), m("input", ""), "output", nil, "must be defined"},
		// Magick SplitBySentence.ts.
		{"split", "Split By Sentence", m("stringMaxLength", 5.0), m("string", "Hi there. Ok! Fine?"), "output", []any{"Hi th", "ere.", "Ok!", "Fine?"}, ""},
		{"split default", "Split By Sentence", nil, m("string", "One. Two.\nThree"), "output", []any{"One.", "Two.", "Three"}, ""},
		// Magick Cast.ts: unchanged.
		{"cast", "Cast", m("socketType", "String"), m("input", map[string]any{"a": 1.0}), "output", map[string]any{"a": 1.0}, ""},
		// Magick CombineText.ts is tested below (declared ports).
		// Magick Error.ts: throws the message.
		{"error", "Error", nil, m("string", "custom failure"), "output", nil, "custom failure"},
		{"error default", "Error", nil, nil, "output", nil, "Error in Error node.  Oops."},
	} {
		got, err := tuRun(t, h, tt.typ, tt.cfg, tt.in, tt.port)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: err %v, want one containing %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if !equalJSON(got, tt.want) {
			t.Errorf("%s: got %#v, want %#v", tt.name, got, tt.want)
		}
	}
}

func TestTUBranches(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	for _, tt := range []struct {
		name, typ string
		cfg       map[string]any
		in        string
		want      string
	}{
		// Magick EvaluateText.ts.
		{"eval includes", "Evaluate Text", map[string]any{"fewshot": " ell "}, "hello", "true"},
		{"eval default op miss", "Evaluate Text", map[string]any{"fewshot": "zz"}, "hello", "false"},
		{"eval equals", "Evaluate Text", map[string]any{"fewshot": "hello", "operationType": "=="}, "hello", "true"},
		{"eval not starts", "Evaluate Text", map[string]any{"fewshot": "he", "operationType": "Not Starts With"}, "hello", "false"},
		// Magick ProfanityFilter.ts: true = Dirty.
		{"profane", "Profanity Filter", nil, "what the Fuck!", "true"},
		{"clean", "Profanity Filter", nil, "the cockpit of Dickens", "false"},
		// Magick ComplexStringMatcher.ts (Text Rule Matcher).
		{"rule begin", "Text Rule Matcher", map[string]any{"matchBeginningString": "hi, hey"}, "hey you", "true"},
		{"rule end miss", "Text Rule Matcher", map[string]any{"matchBeginningString": "hi", "matchEndString": "!"}, "hi you", "false"},
		{"rule too long", "Text Rule Matcher", map[string]any{"matchAnyString": "o", "stringMaxLength": 3.0}, "hello", "false"},
		// Thoth FastClassifier: "false" fires on a valid match.
		{"thoth match", "Complex String Matcher", map[string]any{"matchBeginningString": "hi", "matchEndString": "", "matchAnyString": ""}, `"Hi" there`, "false"},
		{"thoth no match", "Complex String Matcher", map[string]any{"matchBeginningString": "yo", "matchEndString": "zz", "matchAnyString": "zz"}, "hi", "true"},
		// An unset rule list is the rule "", which Thoth matched against every input.
		{"thoth empty rules match", "Complex String Matcher", map[string]any{"matchBeginningString": "yo"}, "hi", "false"},
		{"thoth dont", "Complex String Matcher", map[string]any{"matchBeginningString": "hi", "dontMatchBeginning": true}, "hi", "true"},
	} {
		got, err := tuBranch(t, h, tt.typ, tt.cfg, map[string]any{map[bool]string{true: "input", false: "string"}[strings.Contains(tt.typ, "Match")]: tt.in})
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%s: fired %q, want %q", tt.name, got, tt.want)
		}
	}
	if _, err := tuBranch(t, h, "Evaluate Text", map[string]any{"operationType": "bogus"}, map[string]any{"string": "x"}); err == nil {
		t.Error("Evaluate Text accepted an unknown operationType")
	}
}

func TestTUDynamicAndSandbox(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	// Magick CombineText.ts: declared inputs in order, delimiter between.
	s := newSpell("combine").node("start", "Module Trigger In", nil).
		node("a", "String Variable", map[string]any{"_var": "Hello"}).node("b", "String Variable", map[string]any{"_var": "world"}).
		node("c", "Combine Text", map[string]any{"delimiter": " "}, in("first"), in("second")).
		node("o", "Output", map[string]any{"name": "o"}).
		edge("start.trigger>c.trigger", "a.output>c.first", "b.output>c.second", "c.trigger>o.trigger", "c.output>o.input").build()
	if got := h.mustRunBoth(t, s, nil)["o"]; got != "Hello world" {
		t.Errorf("Combine Text = %#v", got)
	}
	// Thoth StringProcessor.ts: returned keys are output sockets.
	sp := newSpell("sp").node("start", "Module Trigger In", nil).node("in", "Input", map[string]any{"name": "x"}).
		node("p", "String Processor", map[string]any{"code": "(s) => ({ upper: s.toUpperCase(), len: s.length })"}, out("upper"), out("len")).
		node("o", "Output", map[string]any{"name": "o"}).node("o2", "Output", map[string]any{"name": "n"}).
		edge("start.trigger>p.trigger", "in.output>p.input", "p.trigger>o.trigger", "p.upper>o.input", "p.trigger>o2.trigger", "p.len>o2.input").build()
	outs := h.mustRunBoth(t, sp, map[string]any{"x": "abc"})
	if outs["o"] != "ABC" || !equalJSON(outs["n"], 3.0) {
		t.Errorf("String Processor outputs %v", outs)
	}
	bad := newSpell("spbad").node("start", "Module Trigger In", nil).node("p", "String Processor", map[string]any{"code": "(s) => 42"}).
		edge("start.trigger>p.trigger").build()
	if _, _, err := h.run(context.Background(), bad, nil); err == nil || !strings.Contains(err.Error(), "return an object") {
		t.Errorf("String Processor returning a number: err %v", err)
	}
	// Magick Fewshot Variable, UUID Generator, Current Time, Log, Alert.
	fv := newSpell("fv").node("v", "Fewshot Variable", map[string]any{"fewshot": "Q: a\nA: b"}).node("u", "Generate UUID", nil).
		node("o", "Output", map[string]any{"name": "o"}).node("o2", "Output", map[string]any{"name": "u"}).
		edge("v.output>o.input", "u.output>o2.input").build()
	res, _ := h.mustRun(t, fv, nil)
	if res["o"] != "Q: a\nA: b" {
		t.Errorf("Fewshot Variable = %#v", res["o"])
	}
	if u, _ := res["u"].(string); len(u) != 36 || u[14] != '4' {
		t.Errorf("UUID Generator = %#v, want a v4 UUID", res["u"])
	}
	ct, err := tuRun(t, h, "Current Time", nil, nil, "timestamp")
	if f, ok := ct.(float64); err != nil || !ok || f < 1.7e12 {
		t.Errorf("Current Time timestamp %v %v", ct, err)
	}
	side := newSpell("side").node("start", "Module Trigger In", nil).node("l", "Log", map[string]any{"name": "x"}).
		node("al", "Alert", map[string]any{"text": "look"}).edge("start.trigger>l.trigger", "start.trigger>al.trigger").build()
	_, rec := h.mustRun(t, side, nil)
	if c := rec.chunks("al"); len(c) != 1 || c[0] != "look" {
		t.Errorf("Alert streamed %v, want [look]", c)
	}
}
