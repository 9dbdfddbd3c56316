package graph

import "testing"

func TestNearestNamesLikelyTypos(t *testing.T) {
	names := []string{"Text Template", "Text Processor", "Generate Text", "name", "mood"}
	for word, want := range map[string]string{
		"Text Templte":  "Text Template", // a letter left out
		"text template": "Text Template", // case
		"Txet Template": "Text Template", // two letters swapped
		"nmae":          "name",
		"mod":           "mood",
		"Image":         "", // nothing close
		"x":             "",
	} {
		if got := Nearest(word, names); got != want {
			t.Errorf("Nearest(%q) = %q, want %q", word, got, want)
		}
	}
}
