package nodes_test

import (
	"os"
	"testing"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/nodes"
)

// Spells in the shapes the Thoth and Magick editors export run end to end:
// sockets only in connections, sockets declared in data, graphs saved as a
// JSON string, leftover editor state.
func TestEditorExportsRun(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	tests := []struct {
		file    string
		inputs  map[string]any
		outputs map[string]any
	}{
		// A Code node whose "input" and "output" sockets appear only in
		// the connections (Thoth exports before data.inputs existed).
		{"thoth_sockets_in_connections.json", map[string]any{"Input - Default": "three small words"}, map[string]any{"words": 3.0}},
		// Magick: the graph is a string, Text Template declares its "name"
		// input in data.inputs and outputs "prompt", and the Output node's
		// own "output" feeds an Echo.
		{"magick_declared_sockets.json", map[string]any{"Input - Default": "Ada"},
			map[string]any{"Output - Default": "Hello, Ada!", "echoed": "Hello, Ada!"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile("testdata/editors/" + tt.file)
			if err != nil {
				t.Fatal(err)
			}
			s, format, err := graph.ParseSpell(data)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if format != graph.FormatRete {
				t.Fatalf("format %q, want rete", format)
			}
			if err := validate(s, h.catalog); err != nil {
				t.Fatalf("validate: %v", err)
			}
			outs, _ := h.mustRun(t, s, tt.inputs)
			if !equalJSON(outs, tt.outputs) {
				t.Fatalf("outputs %v, want %v", outs, tt.outputs)
			}
		})
	}
}

// Magick's Generate Text takes its chat provider's "conversation" socket,
// declared in the node's data, and sends it between the system message and
// the input.
func TestGenerateTextConversation(t *testing.T) {
	comp := &scriptedCompletion{tokens: []string{"fine"}}
	h := newHarness(t, nodes.Services{Completion: comp})
	s := newSpell("conv").
		node("start", "Module Trigger In", nil).
		node("hist", "Code", map[string]any{"code": `function worker(){ return { history: [{role: "user", content: "hi"}, {role: "assistant", content: "hello"}] } }`}, out("history")).
		node("gen", "Generate Text", map[string]any{"model": "m", "system": "be brief", "prompt": "how are you?"},
			graph.PortDecl{Key: "conversation", Name: "Conversation ", Kind: graph.Data, Type: "array"}).
		node("o", "Output", map[string]any{"name": "answer"}).
		edge("start.trigger>hist.trigger", "hist.trigger>gen.trigger", "hist.history>gen.conversation", "gen.result>o.input", "gen.trigger>o.trigger").build()
	outs := h.mustRunBoth(t, s, nil)
	if outs["answer"] != "fine" {
		t.Fatalf("outputs %v", outs)
	}
	req := comp.reqs[0]
	var got []string
	for _, m := range req.Messages {
		got = append(got, m.Role+":"+m.Content)
	}
	want := []string{"system:be brief", "user:hi", "assistant:hello", "user:how are you?"}
	if !equalJSON(got, want) {
		t.Fatalf("messages %q, want %q", got, want)
	}
}
