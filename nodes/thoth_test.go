package nodes_test

import (
	"os"
	"testing"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/nodes"
)

// A Thoth export (chain, numeric node ids, connections on both ends, editor
// state in data) runs with the built-in types.
func TestThothSpellRuns(t *testing.T) {
	data, err := os.ReadFile("testdata/thoth_code_gate.json")
	if err != nil {
		t.Fatal(err)
	}
	s, format, err := graph.ParseSpell(data)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if format != graph.FormatRete {
		t.Fatalf("format %q", format)
	}
	h := newHarness(t, nodes.Services{})
	tests := []struct {
		input   string
		outputs map[string]any
		skipped []string
	}{
		{"hello there", map[string]any{"long": 11.0}, []string{"6"}},
		{"hey", map[string]any{"short": 3.0}, []string{"5"}},
	}
	for _, tt := range tests {
		outs, rec := h.mustRun(t, s, map[string]any{"Input - Default": tt.input})
		if !equalJSON(outs, tt.outputs) {
			t.Errorf("input %q: outputs %v, want %v", tt.input, outs, tt.outputs)
		}
		if rec.count("2", graph.NodeStarted) != 1 {
			t.Error("the Universal Input was not evaluated exactly once")
		}
		rec.assertSkipped(t, tt.skipped...)
	}
}
