package nodes_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/nodes"
	"github.com/grimoire-run/grimoire/services"
	"github.com/grimoire-run/grimoire/services/devllm"
	"github.com/grimoire-run/grimoire/services/openai"
)

// inferenceClient is the real OpenAI-compatible client against the
// inference test double (a stand-in for a GPU server, which cannot run here).
func inferenceClient(t testing.TB, opts devllm.Options) (*openai.Client, *devllm.Server) {
	t.Helper()
	srv := devllm.New(t, opts)
	c, err := openai.New(openai.Options{BaseURL: srv.URL, Model: "test-chat", EmbeddingModel: "test-embed",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Retry: openai.RetryPolicy{MaxAttempts: 1}})
	if err != nil {
		t.Fatal(err)
	}
	return c, srv
}

func chatSpell(cfg map[string]any) *graph.Spell {
	return newSpell("chat").
		node("start", "Module Trigger In", nil).
		node("q", "Input", map[string]any{"name": "question"}).
		node("hist", "Input", map[string]any{"name": "history"}).
		node("chat", "Chat Completion", cfg, named(in("sk-city"), "city")).
		node("o1", "Output", map[string]any{"name": "result"}).
		node("o2", "Output", map[string]any{"name": "messages"}).
		node("o3", "Output", map[string]any{"name": "toolCalls"}).
		edge("start.trigger>chat.trigger", "q.output>chat.sk-city", "hist.output>chat.messages",
			"chat.trigger>o1.trigger", "chat.result>o1.input", "chat.trigger>o2.trigger", "chat.messages>o2.input",
			"chat.trigger>o3.trigger", "chat.toolCalls>o3.input").build()
}

func TestChatCompletionStreamsAndSendsTheConversation(t *testing.T) {
	comp, srv := inferenceClient(t, devllm.Options{Reply: func(devllm.Request) devllm.Reply {
		return devllm.Reply{Chunks: []string{"It", " is", " Paris."}, Usage: &devllm.Usage{PromptTokens: 11, CompletionTokens: 3, TotalTokens: 14}}
	}})
	h := newHarness(t, nodes.Services{Completion: comp})
	cfg := map[string]any{
		"system": "You answer about {{city}}.", "prompt": "Where is {{city}}?", "model": "big",
		"temperature": "0.3", "top_p": 0.9, "max_tokens": 64, "stop": "\\n,END", "presence_penalty": 0.1, "seed": 7,
	}
	history := []any{map[string]any{"role": "user", "content": "hello"}, map[string]any{"role": "assistant", "content": "hi"}}
	outs, rec := h.mustRun(t, chatSpell(cfg), map[string]any{"question": "Paris", "history": history})
	if outs["result"] != "It is Paris." {
		t.Fatalf("result %q", outs["result"])
	}
	if got := rec.chunks("chat"); !reflect.DeepEqual(got, []string{"It", " is", " Paris."}) {
		t.Errorf("partial output %q, want the tokens as they streamed", got)
	}
	done, _ := rec.find("chat", graph.NodeCompleted)
	if done.Usage == nil || done.Usage.TotalTokens != 14 || done.Usage.Calls != 1 || done.Usage.Model != "big" {
		t.Errorf("usage %+v", done.Usage)
	}
	body := srv.RequestsTo(devllm.Chat)[0].JSON
	wantMsgs := []any{
		map[string]any{"role": "system", "content": "You answer about Paris."},
		map[string]any{"role": "user", "content": "hello"},
		map[string]any{"role": "assistant", "content": "hi"},
		map[string]any{"role": "user", "content": "Where is Paris?"},
	}
	if !reflect.DeepEqual(body["messages"], wantMsgs) {
		t.Errorf("messages sent %v", body["messages"])
	}
	if body["model"] != "big" || body["top_p"] != 0.9 || body["max_tokens"] != 64.0 || body["seed"] != 7.0 ||
		body["presence_penalty"] != 0.1 || !reflect.DeepEqual(body["stop"], []any{"\n", "END"}) || body["stream"] != true {
		t.Errorf("request %v", body)
	}
	if tmp, _ := body["temperature"].(float64); tmp < 0.29 || tmp > 0.31 {
		t.Errorf("temperature %v", body["temperature"])
	}
	if msgs, _ := outs["messages"].([]any); len(msgs) != 5 {
		t.Errorf("messages output %v, want the 4 sent plus the answer", outs["messages"])
	}
}

// upperSpell is a tool: Input "text" -> Text Template -> Output "shout".
func upperSpell() *graph.Spell {
	s := newSpell("upper").
		node("tin", "Module Trigger In", nil).
		node("in", "Input", map[string]any{"name": "text"}).
		node("tpl", "Text Template", map[string]any{"template": "{{t}}!!"}, named(in("t"), "t")).
		node("out", "Output", map[string]any{"name": "shout"}).
		edge("tin.trigger>tpl.trigger", "in.output>tpl.t", "tpl.trigger>out.trigger", "tpl.output>out.input").build()
	s.Name = "Shout it"
	return s
}

