package graph_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/grimoire-run/grimoire/graph"
)

var update = flag.Bool("update", false, "rewrite the golden native renderings in testdata")

func TestMarshalSpellIsCanonical(t *testing.T) {
	golden := readTestdata(t, "native_hello.json")
	s, _ := mustParse(t, golden)
	out, err := graph.MarshalSpell(s)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, golden) {
		t.Fatalf("MarshalSpell(ParseSpell(native_hello.json)) differs from the file:\n%s", out)
	}

	// The same spell built in another order, with empty collections, writes
	// the same bytes.
	shuffled := *s
	shuffled.Nodes = slices.Clone(s.Nodes)
	shuffled.Edges = slices.Clone(s.Edges)
	slices.Reverse(shuffled.Nodes)
	slices.Reverse(shuffled.Edges)
	shuffled.Nodes[0].Outputs = []graph.PortDecl{}
	out2, err := graph.MarshalSpell(&shuffled)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out2, golden) {
		t.Fatalf("node and edge order changed the document:\n%s", out2)
	}
}

func TestMarshalSpellLayout(t *testing.T) {
	s := &graph.Spell{
		ID: "layout",
		Nodes: []graph.Node{
			{ID: "10", Type: "Output", Config: map[string]any{"name": "b"}},
			{ID: "b", Type: "Code", Config: map[string]any{"code": "return a < b && c > d"}},
			{ID: "9", Type: "Output", Config: map[string]any{"name": "a"}},
			{ID: "a", Type: "Text Variable"},
		},
		Edges: []graph.Edge{
			{From: graph.PortRef{Node: "b", Port: "x"}, To: graph.PortRef{Node: "9", Port: "input"}},
			{From: graph.PortRef{Node: "a", Port: "output"}, To: graph.PortRef{Node: "10", Port: "input"}},
		},
	}
	out, err := graph.MarshalSpell(s)
	if err != nil {
		t.Fatal(err)
	}
	text := string(out)
	if !strings.HasPrefix(text, "{\n  \"format\": \"grimoire/spell@1\",\n  \"id\": \"layout\",\n") {
		t.Errorf("document does not start with the format marker and id:\n%s", text)
	}
	if !strings.HasSuffix(text, "}\n") {
		t.Errorf("no trailing newline")
	}
	if !strings.Contains(text, `"return a < b && c > d"`) {
		t.Errorf("code is HTML-escaped:\n%s", text)
	}
	var doc struct {
		Nodes []struct{ ID string }
		Edges []struct{ From, To string }
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, n := range doc.Nodes {
		ids = append(ids, n.ID)
	}
	if want := []string{"9", "10", "a", "b"}; !slices.Equal(ids, want) {
		t.Errorf("node order %v, want %v (numeric ids first, numerically)", ids, want)
	}
	if doc.Edges[0].From != "a.output" || doc.Edges[1].From != "b.x" {
		t.Errorf("edges not sorted by source: %+v", doc.Edges)
	}
	if strings.Contains(text, `"edges": null`) || strings.Contains(text, `"meta"`) || strings.Contains(text, `"position"`) {
		t.Errorf("empty fields written:\n%s", text)
	}
}

func TestMarshalSpellRefusesUnwritableEdges(t *testing.T) {
	for _, ref := range []graph.PortRef{{Node: "a.b", Port: "x"}, {Node: "", Port: "x"}, {Node: "a", Port: ""}} {
		s := &graph.Spell{ID: "x", Edges: []graph.Edge{{From: ref, To: graph.PortRef{Node: "c", Port: "in"}}}}
		if _, err := graph.MarshalSpell(s); err == nil || !strings.Contains(err.Error(), "edges[0].from") {
			t.Errorf("MarshalSpell with edge from %#v: err = %v, want an error naming edges[0].from", ref, err)
		}
	}
	if _, err := graph.MarshalSpell(nil); err == nil {
		t.Error("MarshalSpell(nil) succeeded")
	}
}

// Every testdata spell survives parse -> marshal -> parse unchanged, and its
// native rendering is stable.
func TestNativeRoundTrip(t *testing.T) {
	for _, tc := range spellFiles {
		t.Run(tc.file, func(t *testing.T) {
			s1, _ := mustParse(t, readTestdata(t, tc.file))
			out1, err := graph.MarshalSpell(s1)
			if err != nil {
				t.Fatal(err)
			}
			s2, f := mustParse(t, out1)
			if f != graph.FormatNative {
				t.Fatalf("rendering parsed as %q", f)
			}
			if !reflect.DeepEqual(s1, s2) {
				t.Fatalf("spell changed across the native format:\nbefore %+v\nafter  %+v", s1, s2)
			}
			out2, err := graph.MarshalSpell(s2)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out1, out2) {
				t.Fatalf("rendering not stable:\n%s\n---\n%s", out1, out2)
			}
		})
	}
}

