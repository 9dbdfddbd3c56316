package nodes

import (
	"context"
	"fmt"
	"strings"
	"unicode"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Split By Sentence", newSplitBySentence) }

// Split By Sentence follows Magick's nodes/text/SplitBySentence.ts: the text
// cut into sentences (Magick uses the sentence-splitter package), and any
// sentence longer than data.stringMaxLength cut into pieces of at most that
// many characters. Grimoire's splitter ends a sentence after ., !, ?, …
// or their CJK forms (with closing quotes or brackets) followed by white
// space, and at line breaks, which is what sentence-splitter does for
// ordinary prose; it counts length in characters (code points) where
// JavaScript counts UTF-16 units.
func newSplitBySentence(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:    "Split By Sentence",
		Family:  "text",
		Doc:     "Splits text into sentences, each cut into pieces no longer than a maximum length.",
		Inputs:  []graph.Port{triggerIn, dataIn("string", "string", "the text to split (required)")},
		Outputs: []graph.Port{triggerOut, dataOut("output", "array", "the sentences (strings)")},
		Config: []graph.ConfigField{
			{Name: "stringMaxLength", Type: "number", Default: 280, Doc: "the most characters in one piece (the editor's default is 280)"},
		},
		New: func(n *graph.Node) (graph.Worker, error) {
			max, ok, err := configNumber(n, "stringMaxLength")
			if err != nil {
				return nil, err
			}
			if !ok {
				max = 280
			}
			if max < 1 {
				return nil, fmt.Errorf("config \"stringMaxLength\" is %v; set a length of 1 or more", max)
			}
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				s, err := requiredTextInput(a, "string")
				if err != nil {
					return graph.Result{}, err
				}
				out := []any{}
				for _, sentence := range splitSentences(s) {
					r := []rune(sentence)
					for len(r) > int(max) {
						out = append(out, string(r[:int(max)]))
						r = r[int(max):]
					}
					if len(r) > 0 {
						out = append(out, string(r))
					}
				}
				return graph.Result{Outputs: graph.Outputs{"output": out}}, nil
			}), nil
		},
	}
}

func splitSentences(s string) []string {
	var out []string
	flush := func(b *strings.Builder) {
		if t := strings.TrimSpace(b.String()); t != "" {
			out = append(out, t)
		}
		b.Reset()
	}
	var b strings.Builder
	r := []rune(s)
	for i := 0; i < len(r); i++ {
		c := r[i]
		if c == '\n' || c == '\r' {
			flush(&b)
			continue
		}
		b.WriteRune(c)
		if !strings.ContainsRune(".!?…。！？", c) {
			continue
		}
		j := i + 1
		for j < len(r) && (strings.ContainsRune(".!?…。！？", r[j]) || strings.ContainsRune("\"'”’)]」』", r[j])) {
			b.WriteRune(r[j])
			j++
		}
		i = j - 1
		if j == len(r) || unicode.IsSpace(r[j]) || strings.ContainsRune("。！？", c) {
			flush(&b)
		}
	}
	flush(&b)
	return out
}
