package graph

import "testing"

// Model calls (Cacheable nondeterministic types) are served from the cache
// only when the node, or else its spell, says "cache": true (decision 0007).
func TestCachesNode(t *testing.T) {
	model := &NodeType{Name: "Model", Nondeterministic: true, Cacheable: true}
	random := &NodeType{Name: "Random", Nondeterministic: true}
	pure := &NodeType{Name: "Pure"}
	perItem := &NodeType{Name: "Each", FiresPerItem: true}
	node := func(cfg map[string]any) *Node { return &Node{ID: "n", Config: cfg} }
	spell := func(meta map[string]any) *Spell { return &Spell{Meta: meta} }
	for _, tc := range []struct {
		name string
		typ  *NodeType
		s    *Spell
		n    *Node
		want bool
	}{
		{"model by default", model, spell(nil), node(nil), false},
		{"model, node opts in", model, spell(nil), node(map[string]any{"cache": true}), true},
		{"model, spell opts in", model, spell(map[string]any{"cache": true}), node(nil), true},
		{"model, node opts out of the spell's opt-in", model, spell(map[string]any{"cache": true}), node(map[string]any{"cache": false}), false},
		{"model, a non-boolean cache is ignored", model, spell(nil), node(map[string]any{"cache": "yes"}), false},
		{"other nondeterministic, even opted in", random, spell(map[string]any{"cache": true}), node(map[string]any{"cache": true}), false},
		{"deterministic", pure, spell(nil), node(nil), true},
		{"fires per item", perItem, spell(nil), node(map[string]any{"cache": true}), false},
	} {
		if got := tc.typ.CachesNode(tc.s, tc.n); got != tc.want {
			t.Errorf("%s: CachesNode = %v, want %v", tc.name, got, tc.want)
		}
	}
}
