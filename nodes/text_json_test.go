package nodes_test

import (
	"context"
	"strings"
	"testing"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/nodes"
)

func validate(s *graph.Spell, c graph.Catalog) error { return graph.Validate(s, c) }

func TestJSONParseAndStringify(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	s := newSpell("json").
		node("in", "Input", map[string]any{"name": "doc"}).
		node("parse", "JSON Parse", nil).
		node("code", "Code", map[string]any{"code": "function worker(inputs) { return { n: inputs.obj.items.length } }"}, named(in("obj"), "obj"), out("n")).
		node("str", "JSON Stringify", nil).
		node("o1", "Output", map[string]any{"name": "n"}).
		node("o2", "Output", map[string]any{"name": "text"}).
		edge("in.output>parse.input", "parse.output>code.obj", "code.n>o1.input", "parse.output>str.input", "str.output>o2.input").build()
	outs, _ := h.mustRun(t, s, map[string]any{"doc": `{"items":[1,2,3]}`})
	if outs["n"] != 3.0 || outs["text"] != `{"items":[1,2,3]}` {
		t.Fatalf("outputs %v", outs)
	}
}

func TestJSONParseReportsBadJSON(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	s := newSpell("badjson").
		node("in", "Input", map[string]any{"name": "doc"}).
		node("parse", "JSON Parse", nil).
		node("out", "Output", map[string]any{"name": "o"}).
		edge("in.output>parse.input", "parse.output>out.input").build()
	_, _, err := h.run(context.Background(), s, map[string]any{"doc": `{"items":`})
	if err == nil || !strings.Contains(err.Error(), "parse") || !strings.Contains(err.Error(), "not valid JSON") {
		t.Fatalf("err = %v; want it to name the node and say the JSON is invalid", err)
	}
}
