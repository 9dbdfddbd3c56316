package nodes

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// Chunks never exceed the size, are never empty, and together keep every
// word of the text, in order.
func FuzzChunkText(f *testing.F) {
	f.Add("The quick brown fox jumps over the lazy dog.", 10, 3)
	f.Add(strings.Repeat("word ", 100), 50, 10)
	f.Add("averyveryverylongwordwithoutanyspacesatall and then some", 8, 2)
	f.Add("ünïcödé text 🪄 with emoji and  double  spaces\n\nand paragraphs", 12, 4)
	f.Fuzz(func(t *testing.T, s string, size, overlap int) {
		if !utf8.ValidString(s) || size < 1 || size > 200 || overlap < 0 || overlap >= size {
			t.Skip()
		}
		chunks := chunkText(s, size, overlap)
		var words []string
		for _, c := range chunks {
			if strings.TrimSpace(c) == "" && strings.TrimSpace(s) != "" {
				t.Fatalf("empty chunk in %q", chunks)
			}
			if n := utf8.RuneCountInString(c); n > size {
				t.Fatalf("chunk %q has %d runes, size %d", c, n, size)
			}
			words = append(words, strings.Fields(c)...)
		}
		// Every word of s appears in the chunks' words in order (overlap
		// repeats some; long words are split across chunks).
		joined := strings.Join(words, " ")
		for _, w := range strings.Fields(s) {
			if utf8.RuneCountInString(w) >= size {
				continue
			}
			i := strings.Index(joined, w)
			if i < 0 {
				t.Fatalf("word %q of %q lost in chunks %q", w, s, chunks)
			}
			joined = joined[i+len(w):]
		}
	})
}

func FuzzToVector(f *testing.F) {
	f.Add("0.1, 0.2,-3")
	f.Add("[1,2,3]")
	f.Add("1e40,nan")
	f.Fuzz(func(t *testing.T, s string) {
		v, err := toVector(s)
		if err == nil && strings.TrimSpace(strings.Trim(strings.TrimSpace(s), "[]")) != "" && len(v) == 0 {
			t.Fatalf("%q: no error and no vector", s)
		}
	})
}
