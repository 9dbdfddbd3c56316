package graph_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/grimoire-run/grimoire/graph"
)

func TestValidateAcceptsTestdata(t *testing.T) {
	c := newFormatCatalog()
	for _, tc := range spellFiles {
		t.Run(tc.file, func(t *testing.T) {
			s, _ := mustParse(t, readTestdata(t, tc.file))
			if err := graph.Validate(s, c); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func ref(s string) graph.PortRef {
	r, err := graph.ParsePortRef(s)
	if err != nil {
		panic(err)
	}
	return r
}

func edge(from, to string) graph.Edge { return graph.Edge{From: ref(from), To: ref(to)} }

// validSpell is a small valid spell that each case below breaks.
func validSpell() *graph.Spell {
	return &graph.Spell{
		ID: "v",
		Nodes: []graph.Node{
			{ID: "start", Type: "Module Trigger In"},
			{ID: "q", Type: "Universal Input", Config: map[string]any{"name": "question"}},
			{ID: "gen", Type: "Generator", Config: map[string]any{"fewshot": "Q: {{question}}\nA:"},
				Inputs: []graph.PortDecl{{Key: "question", Kind: graph.Data, Type: "string"}}},
			{ID: "out", Type: "Output", Config: map[string]any{"name": "answer"}},
			{ID: "n", Type: "Number Variable"},
		},
		Edges: []graph.Edge{
			edge("start.trigger", "gen.trigger"),
			edge("q.output", "gen.question"),
			edge("gen.trigger", "out.trigger"),
			edge("gen.result", "out.input"),
		},
	}
}

func TestValidateProblems(t *testing.T) {
	tests := []struct {
		name   string
		change func(s *graph.Spell)
		want   []graph.Problem // Message holds a substring of the expected message
	}{
		{
			name:   "unknown node type",
			change: func(s *graph.Spell) { s.Nodes[4].Type = "Summon Familiar" },
			want:   []graph.Problem{{NodeID: "n", Field: "type", Message: "unknown node type \"Summon Familiar\"; run `grimoire nodes` to list types"}},
		},
		{
			name:   "node without type",
			change: func(s *graph.Spell) { s.Nodes[4].Type = "" },
			want:   []graph.Problem{{NodeID: "n", Field: "type", Message: "node has no type"}},
		},
		{
			name: "empty, duplicate and dotted ids",
			change: func(s *graph.Spell) {
				s.Nodes[4].ID = ""
				s.Nodes = append(s.Nodes, graph.Node{ID: "q", Type: "Text Variable"}, graph.Node{ID: "a.b", Type: "Text Variable"})
			},
			want: []graph.Problem{
				{Field: "id", Message: "nodes[4] (type \"Number Variable\") has no id"},
				{NodeID: "a.b", Field: "id", Message: "node id contains '.'"},
				{NodeID: "q", Field: "id", Message: "used by more than one node"},
			},
		},
		{
			name:   "edge to a port the type lacks",
			change: func(s *graph.Spell) { s.Edges[3] = edge("gen.result", "out.text") },
			want: []graph.Problem{{NodeID: "out", Port: "text", Field: "edges",
				Message: "edge gen.result -> out.text: node type Output has no input \"text\" (inputs: trigger, input)"}},
		},
		{
			name:   "edge from a port the dynamic type lacks",
			change: func(s *graph.Spell) { s.Edges[3] = edge("gen.answer", "out.input") },
			want: []graph.Problem{{NodeID: "gen", Port: "answer", Field: "edges",
				Message: "or declare it in the node's outputs"}},
		},
		{
			name:   "dangling edge",
			change: func(s *graph.Spell) { s.Edges = append(s.Edges, edge("ghost.output", "gen.question")) },
			want: []graph.Problem{{NodeID: "ghost", Port: "output", Field: "edges",
				Message: "edge ghost.output -> gen.question: node \"ghost\" does not exist; add the node or remove the edge"}},
		},
		{
			name:   "edge from an input",
			change: func(s *graph.Spell) { s.Edges = append(s.Edges, edge("out.input", "gen.question")) },
			want: []graph.Problem{{NodeID: "out", Port: "input", Field: "edges",
				Message: "starts at input \"input\" of Output, but edges run from an output to an input"}},
		},
		{
			name:   "edge to an output",
			change: func(s *graph.Spell) { s.Edges = append(s.Edges, edge("q.output", "gen.result")) },
			want: []graph.Problem{{NodeID: "gen", Port: "result", Field: "edges",
				Message: "ends at output \"result\" of Generator"}},
		},
		{
			name:   "trigger to data",
			change: func(s *graph.Spell) { s.Edges[0] = edge("start.trigger", "gen.question") },
			want: []graph.Problem{{NodeID: "gen", Port: "question", Field: "edges",
				Message: "joins trigger output \"trigger\" to data input \"question\"; connect triggers to triggers and data to data"}},
		},
		{
			name:   "data to trigger",
			change: func(s *graph.Spell) { s.Edges[2] = edge("gen.result", "out.trigger") },
			want: []graph.Problem{{NodeID: "out", Port: "trigger", Field: "edges",
				Message: "joins data output \"result\" to trigger input \"trigger\""}},
		},
		{
			name:   "concrete types differ",
			change: func(s *graph.Spell) { s.Edges[1] = edge("n.output", "gen.question") },
			want: []graph.Problem{{NodeID: "gen", Port: "question", Field: "edges",
				Message: "edge n.output -> gen.question carries number but input \"question\" takes string"}},
		},
		{
			name: "any matches every type",
			change: func(s *graph.Spell) {
				s.Nodes[2].Inputs[0].Type = "any"
				s.Edges[1] = edge("n.output", "gen.question")
			},
		},
		{
			name:   "duplicate edge",
			change: func(s *graph.Spell) { s.Edges = append(s.Edges, s.Edges[1]) },
			want:   []graph.Problem{{NodeID: "q", Port: "output", Field: "edges", Message: "appears twice"}},
		},
		{
			name:   "required config missing",
			change: func(s *graph.Spell) { delete(s.Nodes[2].Config, "fewshot") },
			want: []graph.Problem{{NodeID: "gen", Field: "config.fewshot",
				Message: "required config field \"fewshot\" of Generator is missing; set it (string: Handlebars prompt template)"}},
		},
		{
			name:   "required config empty",
			change: func(s *graph.Spell) { s.Nodes[1].Config["name"] = "" },
			want:   []graph.Problem{{NodeID: "q", Field: "config.name", Message: "is empty"}},
		},
		{
			name:   "config value with no JSON form",
			change: func(s *graph.Spell) { s.Nodes[4].Config = map[string]any{"value": math.Inf(1)} },
			want:   []graph.Problem{{NodeID: "n", Field: "config.value", Message: "cannot be written as JSON"}},
		},
		{
			name: "declared port without key or with a bad kind",
			change: func(s *graph.Spell) {
				s.Nodes[2].Inputs = append(s.Nodes[2].Inputs, graph.PortDecl{Kind: graph.Data}, graph.PortDecl{Key: "x", Kind: "option"},
					graph.PortDecl{Key: "question", Kind: graph.Data})
			},
			want: []graph.Problem{
				{NodeID: "gen", Field: "inputs[1].key", Message: "declared port has no key"},
				{NodeID: "gen", Port: "question", Field: "inputs[3].key", Message: "declared twice"},
				{NodeID: "gen", Port: "x", Field: "inputs[2].kind", Message: "port kind \"option\" is not \"data\" or \"trigger\""},
			},
		},
		{
			name: "data cycle",
			change: func(s *graph.Spell) {
				s.Nodes = append(s.Nodes,
					graph.Node{ID: "c1", Type: "Code", Config: map[string]any{"code": "x"},
						Inputs:  []graph.PortDecl{{Key: "in", Kind: graph.Data}},
						Outputs: []graph.PortDecl{{Key: "out", Kind: graph.Data}}},
					graph.Node{ID: "c2", Type: "Code", Config: map[string]any{"code": "x"},
						Inputs:  []graph.PortDecl{{Key: "in", Kind: graph.Data}},
						Outputs: []graph.PortDecl{{Key: "out", Kind: graph.Data}}},
					graph.Node{ID: "c3", Type: "Code", Config: map[string]any{"code": "x"},
						Inputs:  []graph.PortDecl{{Key: "in", Kind: graph.Data}},
						Outputs: []graph.PortDecl{{Key: "out", Kind: graph.Data}}},
				)
				s.Edges = append(s.Edges, edge("c1.out", "c2.in"), edge("c2.out", "c3.in"), edge("c3.out", "c1.in"))
			},
			want: []graph.Problem{{NodeID: "c1", Field: "edges", Message: "data edges form a cycle c1 -> c2 -> c3 -> c1"}},
		},
		{
			name: "data self-loop",
			change: func(s *graph.Spell) {
				s.Nodes = append(s.Nodes, graph.Node{ID: "c", Type: "Code", Config: map[string]any{"code": "x"},
					Inputs:  []graph.PortDecl{{Key: "in", Kind: graph.Data}},
					Outputs: []graph.PortDecl{{Key: "out", Kind: graph.Data}}})
				s.Edges = append(s.Edges, edge("c.out", "c.in"))
			},
			want: []graph.Problem{{NodeID: "c", Field: "edges", Message: "data edges form a cycle c -> c"}},
		},
		{
			name: "trigger loops are allowed",
			change: func(s *graph.Spell) {
				s.Nodes = append(s.Nodes, graph.Node{ID: "gate", Type: "Boolean Gate"})
				s.Edges = append(s.Edges, edge("out.trigger", "gate.trigger"), edge("gate.true", "gen.trigger"))
			},
		},
		{
			name:   "config error from the node type",
			change: func(s *graph.Spell) { s.Nodes[2].Config["stop"] = 3.0 },
			want: []graph.Problem{{NodeID: "gen", Field: "config",
				Message: "Generator: config.stop: want a string such as \"\\n\", got float64"}},
		},
	}
	c := newFormatCatalog()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := validSpell()
			tc.change(s)
			err := graph.Validate(s, c)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("want no problems, got %v", err)
				}
				return
			}
			var ve *graph.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Validate = %v, want a *ValidationError", err)
			}
			if len(ve.Problems) != len(tc.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(ve.Problems), len(tc.want), err)
			}
			for i, want := range tc.want {
				got := ve.Problems[i]
				if got.NodeID != want.NodeID || got.Port != want.Port || got.Field != want.Field ||
					!strings.Contains(got.Message, want.Message) {
					t.Errorf("problem %d:\n got %+v\nwant %+v", i, got, want)
				}
			}
		})
	}
}

