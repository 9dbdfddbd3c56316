package nodes_test

import (
	"context"
	"strings"
	"testing"

	"github.com/grimoire-run/grimoire/nodes"
)

// Thoth's deprecated/ActionType.ts outputs the trimmed completion and
// throws on an empty action.
func TestFewshotActionTypeParse(t *testing.T) {
	outs, req := runFewshot(t, "Action Type Classifier", nil, map[string]any{"action": "drink the potion"}, []string{"actionType"}, " consume\n")
	if outs["actionType"] != "consume" {
		t.Errorf("actionType = %q", outs["actionType"])
	}
	if !strings.HasSuffix(req.Prompt, "\nAction, Type: drink the potion,") {
		t.Errorf("prompt ends %q", req.Prompt[len(req.Prompt)-40:])
	}
}

func TestFewshotActionTypeEmptyAction(t *testing.T) {
	comp := &scriptedCompletion{tokens: []string{"get"}}
	h := newHarness(t, nodes.Services{Completion: comp})
	_, _, err := h.run(context.Background(), fewshotSpell("Action Type Classifier", nil, []string{"action"}, []string{"actionType"}), map[string]any{"action": ""})
	if err == nil || !strings.Contains(err.Error(), `input "action" is empty`) {
		t.Fatalf("err = %v, want one saying the action input is empty", err)
	}
	if len(comp.reqs) != 0 {
		t.Error("the model was called for an empty action")
	}
}