// The native rendering of each Thoth/Magick testdata file is kept next to
// it, so a change to the import shows up as a diff. Run with -update to
// rewrite them.
func TestReteImportGolden(t *testing.T) {
	for _, tc := range spellFiles {
		if tc.format != graph.FormatRete {
			continue
		}
		t.Run(tc.file, func(t *testing.T) {
			s, _ := mustParse(t, readTestdata(t, tc.file))
			out, err := graph.MarshalSpell(s)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "native", tc.file)
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, out, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestReteImportGolden -update ./graph)", err)
			}
			if !bytes.Equal(out, want) {
				t.Fatalf("import of %s differs from %s (rerun with -update if intended):\n%s", tc.file, golden, out)
			}
		})
	}
}

// The JSON Schema in schema/ accepts every document MarshalSpell writes and
// rejects the mistakes it is there to catch.
func TestSchemaDescribesNativeFormat(t *testing.T) {
	schema := loadSchema(t)
	for _, tc := range spellFiles {
		s, _ := mustParse(t, readTestdata(t, tc.file))
		out, err := graph.MarshalSpell(s)
		if err != nil {
			t.Fatal(err)
		}
		if errs := schema.check(decodeAny(t, out)); len(errs) > 0 {
			t.Errorf("%s: schema rejects the native rendering: %v", tc.file, errs)
		}
	}
	valid := string(readTestdata(t, "native_hello.json"))
	bad := map[string]string{
		"no format marker":     strings.Replace(valid, `"format": "grimoire/spell@1",`, "", 1),
		"future format":        strings.Replace(valid, `grimoire/spell@1`, `grimoire/spell@2`, 1),
		"unknown field":        strings.Replace(valid, `"name": "Hello librarian",`, `"name": "x", "title": "y",`, 1),
		"node id with a dot":   strings.Replace(valid, `"id": "ask"`, `"id": "a.sk"`, 1),
		"node without type":    strings.Replace(valid, `"type": "Generator",`, "", 1),
		"port kind misspelled": strings.Replace(valid, `"kind": "data"`, `"kind": "Data"`, 1),
		"edge end without dot": strings.Replace(valid, `"to": "answer.input"`, `"to": "answer"`, 1),
		"position as array":    strings.Replace(valid, "{\n        \"x\": 240,\n        \"y\": 0\n      }", "[240, 0]", 1),
		"config as string":     strings.Replace(valid, "\"config\": {\n        \"name\": \"answer\",\n        \"socketKey\": \"answer\"\n      }", `"config": "answer"`, 1),
	}
	for name, doc := range bad {
		if doc == valid {
			t.Fatalf("%s: the test's replacement did not apply", name)
		}
		if errs := schema.check(decodeAny(t, []byte(doc))); len(errs) == 0 {
			t.Errorf("%s: schema accepts it", name)
		}
	}
}

