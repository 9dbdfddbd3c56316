package nodes_test

import "testing"

// Thoth's deprecated/SafetyVerifier.ts: boolean = completion.trim() !== 'X'.
func TestFewshotSafetyVerifierParse(t *testing.T) {
	cases := []struct {
		completion string
		want       bool
	}{
		{" X", false},
		{"X\n", false},
		{" E", true},
		{" M", true},
		{" T", true},
		{" x", true},  // case-sensitive, as the original
		{" X.", true}, // anything but exactly X is safe
		{"", true},
	}
	for _, c := range cases {
		outs, req := runFewshot(t, "Safety Verifier", nil, map[string]any{"string": "open the door"}, []string{"boolean"}, c.completion)
		if outs["boolean"] != c.want {
			t.Errorf("completion %q: boolean = %v, want %v", c.completion, outs["boolean"], c.want)
		}
		if want := "Action: open the door\nRating:"; req.Prompt[len(req.Prompt)-len(want):] != want {
			t.Errorf("prompt ends %q, want %q", req.Prompt[len(req.Prompt)-len(want):], want)
		}
	}
}
