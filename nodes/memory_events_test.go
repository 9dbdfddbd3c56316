package nodes_test

import (
	"context"
	"strings"
	"testing"

	"github.com/grimoire-run/grimoire/events/embedded"
	"github.com/grimoire-run/grimoire/events/memory"
	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/nodes"
)

func eventMemory(t *testing.T) *memory.Memory {
	t.Helper()
	st, err := embedded.Open(embedded.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return memory.New(st, memory.Options{})
}

// agentSpell is Magick's usual agent loop without the model: destructure
// the incoming event, store it, recall the conversation and render it.
func agentSpell() *graph.Spell {
	return newSpell("agent").
		node("in", "Input", map[string]any{"name": "Input - Default"}).
		node("start", "Module Trigger In", nil).
		node("split", "Event Destructure", nil).
		node("store", "Store Event", map[string]any{"type": "Conversation"}).
		node("recall", "Event Recall", map[string]any{"type": "conversation", "max_count": "3"}).
		node("conv", "Events to Conversation", nil).
		node("o", "Output", map[string]any{"name": "conversation"}).
		node("o2", "Output", map[string]any{"name": "sender"}).
		edge("start.trigger>split.trigger", "in.output>split.event",
			"split.trigger>store.trigger", "in.output>store.event",
			"store.trigger>recall.trigger", "in.output>recall.event",
			"recall.trigger>conv.trigger", "recall.events>conv.events",
			"conv.trigger>o.trigger", "conv.conversation>o.input",
			"conv.trigger>o2.trigger", "split.sender>o2.input").build()
}

func TestMemoryNodesKeepAConversation(t *testing.T) {
	h := newHarness(t, nodes.Services{Memory: eventMemory(t)})
	say := func(sender, content, channel string) map[string]any {
		ev := map[string]any{"content": content, "sender": sender, "observer": "agent", "client": "discord", "channel": channel, "channelType": "text", "entities": []any{sender, "agent"}}
		ctx, cancel := context.WithTimeout(context.Background(), 10e9)
		defer cancel()
		res, err := h.runner.Run(ctx, agentSpell(), graph.RunRequest{RunID: "r", User: "alice", Inputs: map[string]any{"Input - Default": ev}, Observer: &recorder{}})
		if err != nil {
			t.Fatal(err)
		}
		return res.Outputs
	}
	say("bob", "hi", "general")
	say("bob", "elsewhere", "random")
	say("carol", "hello bob", "general")
	say("bob", "how are you?", "general")
	outs := say("carol", "fine", "general")
	want := "carol: hello bob\nbob: how are you?\ncarol: fine\n"
	if outs["conversation"] != want {
		t.Fatalf("conversation %q\nwant %q (the newest 3 of channel general, oldest first)", outs["conversation"], want)
	}
	if outs["sender"] != "carol" {
		t.Errorf("Event Destructure sender %v", outs["sender"])
	}
}

func TestEventRecallNearestByEmbedding(t *testing.T) {
	h := newHarness(t, nodes.Services{Memory: eventMemory(t)})
	store := newSpell("store").
		node("start", "Module Trigger In", nil).
		node("ev", "Input", map[string]any{"name": "event"}).
		node("emb", "Input", map[string]any{"name": "embedding"}).
		node("store", "Store Event", nil).
		edge("start.trigger>store.trigger", "ev.output>store.event", "emb.output>store.embedding").build()
	for _, c := range []struct {
		content string
		emb     any
	}{{"about cats", []any{1.0, 0.0}}, {"about dogs", "0,1"}, {"about kittens", []any{0.9, 0.1}}} {
		h.mustRun(t, store, map[string]any{"event": map[string]any{"content": c.content, "sender": "u", "channel": "c"}, "embedding": c.emb})
	}
	recall := newSpell("recall").
		node("start", "Module Trigger In", nil).
		node("ev", "Input", map[string]any{"name": "event"}).
		node("emb", "Input", map[string]any{"name": "embedding"}).
		node("recall", "Event Recall", map[string]any{"max_count": 2}).
		node("o", "Output", map[string]any{"name": "events"}).
		edge("start.trigger>recall.trigger", "ev.output>recall.event", "emb.output>recall.embedding",
			"recall.trigger>o.trigger", "recall.events>o.input").build()
	outs, _ := h.mustRun(t, recall, map[string]any{"event": map[string]any{"channel": "c"}, "embedding": []any{1.0, 0.05}})
	evs := outs["events"].([]any)
	var got []string
	for _, e := range evs {
		got = append(got, e.(map[string]any)["content"].(string))
	}
	if strings.Join(got, ",") != "about cats,about kittens" {
		t.Fatalf("nearest events %v", got)
	}
}

func TestMemoryNodesWithoutMemory(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	_, _, err := h.run(context.Background(), agentSpell(), map[string]any{"Input - Default": map[string]any{"content": "x"}})
	if err == nil || !strings.Contains(err.Error(), "no event memory configured") {
		t.Fatalf("err = %v", err)
	}
}
