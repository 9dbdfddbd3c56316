package graph_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/grimoire-run/grimoire/graph"
)

func edgeSet(s *graph.Spell) []string {
	var out []string
	for _, e := range s.Edges {
		out = append(out, e.From.String()+" -> "+e.To.String())
	}
	return out
}

func TestReteImportThothChain(t *testing.T) {
	s, f := mustParse(t, readTestdata(t, "thoth_chain.json"))
	if f != graph.FormatRete {
		t.Fatalf("format %q", f)
	}
	// Connections written on one end only (4 -> 3.persona on the output
	// side, 3.result -> 5 on the input side) count as much as those written
	// on both, which appear once.
	want := []string{
		"1.trigger -> 3.trigger",
		"2.output -> 3.input",
		"3.result -> 5.input",
		"3.trigger -> 5.trigger",
		"4.output -> 3.persona",
		"5.trigger -> 7.trigger",
		"6.trigger -> 3.trigger",
	}
	if got := edgeSet(s); !slices.Equal(got, want) {
		t.Errorf("edges:\n got %q\nwant %q", got, want)
	}

	gen := s.Node("3")
	if gen == nil || gen.Type != "Generator" {
		t.Fatalf("node 3 = %+v", gen)
	}
	if gen.ConfigString("fewshot") != "You are {{persona}}.\nUser: {{input}}\nBot:" || gen.Config["temp"] != 0.7 {
		t.Errorf("generator config not kept: %v", gen.Config)
	}
	if _, ok := gen.Config["dataControls"]; !ok {
		t.Errorf("editor state dropped from config: %v", gen.Config)
	}
	wantIns := []graph.PortDecl{{Key: "input", Kind: graph.Data, Type: "any"}, {Key: "persona", Kind: graph.Data, Type: "string"}}
	if !reflect.DeepEqual(gen.Inputs, wantIns) {
		t.Errorf("generator inputs %+v, want %+v", gen.Inputs, wantIns)
	}
	if gen.Position == nil || *gen.Position != (graph.Position{X: -472.3212364212005, Y: -279.86350854927025}) {
		t.Errorf("position %+v", gen.Position)
	}

	in := s.Node("2")
	wantOuts := []graph.PortDecl{{Key: "trigger", Name: "Playtest trigger", Kind: graph.Trigger}}
	if !reflect.DeepEqual(in.Outputs, wantOuts) {
		t.Errorf("input outputs %+v, want %+v", in.Outputs, wantOuts)
	}

	wantMeta := map[string]any{
		graph.MetaDialect: "thoth",
		graph.MetaEngine:  "demo@0.1.0",
		"gameState":       map[string]any{"mood": "calm"},
		"modules":         []any{},
	}
	if !reflect.DeepEqual(s.Meta, wantMeta) {
		t.Errorf("meta %v, want %v (timestamps left out)", s.Meta, wantMeta)
	}
}

func TestReteImportMagick(t *testing.T) {
	obj, _ := mustParse(t, readTestdata(t, "magick_graph.json"))
	if obj.Meta[graph.MetaDialect] != "magick" || obj.Meta[graph.MetaEngine] != "demo@0.1.0" {
		t.Errorf("meta %v", obj.Meta)
	}
	for _, k := range []string{"projectId", "hash", "createdAt", "updatedAt"} {
		if _, ok := obj.Meta[k]; ok {
			t.Errorf("meta keeps %q, which changes on every save", k)
		}
	}
	// 106.trigger -> 104.trigger is written only on 104's side.
	if !slices.Contains(edgeSet(obj), "106.trigger -> 104.trigger") {
		t.Errorf("one-sided connection lost: %q", edgeSet(obj))
	}

	// The graph saved as a JSON string imports like the bare graph.
	str, _ := mustParse(t, readTestdata(t, "magick_graph_string.json"))
	bare, _ := mustParse(t, readTestdata(t, "rete_bare_graph.json"))
	if !reflect.DeepEqual(str.Nodes, bare.Nodes) || !reflect.DeepEqual(str.Edges, bare.Edges) {
		t.Errorf("string-encoded graph differs from the same graph as an object")
	}
	if str.ID != "a3c1e0de-2f11-4f6e-9d1b-7e4f2b9c8d10" || bare.ID != "" {
		t.Errorf("ids %q, %q", str.ID, bare.ID)
	}
	code := str.Node("9")
	wantOuts := []graph.PortDecl{
		{Key: "upper", Kind: graph.Data, Type: "string"},
		{Key: "isEmpty", Kind: graph.Data, Type: "boolean"},
		{Key: "done", Kind: graph.Trigger},
	}
	if code.Type != "Javascript" || !reflect.DeepEqual(code.Outputs, wantOuts) {
		t.Errorf("javascript node: type %q, outputs %+v", code.Type, code.Outputs)
	}
}

