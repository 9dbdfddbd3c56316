package nodes_test

import (
	"testing"

	"github.com/grimoire-run/grimoire/nodes"
)

func TestTextTemplate(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	tests := []struct {
		name string
		cfg  map[string]any
		want string
	}{
		{"template", map[string]any{"template": "Hello {{who}}, you are {{age}}"}, "Hello <Ada & co>, you are 36"},
		{"Thoth fewshot, no HTML escaping", map[string]any{"fewshot": "{{who}}!"}, "<Ada & co>!"},
		{"Magick text with helpers", map[string]any{"text": "{{#if who}}yes{{else}}no{{/if}} {{missing}}."}, "yes ."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSpell("tpl").
				node("who", "String Variable", map[string]any{"_var": "<Ada & co>"}).
				node("age", "Number Variable", map[string]any{"_var": "36"}).
				node("tpl", "Text Template", tt.cfg, named(in("k1"), "who"), named(in("k2"), "age")).
				node("out", "Output", map[string]any{"name": "o"}).
				edge("who.output>tpl.k1", "age.output>tpl.k2", "tpl.output>out.input").build()
			outs, _ := h.mustRun(t, s, nil)
			if outs["o"] != tt.want {
				t.Fatalf("got %q, want %q", outs["o"], tt.want)
			}
		})
	}
}

func TestTextTemplateRejectsBadConfig(t *testing.T) {
	reg := nodes.NewRegistry(nodes.Services{})
	for _, cfg := range []map[string]any{{}, {"template": "{{#if x}}unclosed"}} {
		s := newSpell("bad").node("tpl", "Text Template", cfg).node("out", "Output", nil).edge("tpl.output>out.input").build()
		if err := validate(s, reg); err == nil {
			t.Errorf("config %v: validation passed", cfg)
		}
	}
}
