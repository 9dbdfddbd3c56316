package nodes_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/nodes"
)

// Magick io/SpellByName.ts: the sub-spell gets the event as
// "Input - Subspell" plus the inputs object, and its first output comes out.
func TestSpellByNameRunsTheNamedSpell(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	greeter := newSpell("greeter").
		node("in", "Input", map[string]any{"name": "Input - Subspell"}).
		node("x", "Input", map[string]any{"name": "punct"}).
		node("split", "Event Destructure", nil).
		node("tpl", "Text Template", map[string]any{"template": "hello {{c}}{{p}}"}, named(in("c"), "c"), named(in("p"), "p")).
		node("o", "Output", map[string]any{"name": "reply"}).
		edge("in.trigger>split.trigger", "in.output>split.event", "split.trigger>tpl.trigger",
			"split.content>tpl.c", "x.output>tpl.p", "tpl.trigger>o.trigger", "tpl.output>o.input").build()
	h.runner.Spells = spellMap{"greeter": greeter}
	caller := newSpell("caller").
		node("start", "Module Trigger In", nil).
		node("name", "Input", map[string]any{"name": "spell"}).
		node("ev", "Input", map[string]any{"name": "event"}).
		node("args", "Input", map[string]any{"name": "args"}).
		node("call", "Spell By Name", nil).
		node("o", "Output", map[string]any{"name": "result"}).
		edge("start.trigger>call.trigger", "name.output>call.spellName", "ev.output>call.event", "args.output>call.inputs",
			"call.trigger>o.trigger", "call.output>o.input").build()
	outs := h.mustRunBoth(t, caller, map[string]any{"spell": "greeter", "event": map[string]any{"content": "bob"}, "args": map[string]any{"punct": "!"}})
	if outs["result"] != "hello bob!" {
		t.Fatalf("result %v, want hello bob!", outs["result"])
	}

	for _, c := range []struct {
		name   string
		inputs map[string]any
		want   string
	}{
		{"unknown spell", map[string]any{"spell": "nope"}, `spell "nope" not found`},
		{"no name", map[string]any{"spell": ""}, `"spellName" is empty`},
		{"inputs not an object", map[string]any{"spell": "greeter", "args": "x"}, `input "inputs"`},
	} {
		_, _, err := h.run(context.Background(), caller, c.inputs)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}

	// Recursion is caught by the Spell node's machinery.
	self := newSpell("self").
		node("in", "Input", map[string]any{"name": "Input - Subspell"}).
		node("call", "Spell By Name", map[string]any{"spellName": "self"}).
		edge("in.trigger>call.trigger").build()
	h.runner.Spells = spellMap{"self": self}
	_, _, err := h.run(context.Background(), self, map[string]any{"Input - Subspell": "x"})
	if !errors.Is(err, graph.ErrRecursion) {
		t.Fatalf("self-call: err = %v, want ErrRecursion", err)
	}
}
