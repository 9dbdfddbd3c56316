package nodes_test

import (
	"context"
	"strings"
	"testing"

	"github.com/grimoire-run/grimoire/nodes"
)

// Magick document/DocumentToContent.ts: each document's content and "\n".
func TestDocumentToContent(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	s := newSpell("d2c").
		node("start", "Module Trigger In", nil).node("in", "Input", map[string]any{"name": "docs"}).
		node("d", "Document to Content", nil).node("o", "Output", map[string]any{"name": "content"}).
		edge("start.trigger>d.trigger", "in.output>d.documents", "d.trigger>o.trigger", "d.content>o.input").build()
	for _, c := range []struct {
		name string
		in   any
		want string
	}{
		{"magick documents", []any{map[string]any{"content": "a"}, map[string]any{"content": "b"}}, "a\nb\n"},
		{"search knowledge hits", []any{map[string]any{"text": "x", "score": 0.9}}, "x\n"},
		{"empty list", []any{}, ""},
		{"one document", map[string]any{"content": "solo"}, "solo\n"},
		{"database rows", map[string]any{"rows": []any{map[string]any{"content": "r"}}}, "\nr\n"},
	} {
		outs := h.mustRunBoth(t, s, map[string]any{"docs": c.in})
		if outs["content"] != c.want {
			t.Errorf("%s: %q, want %q", c.name, outs["content"], c.want)
		}
	}
	for _, c := range []struct {
		in   any
		want string
	}{{nil, "is missing"}, {[]any{1.0}, "element 0"}} {
		_, _, err := h.run(context.Background(), s, map[string]any{"docs": c.in})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want %q", c.in, err, c.want)
		}
	}
}

// Magick's index.ts registers createEmbedding and getCachedEmbedding as
// Create/Find Text Embedding: the old names must load.
func TestMagickEmbeddingAliases(t *testing.T) {
	reg := nodes.NewRegistry(nodes.Services{})
	for alias, want := range map[string]string{"Create Embedding": "Create Text Embedding", "Get Cached Embedding": "Find Text Embedding"} {
		if ty, ok := reg.Lookup(alias); !ok || ty.Name != want {
			t.Errorf("%q resolves to %v", alias, ty)
		}
	}
}
