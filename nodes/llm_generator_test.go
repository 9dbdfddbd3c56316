package nodes_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/nodes"
	"github.com/grimoire-run/grimoire/services"
)

// scriptedCompletion answers every request with the same tokens and records
// the requests it got.
type scriptedCompletion struct {
	tokens []string
	usage  services.Usage
	mu     sync.Mutex
	reqs   []services.CompletionRequest
}

func (c *scriptedCompletion) Complete(ctx context.Context, req services.CompletionRequest, onToken func(string)) (services.CompletionResponse, error) {
	c.mu.Lock()
	c.reqs = append(c.reqs, req)
	c.mu.Unlock()
	var b strings.Builder
	for _, tok := range c.tokens {
		if err := ctx.Err(); err != nil {
			return services.CompletionResponse{}, err
		}
		if onToken != nil {
			onToken(tok)
		}
		b.WriteString(tok)
	}
	return services.CompletionResponse{Text: b.String(), FinishReason: "stop", Usage: c.usage}, nil
}

func generatorSpell(cfg map[string]any) *graph.Spell {
	return newSpell("gen").
		node("start", "Module Trigger In", nil).
		node("q", "Input", map[string]any{"name": "question"}).
		node("gen", "Generator", cfg, named(in("sk-q"), "question")).
		node("o1", "Output", map[string]any{"name": "result"}).
		node("o2", "Output", map[string]any{"name": "composed"}).
		edge("start.trigger>gen.trigger", "q.output>gen.sk-q",
			"gen.trigger>o1.trigger", "gen.result>o1.input", "gen.trigger>o2.trigger", "gen.composed>o2.input").build()
}

func TestGeneratorStreamsAndReportsUsage(t *testing.T) {
	comp := &scriptedCompletion{tokens: []string{" Paris", ",", " of course."}, usage: services.Usage{PromptTokens: 7, CompletionTokens: 3, TotalTokens: 10}}
	h := newHarness(t, nodes.Services{Completion: comp, DefaultModel: "default-model"})
	cfg := map[string]any{"fewshot": "Q: {{question}}\nA:", "model": "vicuna-13b", "stop": `\n,Q:`, "maxTokens": "40", "temp": "0.2", "frequencyPenalty": 0.5}
	outs, rec := h.mustRun(t, generatorSpell(cfg), map[string]any{"question": "Capital of <France>?"})
	prompt := "Q: Capital of <France>?\nA:"
	if outs["result"] != " Paris, of course." || outs["composed"] != prompt+" Paris, of course." {
		t.Fatalf("outputs %q", outs)
	}
	if got := rec.chunks("gen"); !reflect.DeepEqual(got, comp.tokens) {
		t.Errorf("streamed chunks %q, want %q", got, comp.tokens)
	}
	done, _ := rec.find("gen", graph.NodeCompleted)
	if done.Usage == nil || done.Usage.TotalTokens != 10 || done.Usage.Model != "vicuna-13b" || done.Usage.Calls != 1 {
		t.Errorf("usage %+v", done.Usage)
	}
	req := comp.reqs[0]
	if req.Prompt != prompt || req.Model != "vicuna-13b" || req.MaxTokens != 40 ||
		!reflect.DeepEqual(req.Stop, []string{"\n", "Q:"}) || req.Temperature == nil || *req.Temperature != 0.2 ||
		req.FrequencyPenalty == nil || *req.FrequencyPenalty != 0.5 {
		t.Errorf("request %+v", req)
	}
}

func TestGeneratorDefaults(t *testing.T) {
	comp := &scriptedCompletion{tokens: []string{"x"}}
	h := newHarness(t, nodes.Services{Completion: comp, DefaultModel: "default-model"})
	h.mustRun(t, generatorSpell(map[string]any{"fewshot": "{{question}}", "stop": "\n"}), map[string]any{"question": "q"})
	req := comp.reqs[0]
	if req.Model != "default-model" || req.MaxTokens != 50 || !reflect.DeepEqual(req.Stop, []string{"\n"}) {
		t.Errorf("request %+v", req)
	}
}

func TestGeneratorWithoutEndpoint(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	_, rec, err := h.run(context.Background(), generatorSpell(map[string]any{"fewshot": "hi"}), nil)
	if !errors.Is(err, services.ErrNoCompletionEndpoint) {
		t.Fatalf("err = %v, want ErrNoCompletionEndpoint", err)
	}
	if rec.count("gen", graph.NodeFailed) != 1 {
		t.Error("no NodeFailed for the generator")
	}
}