func TestReteImportEdgeCases(t *testing.T) {
	tests := []struct {
		name  string
		doc   string
		check func(t *testing.T, s *graph.Spell)
	}{
		{
			name: "string ids and a node without id",
			doc: `{"chain": {"nodes": {
				"5": {"name": "Text Variable", "outputs": {"output": {"connections": [{"node": "7", "input": "input"}]}}},
				"7": {"id": "7", "name": "Output", "inputs": {"input": {"connections": [{"node": 5, "output": "output"}]}}}}}}`,
			check: func(t *testing.T, s *graph.Spell) {
				if got := edgeSet(s); !slices.Equal(got, []string{"5.output -> 7.input"}) {
					t.Errorf("edges %q", got)
				}
			},
		},
		{
			name: "editor junk kept, unusable port declarations skipped",
			doc: `{"graph": {"id": "demo@0.1.0", "nodes": {"1": {"id": 1, "name": "Code", "position": "somewhere",
				"data": {"code": "x", "inputs": [7, {"taskType": "output"}, {"name": "a", "socketType": "numSocket"}, {"name": "a"}],
				         "outputs": "not a list", "display": {"huge": [1, 2, 3]}},
				"inputs": {"a": {"connections": null}, "b": null}}}}}`,
			check: func(t *testing.T, s *graph.Spell) {
				n := s.Node("1")
				if want := []graph.PortDecl{{Key: "a", Kind: graph.Data, Type: "number"}}; !reflect.DeepEqual(n.Inputs, want) {
					t.Errorf("inputs %+v, want %+v", n.Inputs, want)
				}
				if n.Outputs != nil || n.Position != nil || len(s.Edges) != 0 {
					t.Errorf("outputs %+v, position %+v, edges %v", n.Outputs, n.Position, s.Edges)
				}
				if n.Config["outputs"] != "not a list" {
					t.Errorf("config lost a key: %v", n.Config)
				}
			},
		},
		{
			name: "useSocketName keys a declared port by its name",
			doc: `{"graph": {"nodes": {"1": {"id": 1, "name": "Spell", "data": {
				"inputs": [{"name": "question", "socketKey": "a1b2", "socketType": "stringSocket", "useSocketName": true},
				           {"name": "context", "socketKey": "c3d4", "socketType": "stringSocket"}],
				"outputs": [{"name": "answer", "socketKey": "e5f6", "socketType": "stringSocket", "useSocketName": true}]}}}}}`,
			check: func(t *testing.T, s *graph.Spell) {
				n := s.Node("1")
				wantIn := []graph.PortDecl{{Key: "question", Kind: graph.Data, Type: "string"}, {Key: "c3d4", Name: "context", Kind: graph.Data, Type: "string"}}
				if !reflect.DeepEqual(n.Inputs, wantIn) {
					t.Errorf("inputs %+v, want %+v", n.Inputs, wantIn)
				}
				if want := []graph.PortDecl{{Key: "answer", Kind: graph.Data, Type: "string"}}; !reflect.DeepEqual(n.Outputs, want) {
					t.Errorf("outputs %+v, want %+v", n.Outputs, want)
				}
			},
		},
		{
			name: "id falls back to name; numeric spell id",
			doc:  `{"id": 42, "name": "n", "chain": {"nodes": {}}}`,
			check: func(t *testing.T, s *graph.Spell) {
				if s.ID != "42" || s.Name != "n" || len(s.Nodes) != 0 {
					t.Errorf("spell %+v", s)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, f := mustParse(t, []byte(tc.doc))
			if f != graph.FormatRete {
				t.Fatalf("format %q", f)
			}
			tc.check(t, s)
		})
	}
}
