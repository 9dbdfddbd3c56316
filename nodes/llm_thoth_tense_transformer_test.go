package nodes_test

import (
	"strings"
	"testing"
)

// Thoth's deprecated/TenseTransformer.ts: prompt "<fewshot><name>: <text>\nThird Person:",
// output the trimmed completion.
func TestFewshotTenseTransformerParse(t *testing.T) {
	outs, req := runFewshot(t, "Tense Transformer", nil, map[string]any{"name": "Jill", "text": "can I have a mug of ale?"}, []string{"action"},
		` Jill says, "Can I have a mug of ale?" `)
	if outs["action"] != `Jill says, "Can I have a mug of ale?"` {
		t.Errorf("action = %q", outs["action"])
	}
	if !strings.HasSuffix(req.Prompt, "---\nJill: can I have a mug of ale?\nThird Person:") {
		t.Errorf("prompt ends %q", req.Prompt[len(req.Prompt)-60:])
	}
	// The original hard-codes model "vanilla-davinci"; a node's model wins.
	_, req = runFewshot(t, "Tense Transformer", map[string]any{"model": "vanilla-davinci"}, map[string]any{"name": "Tom", "text": "sleep"}, []string{"action"}, "Tom sleeps.")
	if req.Model != "vanilla-davinci" {
		t.Errorf("model %q", req.Model)
	}
}