func TestValidationErrorListsEveryProblem(t *testing.T) {
	s := validSpell()
	s.Nodes[4].Type = "Summon Familiar"
	delete(s.Nodes[2].Config, "fewshot")
	s.Edges = append(s.Edges, edge("ghost.output", "out.input"), edge("start.trigger", "gen.question"))
	s.Nodes[2].Config["stop"] = 3.0 // reported only once everything else passes

	err := graph.Validate(s, newFormatCatalog())
	want := `invalid spell: 4 problems:
  node "gen", port "question": edge start.trigger -> gen.question joins trigger output "trigger" to data input "question"; connect triggers to triggers and data to data
  node "gen", config.fewshot: required config field "fewshot" of Generator is missing; set it (string: Handlebars prompt template)
  node "ghost", port "output": edge ghost.output -> out.input: node "ghost" does not exist; add the node or remove the edge
  node "n", type: unknown node type "Summon Familiar"; run ` + "`grimoire nodes`" + ` to list types`
	if err == nil || err.Error() != want {
		t.Fatalf("Error() =\n%v\nwant\n%s", err, want)
	}
	// Same problems, same order, whatever the order of the spell.
	for i := 0; i < 5; i++ {
		s.Nodes = append(s.Nodes[1:], s.Nodes[0])
		s.Edges = append(s.Edges[1:], s.Edges[0])
		if got := graph.Validate(s, newFormatCatalog()); got.Error() != want {
			t.Fatalf("order changed with node order:\n%v", got)
		}
	}
}