func TestChatCompletionCallsToolSpells(t *testing.T) {
	comp, srv := inferenceClient(t, devllm.Options{})
	h := newHarness(t, nodes.Services{Completion: comp})
	h.runner.Spells = spellMap{"upper": upperSpell()}
	// The test double asks for the tool calls a user message spells out,
	// then echoes the last tool result.
	cfg := map[string]any{"prompt": "call Shout_it {\"text\": \"hey\"}", "tools": []any{"upper"}}
	outs, rec := h.mustRun(t, chatSpell(cfg), map[string]any{"question": "x"})
	if outs["result"] != "hey!!" {
		t.Fatalf("result %q, want the tool's answer echoed back", outs["result"])
	}
	calls, _ := outs["toolCalls"].([]any)
	if len(calls) != 1 || calls[0].(map[string]any)["result"] != "hey!!" || calls[0].(map[string]any)["name"] != "Shout_it" {
		t.Errorf("toolCalls %v", outs["toolCalls"])
	}
	reqs := srv.RequestsTo(devllm.Chat)
	if len(reqs) != 2 {
		t.Fatalf("%d chat requests, want 2 (tool call, then answer)", len(reqs))
	}
	var tools []struct {
		Function struct {
			Name       string
			Parameters map[string]any
		}
	}
	b, _ := json.Marshal(reqs[0].JSON["tools"])
	json.Unmarshal(b, &tools)
	if len(tools) != 1 || tools[0].Function.Name != "Shout_it" || tools[0].Function.Parameters["properties"].(map[string]any)["text"] == nil {
		t.Errorf("tools offered %s", b)
	}
	// The tool spell ran under the Chat Completion node.
	sub := 0
	for _, e := range rec.events {
		if len(e.Path) == 1 && e.Path[0] == "chat" && e.Kind == graph.NodeCompleted {
			sub++
		}
	}
	if sub == 0 {
		t.Error("no events for the tool spell's nodes")
	}
	done, _ := rec.find("chat", graph.NodeCompleted)
	if done.Usage == nil || done.Usage.Calls != 2 {
		t.Errorf("usage %+v, want 2 calls", done.Usage)
	}
}

func TestChatCompletionBoundsToolRounds(t *testing.T) {
	comp, srv := inferenceClient(t, devllm.Options{Reply: func(devllm.Request) devllm.Reply {
		return devllm.Reply{ToolCalls: []devllm.ToolCall{{ID: "c", Name: "Shout_it", Arguments: `{"text":"again"}`}}}
	}})
	h := newHarness(t, nodes.Services{Completion: comp})
	h.runner.Spells = spellMap{"upper": upperSpell()}
	cfg := map[string]any{"prompt": "loop", "tools": []any{map[string]any{"spell": "upper"}}, "maxToolRounds": 2}
	_, _, err := h.run(context.Background(), chatSpell(cfg), nil)
	if err == nil || !strings.Contains(err.Error(), "maxToolRounds") {
		t.Fatalf("err = %v, want the bound on tool rounds named", err)
	}
	if n := len(srv.RequestsTo(devllm.Chat)); n != 3 {
		t.Errorf("%d model calls, want 3 (the first and 2 rounds of tool results)", n)
	}
}

func TestCompletionNodesWithoutEndpoint(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	for _, typ := range []string{"Chat Completion", "Generate Text", "Generator"} {
		s := newSpell("x").node("start", "Module Trigger In", nil).
			node("llm", typ, map[string]any{"prompt": "hi", "fewshot": "hi"}).edge("start.trigger>llm.trigger").build()
		_, _, err := h.run(context.Background(), s, nil)
		if err == nil || !strings.Contains(err.Error(), "no completion endpoint configured: set GRIMOIRE_OPENAI_BASE_URL") {
			t.Errorf("%s: err = %v", typ, err)
		}
	}
}

func TestGenerateTextHonoursMagickFields(t *testing.T) {
	comp, srv := inferenceClient(t, devllm.Options{})
	h := newHarness(t, nodes.Services{Completion: comp, DefaultModel: "fallback"})
	s := newSpell("gen").
		node("start", "Module Trigger In", nil).
		node("q", "Input", map[string]any{"name": "Input - Default"}).
		node("gen", "Generate Text", map[string]any{"temperature": "0.5", "max_tokens": "3", "top_p": "1", "frequency_penalty": "0.2", "stop": "END"}).
		node("o", "Output", map[string]any{"name": "output"}).
		edge("start.trigger>gen.trigger", "q.output>gen.input", "gen.trigger>o.trigger", "gen.result>o.input").build()
	outs, rec := h.mustRun(t, s, map[string]any{"Input - Default": "one two three four five"})
	if outs["output"] != "one two three" {
		t.Fatalf("output %q, want the echo cut at max_tokens 3", outs["output"])
	}
	if len(rec.chunks("gen")) != 3 {
		t.Errorf("chunks %q", rec.chunks("gen"))
	}
	body := srv.RequestsTo(devllm.Chat)[0].JSON
	if body["model"] != "fallback" || body["max_tokens"] != 3.0 || body["frequency_penalty"] != 0.2 || !reflect.DeepEqual(body["stop"], []any{"END"}) {
		t.Errorf("request %v", body)
	}
}

func TestChatCompletionToolErrors(t *testing.T) {
	comp, _ := inferenceClient(t, devllm.Options{})
	h := newHarness(t, nodes.Services{Completion: comp})
	// A call to a tool that does not exist goes back to the model, which
	// (this double) echoes it.
	h.runner.Spells = spellMap{"upper": upperSpell()}
	outs, _ := h.mustRun(t, chatSpell(map[string]any{"prompt": "call nope {}", "tools": "upper"}), nil)
	if r, _ := outs["result"].(string); !strings.Contains(r, "no tool") || !strings.Contains(r, "Shout_it") {
		t.Errorf("result %q, want the model told which tools exist", r)
	}
	// A spell that offers itself as a tool is recursion, which fails the node.
	self := chatSpell(map[string]any{"prompt": "call chat {}", "tools": []any{"chat"}})
	h.runner.Spells = spellMap{"chat": self}
	_, _, err := h.run(context.Background(), self, nil)
	if !errors.Is(err, graph.ErrRecursion) {
		t.Fatalf("err = %v, want recursion", err)
	}
}

var _ services.Completion = (*openai.Client)(nil)
