package graph_test

import (
	"encoding/json"
	"math"
	"regexp"
	"slices"
	"testing"

	"github.com/grimoire-run/grimoire/graph"
)

// cloneSpell deep-copies a spell through the native format.
func cloneSpell(t *testing.T, s *graph.Spell) *graph.Spell {
	t.Helper()
	b, err := graph.MarshalSpell(s)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := mustParse(t, b)
	return c
}

func TestHash(t *testing.T) {
	base, _ := mustParse(t, readTestdata(t, "native_hello.json"))
	h := graph.Hash(base)
	if !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(h) {
		t.Fatalf("hash %q", h)
	}
	// The hash is every stored spell version's identity: it must not change
	// between releases. If this fails, the canonical form changed.
	if want := "sha256:c0e97da45db44dc27197a1fc5ffe64c2d4d4ce57d30624eaa78bfda11ce92185"; h != want {
		t.Logf("native_hello.json hashes to %s", h)
		t.Errorf("hash of native_hello.json changed: %s, was %s", h, want)
	}

	same := map[string]func(s *graph.Spell){
		"positions moved": func(s *graph.Spell) {
			s.Node("ask").Position = &graph.Position{X: -1, Y: 99.5}
			s.Node("answer").Position = nil
		},
		"nodes and edges reordered": func(s *graph.Spell) {
			slices.Reverse(s.Nodes)
			slices.Reverse(s.Edges)
		},
		"editor state added": func(s *graph.Spell) {
			ask, q := s.Node("ask"), s.Node("question")
			ask.Config["display"] = "last output"
			ask.Config["success"] = true
			ask.Config["dataControls"] = map[string]any{"fewshot": map[string]any{"expanded": true}}
			q.Config["nodeLocked"] = true
			q.Config["playtestToggle"] = map[string]any{"receivePlaytest": true}
		},
		"empty config and port lists": func(s *graph.Spell) {
			s.Node("answer").Outputs = []graph.PortDecl{}
			s.Meta["x"] = nil
			delete(s.Meta, "x")
		},
	}
	for name, change := range same {
		s := cloneSpell(t, base)
		change(s)
		if got := graph.Hash(s); got != h {
			t.Errorf("%s: hash changed to %s", name, got)
		}
	}

	different := map[string]func(s *graph.Spell){
		"config value":     func(s *graph.Spell) { s.Node("ask").Config["temp"] = 0.3 },
		"config key added": func(s *graph.Spell) { s.Node("ask").Config["frequencyPenalty"] = 0.0 },
		"node type":        func(s *graph.Spell) { s.Node("answer").Type = "Module Trigger Out" },
		"edge removed":     func(s *graph.Spell) { s.Edges = s.Edges[1:] },
		"declared port type": func(s *graph.Spell) {
			s.Node("ask").Inputs[0].Type = "any"
		},
		"meta": func(s *graph.Spell) { s.Meta["description"] = "changed" },
		"name": func(s *graph.Spell) { s.Name = "Hello again" },
	}
	for name, change := range different {
		s := cloneSpell(t, base)
		change(s)
		if got := graph.Hash(s); got == h {
			t.Errorf("%s: hash did not change", name)
		}
	}

	if graph.Hash(nil) != "" {
		t.Error("Hash(nil) not empty")
	}
	bad := cloneSpell(t, base)
	bad.Node("ask").Config["temp"] = math.NaN()
	if graph.Hash(bad) != "" {
		t.Error("a spell with no JSON form got a hash")
	}
}

// A Thoth/Magick spell hashes the same as its native rendering, and as that
// rendering read back: importing is not a new version.
func TestHashSurvivesFormatConversion(t *testing.T) {
	for _, tc := range spellFiles {
		t.Run(tc.file, func(t *testing.T) {
			s, _ := mustParse(t, readTestdata(t, tc.file))
			native, err := graph.MarshalSpell(s)
			if err != nil {
				t.Fatal(err)
			}
			back, _ := mustParse(t, native)
			if graph.Hash(s) != graph.Hash(back) {
				t.Fatalf("hash %s as read, %s after conversion to native", graph.Hash(s), graph.Hash(back))
			}
		})
	}
}

// A Magick spell re-saved after a playtest run (status lights, displayed
// output, panel state and layout all changed) keeps its version.
func TestHashIgnoresThothEditorState(t *testing.T) {
	orig := readTestdata(t, "magick_graph.json")
	var doc map[string]any
	if err := json.Unmarshal(orig, &doc); err != nil {
		t.Fatal(err)
	}
	doc["updatedAt"] = "1678839999999"
	doc["hash"] = "ffffffffffffffffffffffffffffffff"
	for _, n := range doc["graph"].(map[string]any)["nodes"].(map[string]any) {
		node := n.(map[string]any)
		node["position"] = []any{1.0, 2.0}
		d := node["data"].(map[string]any)
		d["success"] = true
		d["display"] = "some output"
		d["dataControls"] = map[string]any{}
	}
	resaved, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := mustParse(t, orig)
	b, _ := mustParse(t, resaved)
	if graph.Hash(a) != graph.Hash(b) {
		t.Fatalf("re-saved spell hashes differently")
	}
}

func TestIsEditorStateKey(t *testing.T) {
	for _, k := range []string{"display", "success", "error", "dataControls", "nodeLocked", "playtestToggle", "sendToPlaytest", "receivePlaytest"} {
		if !graph.IsEditorStateKey(k) {
			t.Errorf("%q is not editor state", k)
		}
	}
	for _, k := range []string{"fewshot", "name", "socketKey", "inputs", "code", "useDefault"} {
		if graph.IsEditorStateKey(k) {
			t.Errorf("%q counted as editor state", k)
		}
	}
}
