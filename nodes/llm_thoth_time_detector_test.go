package nodes_test

import "testing"

// Thoth's components/TimeDetector.ts outputs the trimmed completion.
func TestFewshotTimeDetectorParse(t *testing.T) {
	for completion, want := range map[string]string{" days": "days", "\tweeks ": "weeks", "": ""} {
		outs, _ := runFewshot(t, "Time Detector", nil, map[string]any{"string": "sail away"}, []string{"detectedTime"}, completion)
		if outs["detectedTime"] != want {
			t.Errorf("completion %q: detectedTime = %q, want %q", completion, outs["detectedTime"], want)
		}
	}
}
