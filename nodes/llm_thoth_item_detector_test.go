package nodes_test

import "testing"

// Thoth's components/ItemDetector.ts outputs the trimmed completion.
func TestFewshotItemDetectorParse(t *testing.T) {
	for completion, want := range map[string]string{" goblet": "goblet", " valerian plant \n": "valerian plant", "": ""} {
		outs, _ := runFewshot(t, "Item Detector", nil, map[string]any{"string": "grab the goblet"}, []string{"detectedItem"}, completion)
		if outs["detectedItem"] != want {
			t.Errorf("completion %q: detectedItem = %q, want %q", completion, outs["detectedItem"], want)
		}
	}
}
