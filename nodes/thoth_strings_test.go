package nodes_test

import (
	"testing"

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
