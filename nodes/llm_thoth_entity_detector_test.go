package nodes_test

import "testing"

// Parsing as in Thoth's components/EntityDetector.ts worker.
func TestFewshotEntityDetectorParse(t *testing.T) {
	ent := func(name, typ string) map[string]any { return map[string]any{"name": name, "type": typ} }
	cases := []struct {
		name, completion string
		want             any // the entities output; nil: no value
	}{
		{"two entities", " anvil, man\nTypes: object (use), person (target)", []any{ent("anvil", "object (use)"), ent("man", "person (target)")}},
		{"dialog entity dropped", " king, kingdom\nTypes: person (target), object (dialog)", []any{ent("king", "person (target)")}},
		// The original splices while counting up, so after a drop the
		// next entity is not checked.
		{"entity after a dropped one is kept", " baker, loaf of bread, cake\nTypes: food (dialog), food (dialog), food (use)", []any{ent("loaf of bread", "food (dialog)"), ent("cake", "food (use)")}},
		{"all dialog leaves an empty list", " merchant\nTypes: person (dialog)", []any{}},
		{"none", " none\nTypes: none", nil},
		{"no Types line", " anvil, man", nil},
		{"empty completion", "", nil},
		{"fewer types than entities", " sword, wolves\nTypes: object (use)", []any{ent("sword", "object (use)"), map[string]any{"name": "wolves"}}},
		{"only the first newline is removed", "\n stone\nTypes: object (use)", []any{ent("stone", "object (use)")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			outs, _ := runFewshot(t, "Entity Detector", nil, map[string]any{"action": "throw a stone"}, []string{"entities"}, c.completion)
			if !equalJSON(outs["entities"], c.want) {
				t.Errorf("entities = %v, want %v", outs["entities"], c.want)
			}
		})
	}
}
