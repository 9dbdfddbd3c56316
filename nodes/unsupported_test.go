package nodes_test

import (
	"context"
	"strings"
	"testing"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/nodes"
)

// A spell using a node that needs what Grimoire lacks validates, in both
// formats, and fails when that node runs, saying what is missing.
func TestUnsupportedNodesValidateAndFailAtRun(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	for _, c := range []struct{ typ, out, want string }{
		{"Generate Image", "result", "image-generation model"},
		{"Text2Image", "result", "image-generation model"},
		{"Text to Speech", "result", "text-to-speech"},
		{"Speech2Text", "result", "speech-to-text"},
		{"Request", "output", "outbound HTTP"},
		{"Jupyter Notebook", "output", "Jupyter server"},
		{"Select Record", "result", "SQL database"},
		{"Upload Base64 Files", "urls", "file storage"},
		{"VisualGeneration", "images", "Thoth: core/src/components/VisualGeneration.ts"},
		{"Upsert Record", "result", "SQL database"},
		{"Get Current Weather", "result", "weather provider"},
		{"TypeChat", "result", "typeChat completion provider"},
		{"Create Task", "task", "agent task service"},
		{"Complete Task", "task", "agent task service"},
		{"Huggingface", "result", "Thoth: core/src/components/Huggingface.ts"},
	} {
		s := newSpell("uns").
			node("start", "Module Trigger In", nil).
			node("in", "Input", map[string]any{"name": "x"}).
			node("u", c.typ, map[string]any{"model": "whatever"}).
			node("o", "Output", map[string]any{"name": "out"}).
			edge("start.trigger>u.trigger", "in.output>u.prompt", "u.trigger>o.trigger", "u."+c.out+">o.input").build()
		rs, _, err := graph.ParseSpell(reteExport(s, false))
		if err != nil {
			t.Fatal(err)
		}
		if err := validate(rs, h.catalog); err != nil {
			t.Errorf("%s: validation failed: %v", c.typ, err)
		}
		_, _, err = h.run(context.Background(), rs, map[string]any{"x": "hi"})
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "unsupported") {
			t.Errorf("%s: run err = %v, want unsupported … %q", c.typ, err, c.want)
		}
	}
	reg := nodes.NewRegistry(nodes.Services{})
	for _, name := range []string{"Generate Image", "Agent Executor", "Base64 To Image"} {
		ty, ok := reg.Lookup(name)
		if !ok || ty.Family != "unsupported" {
			t.Errorf("%s: registered %v, family %q", name, ok, ty.Family)
		}
	}
}

// Magick code/Python.ts: refused when the spell is validated.
func TestPythonNodeFailsValidation(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	s := newSpell("py").
		node("start", "Module Trigger In", nil).
		node("py", "Python", map[string]any{"code": "def worker(inputs, data):\n  return {}, data"}).
		edge("start.trigger>py.trigger").build()
	err := validate(s, h.catalog)
	if err == nil || !strings.Contains(err.Error(), "unsupported: Python code node; port it to JavaScript (a Code node)") {
		t.Fatalf("validate: %v", err)
	}
	if !strings.Contains(err.Error(), "py") {
		t.Errorf("the error does not name the node: %v", err)
	}
}
