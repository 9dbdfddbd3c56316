package nodes_test

import (
	"strings"
	"testing"
)

// Thoth's deprecated/ProseToScript.ts: the socket is "script", the worker
// returns "detectedItem"; both carry the trimmed completion here. Its
// fewshot is a function, never saved, so data.fewshot is ignored.
func TestFewshotProseToScriptParse(t *testing.T) {
	cfg := map[string]any{"fewshot": "ignored"}
	outs, req := runFewshot(t, "Prose to Script", cfg, map[string]any{"string": `"Halt!" said the guard.`}, []string{"script", "detectedItem"}, " Guard: Halt!\n- Ava: Why?\n")
	if outs["script"] != "Guard: Halt!\n- Ava: Why?" || outs["detectedItem"] != outs["script"] {
		t.Errorf("outputs %q", outs)
	}
	if !strings.HasPrefix(req.Prompt, "Rewrite narrative snippets as a script:") ||
		!strings.HasSuffix(req.Prompt, "3\nOriginal text:\n\n\"Halt!\" said the guard.\n\nRewritten as a script:\n\n-") {
		t.Errorf("prompt ends %q", req.Prompt[len(req.Prompt)-80:])
	}
}
