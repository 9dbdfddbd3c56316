package nodes_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/grimoire-run/grimoire/nodes"
)

func cosineSpell() *spellBuilder {
	return newSpell("cos").
		node("start", "Module Trigger In", nil).
		node("a", "Input", map[string]any{"name": "a"}).node("b", "Input", map[string]any{"name": "b"}).
		node("cos", "Cosine Similarity", nil).node("o", "Output", map[string]any{"name": "s"}).
		edge("start.trigger>cos.trigger", "a.output>cos.embeddingA", "b.output>cos.embeddingB",
			"cos.trigger>o.trigger", "cos.similarity>o.input")
}

// Magick embedding/CosineSimilarity.ts (compute-cosine-similarity):
// dot / (|a| |b|), null for empty vectors, an error for unequal lengths.
func TestCosineSimilarity(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	for _, c := range []struct {
		a, b any
		want any
	}{
		{[]any{1.0, 0.0}, []any{1.0, 0.0}, 1.0},
		{[]any{1.0, 0.0}, []any{0.0, 2.0}, 0.0},
		{[]any{1.0, 2.0}, []any{-1.0, -2.0}, -1.0},
		{"1,2,3", []any{4.0, 5.0, 6.0}, 32 / math.Sqrt(14*77)},
		{[]any{}, []any{}, nil},
	} {
		outs := h.mustRunBoth(t, cosineSpell().build(), map[string]any{"a": c.a, "b": c.b})
		got := outs["s"]
		if f, ok := got.(float64); ok && c.want != nil {
			if math.Abs(f-c.want.(float64)) > 1e-6 {
				t.Errorf("cos(%v,%v) = %v, want %v", c.a, c.b, f, c.want)
			}
		} else if got != c.want {
			t.Errorf("cos(%v,%v) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
	for _, c := range []struct {
		a, b any
		want string
	}{
		{[]any{1.0}, []any{1.0, 2.0}, "differ in length"},
		{nil, []any{1.0}, `"embeddingA" is missing`},
		{[]any{0.0, 0.0}, []any{1.0, 2.0}, "all zeros"},
		{[]any{"x"}, []any{1.0}, `input "embeddingA"`},
	} {
		_, _, err := h.run(context.Background(), cosineSpell().build(), map[string]any{"a": c.a, "b": c.b})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("cos(%v,%v): err = %v, want %q", c.a, c.b, err, c.want)
		}
	}
}
