package nodes_test

import (
	"testing"

	"github.com/grimoire-run/grimoire/nodes"
)

func TestInputAndOutput(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	spell := func(cfg map[string]any) *spellBuilder {
		return newSpell("io").
			node("in", "Universal Input", cfg).
			node("out", "Output", map[string]any{"name": "answer"}).
			edge("in.output>out.input", "in.trigger>out.trigger")
	}
	tests := []struct {
		name   string
		cfg    map[string]any
		inputs map[string]any
		want   any
	}{
		{"named input", map[string]any{"name": "question"}, map[string]any{"question": "why?"}, "why?"},
		{"default name", map[string]any{}, map[string]any{"Input - Default": "hi"}, "hi"},
		{"default value", map[string]any{"name": "q", "default": "fallback"}, map[string]any{"other": 1.0}, "fallback"},
		{"Magick defaultValue", map[string]any{"name": "q", "defaultValue": 7.0}, nil, 7.0},
		{"object input", map[string]any{"name": "q"}, map[string]any{"q": map[string]any{"content": "x"}}, map[string]any{"content": "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			outs, _ := h.mustRun(t, spell(tt.cfg).build(), tt.inputs)
			if got := outs["answer"]; !equalJSON(got, tt.want) {
				t.Fatalf("answer = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestOutputWithoutTriggerPullsItsData(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	s := newSpell("pull").
		node("v", "String Variable", map[string]any{"_var": "constant"}).
		node("out", "Output", map[string]any{"name": "o"}).
		edge("v.output>out.input").build()
	outs, _ := h.mustRun(t, s, nil)
	if outs["o"] != "constant" {
		t.Fatalf("outputs %v", outs)
	}
}
