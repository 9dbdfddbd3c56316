package nodes_test

import (
	"sort"
	"testing"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/nodes"
)

func TestRegistryResolvesNamesAndAliases(t *testing.T) {
	reg := nodes.NewRegistry(nodes.Services{})
	tests := []struct{ name, want string }{
		{"Module Trigger In", "Module Trigger In"},
		{"Module Trigger Out", "Module Trigger Out"},
		{"Input", "Input"},
		{"Universal Input", "Input"},
		{"Output", "Output"},
		{"Echo", "Echo"},
		{"Text Template", "Text Template"},
		{"String Variable", "String"},
		{"Text Variable", "Text"},
		{"Number Variable", "Number"},
		{"Boolean Variable", "Boolean"},
		{"Boolean Gate", "Boolean Gate"},
		{"Switch", "Switch"},
		{"Exclusive Gate", "Exclusive Gate"},
		{"Wait For All", "Wait For All"},
		{"Code", "Code"},
		{"Javascript", "Code"},
		{"JSON Parse", "JSON Parse"},
		{"JSON Stringify", "JSON Stringify"},
		{"Spell", "Spell"},
		{"Generator", "Generator"},
		{"universal input", "Input"}, // case-insensitive fallback
		{"boolean gate", "Boolean Gate"},
	}
	for _, tt := range tests {
		got, ok := reg.Lookup(tt.name)
		if !ok || got.Name != tt.want {
			t.Errorf("Lookup(%q) = %v, %v; want %s", tt.name, got, ok, tt.want)
		}
	}
	if _, ok := reg.Lookup("No Such Node"); ok {
		t.Error("Lookup of an unknown type succeeded")
	}
}

func TestEveryTypeIsDescribed(t *testing.T) {
	types := nodes.NewRegistry(nodes.Services{}).Types()
	if !sort.SliceIsSorted(types, func(i, j int) bool { return types[i].Name < types[j].Name }) {
		t.Error("Types() is not sorted by name")
	}
	for _, ty := range types {
		if ty.Doc == "" || ty.Family == "" || ty.New == nil {
			t.Errorf("%s: Doc %q, Family %q, New set %v: every type needs all three", ty.Name, ty.Doc, ty.Family, ty.New != nil)
		}
		for _, p := range append(append([]graph.Port{}, ty.Inputs...), ty.Outputs...) {
			if p.Kind != graph.Data && p.Kind != graph.Trigger {
				t.Errorf("%s port %s: kind %q", ty.Name, p.Name, p.Kind)
			}
			if p.Kind == graph.Data && p.Type == "" {
				t.Errorf("%s data port %s has no value type", ty.Name, p.Name)
			}
		}
		for _, f := range ty.Config {
			if f.Name == "" || f.Type == "" || f.Doc == "" {
				t.Errorf("%s config field %+v: needs name, type and doc", ty.Name, f)
			}
		}
	}
}

func TestNondeterministicTypesAreMarked(t *testing.T) {
	reg := nodes.NewRegistry(nodes.Services{})
	for name, want := range map[string]bool{"Generator": true, "Code": true, "Echo": false, "Text Template": false} {
		ty, _ := reg.Lookup(name)
		if ty.Nondeterministic != want {
			t.Errorf("%s.Nondeterministic = %v, want %v", name, ty.Nondeterministic, want)
		}
	}
}
