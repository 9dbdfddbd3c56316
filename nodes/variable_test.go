package nodes_test

import (
	"testing"

	"github.com/grimoire-run/grimoire/nodes"
)

func TestVariables(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	tests := []struct {
		typ  string
		cfg  map[string]any
		want any
	}{
		{"String Variable", map[string]any{"_var": "abc"}, "abc"},
		{"String", map[string]any{"value": "native"}, "native"},
		{"Text Variable", map[string]any{"_var": "line 1\nline 2"}, "line 1\nline 2"},
		{"Text Variable", map[string]any{"fewshot": "Magick keeps it here"}, "Magick keeps it here"}, // Magick text/TextVariable.ts
		{"Number Variable", map[string]any{"_var": "2.5"}, 2.5},
		{"Number", map[string]any{"value": 3.0}, 3.0},
		{"Boolean Variable", map[string]any{"_var": true}, true},
		{"Boolean", map[string]any{"value": "false"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			s := newSpell("var").node("v", tt.typ, tt.cfg).node("out", "Output", map[string]any{"name": "o"}).edge("v.output>out.input").build()
			outs, _ := h.mustRun(t, s, nil)
			if outs["o"] != tt.want {
				t.Fatalf("got %#v, want %#v", outs["o"], tt.want)
			}
		})
	}
}

func TestNumberVariableRejectsText(t *testing.T) {
	s := newSpell("var").node("v", "Number Variable", map[string]any{"_var": "many"}).node("out", "Output", nil).edge("v.output>out.input").build()
	if err := validate(s, nodes.NewRegistry(nodes.Services{})); err == nil {
		t.Fatal("a Number Variable holding \"many\" passed validation")
	}
}
