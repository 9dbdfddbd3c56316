package nodes_test

import (
	"encoding/json"
	"testing"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/nodes"
)

// reteExport writes s the way the Thoth editor saves a spell: the graph
// under "chain", nodes keyed by id, connections on both ends, the node's
// configuration and declared sockets in its data. withDecls false leaves
// the sockets out of data, as older exports did: they appear only in the
// connections.
func reteExport(s *graph.Spell, withDecls bool) []byte {
	type conn = map[string]any
	nodes := map[string]any{}
	ins := map[string]map[string][]conn{}
	outs := map[string]map[string][]conn{}
	for _, e := range s.Edges {
		if ins[e.To.Node] == nil {
			ins[e.To.Node] = map[string][]conn{}
		}
		if outs[e.From.Node] == nil {
			outs[e.From.Node] = map[string][]conn{}
		}
		ins[e.To.Node][e.To.Port] = append(ins[e.To.Node][e.To.Port], conn{"node": e.From.Node, "output": e.From.Port, "data": map[string]any{}})
		outs[e.From.Node][e.From.Port] = append(outs[e.From.Node][e.From.Port], conn{"node": e.To.Node, "input": e.To.Port, "data": map[string]any{}})
	}
	sockets := func(decls []graph.PortDecl) []any {
		var list []any
		for _, d := range decls {
			task, socket := "output", "anySocket"
			if d.Kind == graph.Trigger {
				task, socket = "option", "triggerSocket"
			} else if d.Type != "" && d.Type != "any" {
				socket = d.Type + "Socket"
			}
			name := d.Name
			if name == "" {
				name = d.Key
			}
			list = append(list, map[string]any{"name": name, "socketKey": d.Key, "taskType": task, "socketType": socket})
		}
		return list
	}
	for _, n := range s.Nodes {
		data := map[string]any{}
		for k, v := range n.Config {
			data[k] = v
		}
		if withDecls {
			if l := sockets(n.Inputs); l != nil {
				data["inputs"] = l
			}
			if l := sockets(n.Outputs); l != nil {
				data["outputs"] = l
			}
		}
		data["success"] = false // leftover editor state
		nodeIns, nodeOuts := map[string]any{}, map[string]any{}
		for port, cs := range ins[n.ID] {
			nodeIns[port] = map[string]any{"connections": cs}
		}
		for port, cs := range outs[n.ID] {
			nodeOuts[port] = map[string]any{"connections": cs}
		}
		node := map[string]any{"id": n.ID, "name": n.Type, "data": data, "inputs": nodeIns, "outputs": nodeOuts}
		if n.Position != nil {
			node["position"] = []float64{n.Position.X, n.Position.Y}
		}
		nodes[n.ID] = node
	}
	doc := map[string]any{"id": s.ID, "name": s.Name, "chain": map[string]any{"id": "grimoire-test@0.1.0", "nodes": nodes}, "gameState": map[string]any{}}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return b
}

// mustRunBoth runs s as written (native) and as a Thoth export, and fails
// unless both give the same outputs. It returns the native run's outputs.
func (h *harness) mustRunBoth(t *testing.T, s *graph.Spell, inputs map[string]any) map[string]any {
	t.Helper()
	native, _ := h.mustRun(t, s, inputs)
	rs, format, err := graph.ParseSpell(reteExport(s, true))
	if err != nil {
		t.Fatalf("parse the Thoth export of %s: %v", s.ID, err)
	}
	if format != graph.FormatRete {
		t.Fatalf("the Thoth export of %s parsed as %q", s.ID, format)
	}
	rete, _ := h.mustRun(t, rs, inputs)
	if !equalJSON(native, rete) {
		t.Fatalf("spell %s: native outputs %v, Thoth export outputs %v", s.ID, native, rete)
	}
	return native
}

// Sockets that appear only in an export's connections are the node's
// sockets, as Rete's engine treats them: a Code node reads an "input" that
// its data never declares.
func TestReteSocketsOnlyInConnections(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	s := newSpell("conn-only").
		node("in", "Input", map[string]any{"name": "text"}).
		node("code", "Code", map[string]any{"code": "function worker(inputs){ return { out: inputs.input.toUpperCase() } }"}, in("input"), out("out")).
		node("o", "Output", map[string]any{"name": "shout"}).
		edge("in.output>code.input", "code.out>o.input").build()
	rs, _, err := graph.ParseSpell(reteExport(s, false))
	if err != nil {
		t.Fatal(err)
	}
	outs, _ := h.mustRun(t, rs, map[string]any{"text": "abc"})
	if outs["shout"] != "ABC" {
		t.Fatalf("outputs %v, want shout=ABC", outs)
	}

	// A connection whose port neither end declares is refused, naming both.
	bad := newSpell("conn-unknown").
		node("a", "Echo", nil).node("b", "Echo", nil).
		edge("a.nothere>b.norhere").build()
	rb, _, err := graph.ParseSpell(reteExport(bad, false))
	if err != nil {
		t.Fatal(err)
	}
	if err := validate(rb, h.catalog); err == nil {
		t.Fatal("a connection between two undeclared ports passed validation")
	}
}
