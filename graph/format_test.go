package graph_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/grimoire-run/grimoire/graph"
)

// formatCatalog is a small stand-in for the nodes package's registry: the
// node types the testdata spells use, with Thoth/Magick names as aliases.
type formatCatalog map[string]*graph.NodeType

func (c formatCatalog) Lookup(name string) (*graph.NodeType, bool) {
	t, ok := c[name]
	return t, ok
}

func trig(name string) graph.Port { return graph.Port{Name: name, Kind: graph.Trigger} }
func data(name, typ string) graph.Port {
	return graph.Port{Name: name, Kind: graph.Data, Type: typ}
}

var noopWorker = graph.WorkerFunc(func(context.Context, *graph.Activation) (graph.Result, error) {
	return graph.Result{}, nil
})

func newNoop(*graph.Node) (graph.Worker, error) { return noopWorker, nil }

func newFormatCatalog() formatCatalog {
	types := []*graph.NodeType{
		{Name: "Module Trigger In", Role: graph.RoleTriggerIn, Outputs: []graph.Port{trig("trigger")}, New: newNoop},
		{Name: "Module Trigger Out", Role: graph.RoleTriggerOut, Inputs: []graph.Port{trig("trigger")}, New: newNoop},
		{Name: "Universal Input", Aliases: []string{"Input"}, Role: graph.RoleInput, DynamicPorts: true,
			Outputs: []graph.Port{data("output", "any"), trig("trigger")},
			Config:  []graph.ConfigField{{Name: "name", Type: "string", Required: true, Doc: "the run input's key"}}, New: newNoop},
		{Name: "Output", Role: graph.RoleOutput,
			Inputs:  []graph.Port{trig("trigger"), data("input", "any")},
			Outputs: []graph.Port{trig("trigger")},
			Config:  []graph.ConfigField{{Name: "name", Type: "string", Required: true}}, New: newNoop},
		{Name: "Generator", DynamicPorts: true,
			Inputs:  []graph.Port{trig("trigger")},
			Outputs: []graph.Port{trig("trigger"), data("result", "string"), data("composed", "string")},
			Config: []graph.ConfigField{
				{Name: "fewshot", Type: "string", Required: true, Doc: "Handlebars prompt template"},
				{Name: "stop", Type: "string"},
			},
			New: func(n *graph.Node) (graph.Worker, error) {
				if v, ok := n.Config["stop"]; ok {
					if _, ok := v.(string); !ok {
						return nil, fmt.Errorf("config.stop: want a string such as \"\\n\", got %T", v)
					}
				}
				return noopWorker, nil
			}},
		{Name: "Text Variable", Outputs: []graph.Port{data("output", "string")}, New: newNoop},
		{Name: "Number Variable", Outputs: []graph.Port{data("output", "number")}, New: newNoop},
		{Name: "Event Destructure",
			Inputs: []graph.Port{trig("trigger"), data("event", "event")},
			Outputs: []graph.Port{trig("trigger"), data("content", "string"), data("sender", "string"), data("observer", "string"),
				data("client", "string"), data("channel", "string"), data("channelType", "string"), data("agentId", "string"),
				data("projectId", "string"), data("entities", "array")},
			New: newNoop},
		{Name: "Event Recall",
			Inputs:  []graph.Port{trig("trigger"), data("event", "event"), data("embedding", "embedding")},
			Outputs: []graph.Port{trig("trigger"), data("events", "array")}, New: newNoop},
		{Name: "Events to Conversation", Inputs: []graph.Port{data("events", "array")},
			Outputs: []graph.Port{data("conversation", "string")}, New: newNoop},
		{Name: "Store Event",
			Inputs: []graph.Port{trig("trigger"), data("content", "string"), data("sender", "string"),
				data("event", "event"), data("embedding", "embedding")},
			Outputs: []graph.Port{trig("trigger")}, New: newNoop},
		{Name: "Code", Aliases: []string{"Javascript"}, DynamicPorts: true,
			Inputs: []graph.Port{trig("trigger")}, Outputs: []graph.Port{trig("trigger")},
			Config: []graph.ConfigField{{Name: "code", Type: "string", Required: true, Doc: "JavaScript defining worker(inputs, data, state)"}},
			New:    newNoop},
		{Name: "Boolean Gate", Inputs: []graph.Port{trig("trigger"), data("boolean", "boolean")},
			Outputs: []graph.Port{trig("true"), trig("false")}, New: newNoop},
	}
	c := formatCatalog{}
	for _, t := range types {
		c[t.Name] = t
		for _, a := range t.Aliases {
			c[a] = t
		}
	}
	return c
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustParse(t testing.TB, b []byte) (*graph.Spell, graph.Format) {
	t.Helper()
	s, f, err := graph.ParseSpell(b)
	if err != nil {
		t.Fatalf("ParseSpell: %v", err)
	}
	return s, f
}

// spellFiles are the testdata spells, every one valid against newFormatCatalog.
var spellFiles = []struct {
	file   string
	format graph.Format
	id     string
	name   string
	nodes  int
	edges  int
}{
	{"native_hello.json", graph.FormatNative, "hello-librarian", "Hello librarian", 4, 4},
	{"thoth_chain.json", graph.FormatRete, "square amaranth", "square amaranth", 7, 7},
	{"magick_graph.json", graph.FormatRete, "3faa7f55-6ac2-4e40-aaef-c7d387b5d8b9", "Discord Bot", 7, 15},
	{"magick_graph_string.json", graph.FormatRete, "a3c1e0de-2f11-4f6e-9d1b-7e4f2b9c8d10", "Shout", 4, 6},
	{"rete_bare_graph.json", graph.FormatRete, "", "", 4, 6},
}

func TestParseSpellDetectsFormat(t *testing.T) {
	for _, tc := range spellFiles {
		t.Run(tc.file, func(t *testing.T) {
			s, f := mustParse(t, readTestdata(t, tc.file))
			if f != tc.format {
				t.Errorf("format = %q, want %q", f, tc.format)
			}
			if s.ID != tc.id || s.Name != tc.name {
				t.Errorf("id, name = %q, %q; want %q, %q", s.ID, s.Name, tc.id, tc.name)
			}
			if len(s.Nodes) != tc.nodes || len(s.Edges) != tc.edges {
				t.Errorf("%d nodes, %d edges; want %d, %d", len(s.Nodes), len(s.Edges), tc.nodes, tc.edges)
			}
		})
	}
}

func TestParseSpellErrors(t *testing.T) {
	tests := []struct {
		name       string
		doc        string
		line, col  int    // 0: no position expected
		path       string // "": not checked
		in         string // "": not checked
		wantInText []string
	}{
		{
			name: "native missing comma",
			doc: "{\n  \"format\": \"grimoire/spell@1\",\n  \"id\": \"x\",\n  \"nodes\": [\n" +
				"    {\"id\": \"a\" \"type\": \"Output\"}\n  ],\n  \"edges\": []\n}\n",
			line: 5, col: 16, wantInText: []string{"line 5, column 16", "after object key:value pair"},
		},
		{
			name: "native wrong value type",
			doc:  "{\"format\": \"grimoire/spell@1\", \"id\": \"x\",\n \"nodes\": [{\"id\": 5, \"type\": \"Output\"}], \"edges\": []}",
			line: 2, col: 19, path: "nodes.id", wantInText: []string{"want a string, got number"},
		},
		{
			name: "native position not an object",
			doc:  `{"format": "grimoire/spell@1", "id": "x", "nodes": [{"id": "a", "type": "Output", "position": [1, 2]}], "edges": []}`,
			line: 1, path: "nodes.position", wantInText: []string{"want an object, got array"},
		},
		{
			name: "cut short",
			doc:  "{\"format\": \"grimoire/spell@1\",\n \"nodes\": [",
			line: 2, col: 11, wantInText: []string{"cut short"},
		},
		{name: "empty", doc: "", wantInText: []string{"cut short"}},
		{name: "not an object", doc: "[1, 2]", line: 1, col: 1, wantInText: []string{"a spell is a JSON object, got array"}},
		{name: "null", doc: "null", wantInText: []string{"got null"}},
		{name: "trailing garbage", doc: `{"graph": {"nodes": {}}} x`, line: 1, col: 26, wantInText: []string{"invalid character 'x' after top-level value"}},
		{
			name: "future version", doc: `{"format": "grimoire/spell@2", "id": "x", "nodes": [], "edges": []}`,
			path: "format", wantInText: []string{`unsupported version "grimoire/spell@2"`},
		},
		{
			name: "native without marker", doc: `{"id": "x", "nodes": [], "edges": []}`,
			path: "format", wantInText: []string{`add "format": "grimoire/spell@1"`},
		},
		{name: "something else", doc: `{"hello": "world"}`, wantInText: []string{"not a spell", `"chain" or "graph"`}},
		{
			name: "unknown native field", doc: `{"format": "grimoire/spell@1", "id": "x", "nodes": [], "edges": [], "descripton": "typo"}`,
			wantInText: []string{`unknown field "descripton"`, `"meta"`},
		},
		{
			name: "bad edge reference", doc: `{"format": "grimoire/spell@1", "id": "x", "nodes": [], "edges": [{"from": "a.out", "to": "b"}]}`,
			path: "edges[0].to", wantInText: []string{`"b"`, `"node.port"`},
		},
		{
			name: "graph string malformed",
			doc:  `{"id": "s", "graph": "{\"id\": \"demo@0.1.0\",\n\"nodes\": {]}"}`,
			line: 2, col: 11, in: `the "graph" string`, wantInText: []string{`in the "graph" string`, "line 2, column 11"},
		},
		{
			name: "graph not an object", doc: `{"id": "s", "chain": 42}`,
			path: "chain", wantInText: []string{"want a Rete graph object"},
		},
		{
			name: "rete nodes missing", doc: `{"id": "s", "graph": {"id": "demo@0.1.0"}}`,
			path: "graph.nodes", wantInText: []string{"missing"},
		},
		{
			name: "rete connection without port",
			doc:  `{"chain": {"nodes": {"1": {"id": 1, "name": "Output", "inputs": {"input": {"connections": [{"node": 2, "data": {}}]}}}}}}`,
			path: `chain.nodes["1"].inputs["input"].connections[0].output`, wantInText: []string{"missing"},
		},
		{
			name: "rete fractional node id",
			doc:  `{"chain": {"nodes": {"1": {"id": 1.5, "name": "Output"}}}}`,
			path: `chain.nodes["1"].id`, wantInText: []string{"want an integer id of at most 2^53 (or a string), got 1.5"},
		},
		{
			name: "rete node not an object", doc: `{"graph": {"nodes": {"1": "Output"}}}`,
			path: `graph.nodes["1"]`, wantInText: []string{"want a node object, got a string"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _, err := graph.ParseSpell([]byte(tc.doc))
			if err == nil {
				t.Fatalf("ParseSpell succeeded (%d nodes); want an error", len(s.Nodes))
			}
			var pe *graph.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T %q is not a *graph.ParseError", err, err)
			}
			if tc.line != 0 && pe.Line != tc.line {
				t.Errorf("line = %d, want %d (%v)", pe.Line, tc.line, err)
			}
			if tc.col != 0 && pe.Column != tc.col {
				t.Errorf("column = %d, want %d (%v)", pe.Column, tc.col, err)
			}
			if tc.path != "" && pe.Path != tc.path {
				t.Errorf("path = %q, want %q (%v)", pe.Path, tc.path, err)
			}
			if tc.in != "" && pe.In != tc.in {
				t.Errorf("in = %q, want %q", pe.In, tc.in)
			}
			for _, want := range tc.wantInText {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func TestParseSpellAcceptsByteOrderMark(t *testing.T) {
	b := append([]byte("\xef\xbb\xbf"), readTestdata(t, "native_hello.json")...)
	if _, f := mustParse(t, b); f != graph.FormatNative {
		t.Fatalf("format = %q", f)
	}
}

func FuzzParseSpell(f *testing.F) {
	for _, tc := range spellFiles {
		f.Add(readTestdata(f, tc.file))
		if tc.format == graph.FormatRete {
			f.Add(readTestdata(f, filepath.Join("native", tc.file)))
		}
	}
	for _, seed := range []string{
		`{"chain": {"nodes": {"1": {"id": 1, "name": "Output", "inputs": {"input": {"connections": [{"node": 2, "output": "x"}]}}}}}}`,
		`{"graph": "{\"nodes\": {}}"}`,
		`{"format": "grimoire/spell@1", "id": "x", "nodes": [{"id": "a", "type": "Output", "inputs": [{"key": "k", "kind": "data"}]}], "edges": [{"from": "a.b.c", "to": "a.x"}]}`,
		`{"nodes": {"a.b": {"name": "Output", "outputs": {"o": {"connections": [{"node": "c", "input": "i"}]}}}}}`,
		`[]`, `null`, `{"format": 1}`,
	} {
		f.Add([]byte(seed))
	}
	catalog := newFormatCatalog()
	f.Fuzz(func(t *testing.T, b []byte) {
		s, format, err := graph.ParseSpell(b)
		if err != nil {
			var pe *graph.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *ParseError: %v", err, err)
			}
			_ = err.Error()
			return
		}
		if s == nil || (format != graph.FormatNative && format != graph.FormatRete) {
			t.Fatalf("spell %v, format %q", s, format)
		}
		_ = graph.Validate(s, catalog)
		_ = s.Signature(catalog)
		h := graph.Hash(s)
		out, err := graph.MarshalSpell(s)
		if err != nil {
			return // an edge end that cannot be written as node.port
		}
		s2, f2, err := graph.ParseSpell(out)
		if err != nil || f2 != graph.FormatNative {
			t.Fatalf("re-parsing the native rendering: format %q, %v\n%s", f2, err, out)
		}
		if h2 := graph.Hash(s2); h2 != h {
			t.Fatalf("hash changed across marshal and parse: %s -> %s\n%s", h, h2, out)
		}
		out2, err := graph.MarshalSpell(s2)
		if err != nil || string(out2) != string(out) {
			t.Fatalf("marshal is not stable (%v):\n%s\n---\n%s", err, out, out2)
		}
	})
}

func FuzzParsePortRef(f *testing.F) {
	for _, s := range []string{"a.b", "233.input", "12.8626681b-98d6-4bc8-8814-ddcc13ba0ca3", "a.b.c", ".x", "x.", "", ".", "ünï.cödé"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := graph.ParsePortRef(s)
		if err != nil {
			return
		}
		if r.Node == "" || r.Port == "" || strings.Contains(r.Node, ".") {
			t.Fatalf("ParsePortRef(%q) = %#v", s, r)
		}
		if r.String() != s {
			t.Fatalf("ParsePortRef(%q).String() = %q", s, r.String())
		}
		if !utf8.ValidString(s) {
			return // JSON strings hold only valid UTF-8; encoding/json substitutes U+FFFD
		}
		b, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var back graph.PortRef
		if err := back.UnmarshalJSON(b); err != nil || back != r {
			t.Fatalf("JSON round trip of %#v: %#v, %v", r, back, err)
		}
	})
}

func BenchmarkParseSpell(b *testing.B) {
	for _, file := range []string{"magick_graph.json", "native/magick_graph.json"} {
		doc := readTestdata(b, file)
		b.Run(file, func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			for b.Loop() {
				if _, _, err := graph.ParseSpell(doc); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/spell")
		})
	}
}

func BenchmarkValidateAndHash(b *testing.B) {
	s, _ := mustParse(b, readTestdata(b, "magick_graph.json"))
	c := newFormatCatalog()
	b.Run("Validate", func(b *testing.B) {
		for b.Loop() {
			if err := graph.Validate(s, c); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/spell")
	})
	b.Run("Hash", func(b *testing.B) {
		for b.Loop() {
			graph.Hash(s)
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/spell")
	})
}
