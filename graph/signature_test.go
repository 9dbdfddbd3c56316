package graph_test

import (
	"reflect"
	"testing"

	"github.com/grimoire-run/grimoire/graph"
)

func TestSignature(t *testing.T) {
	c := newFormatCatalog()
	tests := []struct {
		file string
		want graph.Signature
	}{
		{
			file: "thoth_chain.json",
			want: graph.Signature{
				Inputs:  []graph.SignaturePort{{NodeID: "2", Name: "Input - Default", SocketKey: "cd6fcc4e-d26b-4be5-9663-6b8f874de913", Type: "any"}},
				Outputs: []graph.SignaturePort{{NodeID: "5", Name: "output", SocketKey: "49cc040d-4368-4a00-88f8-012638d39eab", Type: "any"}},
				// Node 6 sits higher (smaller y) than node 1, so it comes first:
				// a Thoth run starts at the top-most Trigger In.
				TriggerIns: []graph.SignaturePort{
					{NodeID: "6", Name: "Greeting", SocketKey: "0c4f3a52-1d1e-4a47-9b1e-6f0f0b1c2d3e"},
					{NodeID: "1", Name: "Default Trigger", SocketKey: "8626681b-98d6-4bc8-8814-ddcc13ba0ca3"},
				},
				TriggerOuts: []graph.SignaturePort{{NodeID: "7", Name: "Done", SocketKey: "5b1b4f0e-7c53-4a1f-a4b7-3d0f5f9c0a11"}},
			},
		},
		{
			file: "native_hello.json",
			want: graph.Signature{
				Inputs:      []graph.SignaturePort{{NodeID: "question", Name: "question", SocketKey: "question", Type: "any"}},
				Outputs:     []graph.SignaturePort{{NodeID: "answer", Name: "answer", SocketKey: "answer", Type: "any"}},
				TriggerIns:  []graph.SignaturePort{{NodeID: "start", Name: "start", SocketKey: "start"}},
				TriggerOuts: []graph.SignaturePort{},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			s, _ := mustParse(t, readTestdata(t, tc.file))
			if got := s.Signature(c); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("signature\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestSignatureOrder(t *testing.T) {
	c := newFormatCatalog()
	s := &graph.Spell{Nodes: []graph.Node{
		{ID: "10", Type: "Module Trigger In", Position: &graph.Position{Y: 5}},
		{ID: "9", Type: "Module Trigger In", Position: &graph.Position{Y: 5}},
		{ID: "3", Type: "Module Trigger In", Position: &graph.Position{Y: -5}},
		{ID: "4", Type: "Module Trigger In"}, // no position: y = 0
		{ID: "a", Type: "Output", Config: map[string]any{"name": "zeta"}},
		{ID: "b", Type: "Output", Config: map[string]any{"name": "alpha"}},
		{ID: "c", Type: "Input", Config: map[string]any{"name": "beta"}}, // Magick's name for the input type
		{ID: "d", Type: "Summon Familiar"},
	}}
	sig := s.Signature(c)
	var got []string
	for _, p := range sig.TriggerIns {
		got = append(got, p.NodeID)
	}
	if want := []string{"3", "4", "9", "10"}; !reflect.DeepEqual(got, want) {
		t.Errorf("trigger-ins %v, want %v", got, want)
	}
	if sig.Outputs[0].Name != "alpha" || sig.Outputs[1].Name != "zeta" {
		t.Errorf("outputs %+v", sig.Outputs)
	}
	if len(sig.Inputs) != 1 || sig.Inputs[0].SocketKey != "c" {
		t.Errorf("inputs %+v: want the node id as socket key when none is set", sig.Inputs)
	}
}
