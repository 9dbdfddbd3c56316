package nodes_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/nodes"
)

// shout is a sub-spell: Input "text" -> Text Template -> Output "loud";
// it fires Trigger Out "done" on the way out, or "empty" when text is "".
func shoutSpell() *graph.Spell {
	return newSpell("shout").
		node("tin", "Module Trigger In", map[string]any{"name": "go", "socketKey": "sk-go"}).
		node("in", "Input", map[string]any{"name": "text", "socketKey": "sk-text"}).
		node("gate", "Boolean Gate", nil).
		node("tpl", "Text Template", map[string]any{"template": "{{t}}!!"}, named(in("t"), "t")).
		node("out", "Output", map[string]any{"name": "loud", "socketKey": "sk-loud"}).
		node("done", "Module Trigger Out", map[string]any{"name": "done", "socketKey": "sk-done"}).
		node("empty", "Module Trigger Out", map[string]any{"name": "empty", "socketKey": "sk-empty"}).
		edge("tin.trigger>gate.trigger", "in.output>gate.boolean",
			"gate.true>tpl.trigger", "in.output>tpl.t", "tpl.trigger>out.trigger", "tpl.output>out.input", "out.trigger>done.trigger",
			"gate.false>empty.trigger").build()
}

func callerSpell(subRef string) *graph.Spell {
	return newSpell("caller").
		node("start", "Module Trigger In", nil).
		node("in", "Input", map[string]any{"name": "text"}).
		node("call", "Spell", map[string]any{"spell": subRef},
			tin("sk-go"), in("sk-text"), out("sk-loud"), tout("sk-done"), tout("sk-empty")).
		node("out", "Output", map[string]any{"name": "result"}).
		node("whenDone", "Test Pass", nil).
		node("whenEmpty", "Test Pass", nil).
		edge("start.trigger>call.sk-go", "in.output>call.sk-text",
			"call.sk-loud>out.input", "call.sk-done>whenDone.trigger", "whenDone.trigger>out.trigger",
			"call.sk-empty>whenEmpty.trigger").build()
}

func TestSpellNodeRunsASubSpell(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	h.runner.Spells = spellMap{"shout": shoutSpell()}
	outs, rec := h.mustRun(t, callerSpell("shout"), map[string]any{"text": "hey"})
	if outs["result"] != "hey!!" {
		t.Fatalf("result %v, want hey!!", outs["result"])
	}
	rec.assertSkipped(t, "whenEmpty")
	// The sub-spell's nodes are reported under the Spell node's path.
	sub := 0
	for _, e := range rec.events {
		if len(e.Path) == 1 && e.Path[0] == "call" && e.Kind == graph.NodeCompleted {
			sub++
		}
	}
	if sub == 0 {
		t.Error("no events for the sub-spell's nodes")
	}

	outs, rec = h.mustRun(t, callerSpell("shout"), map[string]any{"text": ""})
	if _, ok := outs["result"]; ok {
		t.Errorf("result %v set although the sub-spell took its empty branch", outs["result"])
	}
	if rec.count("whenEmpty", graph.NodeStarted) != 1 {
		t.Error("the Spell node did not fire the trigger output matching the sub-spell's Trigger Out")
	}
	rec.assertSkipped(t, "whenDone")
}

func TestSpellRecursionIsReported(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	// "loop" calls "loop-b", which calls "loop" again.
	a := newSpell("loop").
		node("start", "Module Trigger In", map[string]any{"socketKey": "go"}).
		node("call", "Spell", map[string]any{"spellId": "loop-b"}, tin("go")).
		edge("start.trigger>call.go").build()
	b := newSpell("loop-b").
		node("start", "Module Trigger In", map[string]any{"socketKey": "go"}).
		node("call", "Spell", map[string]any{"spellId": "loop"}, tin("go")).
		edge("start.trigger>call.go").build()
	h.runner.Spells = spellMap{"loop": a, "loop-b": b}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _, err := h.run(ctx, a, nil)
	if !errors.Is(err, graph.ErrRecursion) {
		t.Fatalf("err = %v, want ErrRecursion", err)
	}
	var ne *graph.NodeError
	if !errors.As(err, &ne) || ne.NodeID != "call" || !strings.Contains(err.Error(), "loop") {
		t.Fatalf("err = %v: want it to name the Spell node and the spells", err)
	}
}

func TestSpellNodeReportsMissingSpell(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	h.runner.Spells = spellMap{}
	_, _, err := h.run(context.Background(), callerSpell("nowhere"), map[string]any{"text": "x"})
	if err == nil || !strings.Contains(err.Error(), `"nowhere"`) {
		t.Fatalf("err = %v", err)
	}
}