func decodeAny(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// jsonSchema checks the subset of JSON Schema 2020-12 that
// schema/spell.schema.json uses; it fails on any other keyword, so the
// schema cannot grow a constraint that this test silently skips.
type jsonSchema struct {
	root map[string]any
	errs []string
}

func loadSchema(t *testing.T) *jsonSchema {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "schema", "spell.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := json.Unmarshal(b, &root); err != nil {
		t.Fatal(err)
	}
	if root["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Fatalf("$schema = %v", root["$schema"])
	}
	return &jsonSchema{root: root}
}

func (s *jsonSchema) check(v any) []string {
	s.errs = nil
	s.validate(s.root, v, "$")
	return s.errs
}

func (s *jsonSchema) fail(path, format string, args ...any) {
	s.errs = append(s.errs, path+": "+fmt.Sprintf(format, args...))
}

func (s *jsonSchema) validate(sch map[string]any, v any, path string) {
	for key, rule := range sch {
		switch key {
		case "$schema", "$id", "$defs", "title", "description", "examples", "$comment":
		case "$ref":
			name, ok := strings.CutPrefix(rule.(string), "#/$defs/")
			if !ok {
				s.fail(path, "unsupported $ref %v", rule)
				continue
			}
			s.validate(s.root["$defs"].(map[string]any)[name].(map[string]any), v, path)
		case "type":
			if !jsonTypeIs(v, rule.(string)) {
				s.fail(path, "want type %v", rule)
			}
		case "const":
			if !reflect.DeepEqual(v, rule) {
				s.fail(path, "want %v", rule)
			}
		case "enum":
			if !slices.ContainsFunc(rule.([]any), func(e any) bool { return reflect.DeepEqual(e, v) }) {
				s.fail(path, "want one of %v", rule)
			}
		case "minLength":
			if str, ok := v.(string); ok && float64(len([]rune(str))) < rule.(float64) {
				s.fail(path, "shorter than %v", rule)
			}
		case "pattern":
			if str, ok := v.(string); ok && !regexp.MustCompile(rule.(string)).MatchString(str) {
				s.fail(path, "does not match %v", rule)
			}
		case "required":
			if obj, ok := v.(map[string]any); ok {
				for _, r := range rule.([]any) {
					if _, ok := obj[r.(string)]; !ok {
						s.fail(path, "missing %q", r)
					}
				}
			}
		case "properties":
			if obj, ok := v.(map[string]any); ok {
				for name, sub := range rule.(map[string]any) {
					if pv, ok := obj[name]; ok {
						s.validate(sub.(map[string]any), pv, path+"."+name)
					}
				}
			}
		case "additionalProperties":
			obj, ok := v.(map[string]any)
			if !ok {
				continue
			}
			props, _ := sch["properties"].(map[string]any)
			for name, pv := range obj {
				if _, declared := props[name]; declared {
					continue
				}
				switch r := rule.(type) {
				case bool:
					if !r {
						s.fail(path, "unexpected field %q", name)
					}
				case map[string]any:
					s.validate(r, pv, path+"."+name)
				}
			}
		case "items":
			if arr, ok := v.([]any); ok {
				for i, item := range arr {
					s.validate(rule.(map[string]any), item, fmt.Sprintf("%s[%d]", path, i))
				}
			}
		default:
			s.fail(path, "the schema uses %q, which this test does not check; teach it", key)
		}
	}
}

func jsonTypeIs(v any, typ string) bool {
	switch typ {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "number":
		_, ok := v.(float64)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "null":
		return v == nil
	}
	return false
}

// The example in docs/spell-format.md is a canonical, valid spell.
func TestDocumentedExample(t *testing.T) {
	md, err := os.ReadFile(filepath.Join("..", "docs", "spell-format.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(md), "```json\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("no ```json example in docs/spell-format.md")
	}
	s, f := mustParse(t, []byte(example))
	if f != graph.FormatNative {
		t.Fatalf("format %q", f)
	}
	if err := graph.Validate(s, newFormatCatalog()); err != nil {
		t.Fatal(err)
	}
	out, err := graph.MarshalSpell(s)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != example {
		t.Fatalf("the documented example is not in canonical form; MarshalSpell writes:\n%s", out)
	}
}