func TestValidateNodeTypeFailures(t *testing.T) {
	c := newFormatCatalog()
	c["Fragile"] = &graph.NodeType{Name: "Fragile", Outputs: []graph.Port{data("output", "any")},
		New: func(n *graph.Node) (graph.Worker, error) {
			if n.Config["explode"] == true {
				var m map[string]int
				m["boom"]++ // a nil-map panic in a node type's config check
			}
			return nil, fmt.Errorf("needs %q", "more")
		}}
	s := validSpell()
	s.Nodes = append(s.Nodes, graph.Node{ID: "f1", Type: "Fragile"}, graph.Node{ID: "f2", Type: "Fragile", Config: map[string]any{"explode": true}})
	var ve *graph.ValidationError
	if err := graph.Validate(s, c); !errors.As(err, &ve) || len(ve.Problems) != 2 {
		t.Fatalf("Validate = %v", err)
	}
	if p := ve.Problems[0]; p.NodeID != "f1" || p.Message != `Fragile: needs "more"` {
		t.Errorf("problem %+v", p)
	}
	if p := ve.Problems[1]; p.NodeID != "f2" || !strings.Contains(p.Message, "a bug in the node type") {
		t.Errorf("problem %+v", p)
	}
}

func TestValidateWithoutCatalog(t *testing.T) {
	s := validSpell()
	s.Nodes[0].Type = "Summon Familiar"
	if err := graph.Validate(s, nil); err != nil {
		t.Fatalf("structural checks failed: %v", err)
	}
	s.Edges = append(s.Edges, edge("ghost.x", "gen.trigger"))
	if err := graph.Validate(s, nil); err == nil || !strings.Contains(err.Error(), `node "ghost" does not exist`) {
		t.Fatalf("Validate = %v", err)
	}
	if err := graph.Validate(nil, nil); err == nil {
		t.Fatal("Validate(nil) passed")
	}
}
