package nodes_test

import "testing"

// Parsing as in Thoth's DifficultyDetector.ts worker: trim, split on ", ".
func TestFewshotDifficultyDetectorParse(t *testing.T) {
	cases := []struct {
		completion           string
		difficulty, category any
	}{
		{" 8/20, strength", "8/20", "strength"},
		{" 20/20, strength, and luck ", "20/20", "strength"},
		{" 7/20", "7/20", nil},
		{"8/20,strength", "8/20,strength", nil}, // the separator is ", "
		{"   ", nil, nil},
	}
	for _, c := range cases {
		outs, _ := runFewshot(t, "Difficulty Detector", nil, map[string]any{"action": "lift the cart"}, []string{"difficulty", "category"}, c.completion)
		if outs["difficulty"] != c.difficulty || outs["category"] != c.category {
			t.Errorf("completion %q: difficulty %v category %v, want %v %v", c.completion, outs["difficulty"], outs["category"], c.difficulty, c.category)
		}
	}
}

// data.fewshot as the Thoth editor saved it replaces the default; the
// prompt appends the action and ",".
func TestFewshotDifficultyDetectorSavedFewshot(t *testing.T) {
	_, req := runFewshot(t, "Difficulty Detector", map[string]any{"fewshot": "Action, Difficulty, Type: "}, map[string]any{"action": "do a back flip"}, []string{"difficulty"}, " 6/20, dexterity")
	if req.Prompt != "Action, Difficulty, Type: do a back flip," {
		t.Errorf("prompt %q", req.Prompt)
	}
}
