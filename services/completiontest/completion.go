package completiontest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/services"
)

// Options adapt the suite to an implementation.
type Options struct {
	// Model is put in every request ("" lets the implementation choose).
	Model string
	// NoText skips raw text completion (CompletionRequest.Prompt).
	NoText bool
	// NoTools skips the tool-call checks.
	NoTools bool
	// Timeout bounds each check (default 30s).
	Timeout time.Duration
}

// toolInstruction makes a real model behave as the test double does: it
// calls the named tool when told "call NAME ARGS".
const toolInstruction = "When the user writes `call NAME ARGS`, call the tool NAME with the JSON arguments ARGS and nothing else."

// Run checks c against the Completion contract with default options.
func Run(t *testing.T, c services.Completion) {
	t.Helper()
	RunWith(t, c, Options{})
}

// RunWith checks c against the Completion contract.
func RunWith(t *testing.T, c services.Completion, opts Options) {
	t.Helper()
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	ctxFor := func(t *testing.T) context.Context {
		ctx, cancel := context.WithTimeout(t.Context(), opts.Timeout)
		t.Cleanup(cancel)
		return ctx
	}
	chat := func(content string) services.CompletionRequest {
		return services.CompletionRequest{Model: opts.Model, MaxTokens: 64, Messages: []services.Message{
			{Role: "system", Content: "Repeat the user's message exactly."},
			{Role: "user", Content: content},
		}}
	}

	t.Run("chat returns text and a finish reason", func(t *testing.T) {
		resp, err := c.Complete(ctxFor(t), chat("alpha beta gamma"), nil)
		if err != nil {
			t.Fatalf("Complete: %v", err)
		}
		if resp.Text == "" || resp.FinishReason == "" {
			t.Fatalf("got text %q, finish reason %q; want both set", resp.Text, resp.FinishReason)
		}
		checkUsage(t, resp.Usage)
	})

	t.Run("streamed pieces add up to the answer and arrive before return", func(t *testing.T) {
		var rec recorder
		resp, err := c.Complete(ctxFor(t), chat("alpha beta gamma delta"), rec.onToken)
		if err != nil {
			t.Fatalf("Complete: %v", err)
		}
		pieces := rec.finish()
		if len(pieces) == 0 {
			t.Fatal("onToken was never called")
		}
		if got := strings.Join(pieces, ""); got != resp.Text {
			t.Fatalf("pieces joined = %q, response text = %q", got, resp.Text)
		}
		if resp.FinishReason == "" {
			t.Fatal("no finish reason")
		}
		checkUsage(t, resp.Usage)
		rec.assertQuiet(t)
	})

	if !opts.NoText {
		for _, stream := range []bool{false, true} {
			name := "raw prompt completes text"
			if stream {
				name += ", streamed"
			}
			t.Run(name, func(t *testing.T) {
				req := services.CompletionRequest{Model: opts.Model, Prompt: "Once upon a time", MaxTokens: 16}
				var rec recorder
				var onToken func(string)
				if stream {
					onToken = rec.onToken
				}
				resp, err := c.Complete(ctxFor(t), req, onToken)
				if err != nil {
					t.Fatalf("Complete: %v", err)
				}
				if resp.Text == "" {
					t.Fatal("empty text")
				}
				if pieces := rec.finish(); stream && strings.Join(pieces, "") != resp.Text {
					t.Fatalf("pieces joined = %q, response text = %q", strings.Join(pieces, ""), resp.Text)
				}
			})
		}
	}

	t.Run("max tokens ends the answer with finish reason length", func(t *testing.T) {
		req := chat(strings.Repeat("word ", 40))
		req.MaxTokens = 2
		resp, err := c.Complete(ctxFor(t), req, nil)
		if err != nil {
			t.Fatalf("Complete: %v", err)
		}
		if resp.FinishReason != "length" {
			t.Fatalf("finish reason %q, want length", resp.FinishReason)
		}
		if resp.Usage.CompletionTokens > 2 {
			t.Fatalf("%d completion tokens for max tokens 2", resp.Usage.CompletionTokens)
		}
	})

	t.Run("stop sequence is not in the answer", func(t *testing.T) {
		for _, stream := range []bool{false, true} {
			req := chat("one two three four five")
			req.Stop = []string{"three"}
			var rec recorder
			var onToken func(string)
			if stream {
				onToken = rec.onToken
			}
			resp, err := c.Complete(ctxFor(t), req, onToken)
			if err != nil {
				t.Fatalf("Complete (stream %v): %v", stream, err)
			}
			streamed := strings.Join(rec.finish(), "")
			if strings.Contains(resp.Text, "three") || strings.Contains(streamed, "three") {
				t.Fatalf("stream %v: text %q (streamed %q) contains the stop sequence", stream, resp.Text, streamed)
			}
		}
	})

	if !opts.NoTools {
		tools := []services.Tool{{
			Name: "get_weather", Description: "Weather for a city",
			Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`),
		}}
		for _, stream := range []bool{false, true} {
			name := "tool call comes back whole"
			if stream {
				name += " from a stream"
			}
			t.Run(name, func(t *testing.T) {
				req := services.CompletionRequest{Model: opts.Model, Tools: tools, MaxTokens: 64, Messages: []services.Message{
					{Role: "system", Content: toolInstruction},
					{Role: "user", Content: `call get_weather {"city": "Paris"}`},
				}}
				var rec recorder
				var onToken func(string)
				if stream {
					onToken = rec.onToken
				}
				resp, err := c.Complete(ctxFor(t), req, onToken)
				if err != nil {
					t.Fatalf("Complete: %v", err)
				}
				rec.finish()
				if len(resp.ToolCalls) != 1 {
					t.Fatalf("got %d tool calls (%+v), want 1", len(resp.ToolCalls), resp.ToolCalls)
				}
				call := resp.ToolCalls[0]
				var args struct{ City string }
				if call.Name != "get_weather" || call.ID == "" || json.Unmarshal([]byte(call.Arguments), &args) != nil || args.City != "Paris" {
					t.Fatalf("tool call %+v: want get_weather with an id and {\"city\": \"Paris\"}", call)
				}
				if resp.FinishReason != "tool_calls" {
					t.Fatalf("finish reason %q, want tool_calls", resp.FinishReason)
				}

				// The conversation continues with the tool's result.
				req.Messages = append(req.Messages,
					services.Message{Role: "assistant", ToolCalls: resp.ToolCalls},
					services.Message{Role: "tool", ToolCallID: call.ID, Content: "sunny and 21 degrees"})
				resp, err = c.Complete(ctxFor(t), req, onToken)
				if err != nil {
					t.Fatalf("Complete with the tool result: %v", err)
				}
				if resp.Text == "" {
					t.Fatal("no answer after the tool result")
				}
			})
		}
	}

	t.Run("cancelled context ends the call", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		var rec recorder
		_, err := c.Complete(ctx, chat("alpha"), rec.onToken)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want one wrapping context.Canceled", err)
		}
		if p := rec.finish(); len(p) > 0 {
			t.Fatalf("onToken got %q after cancellation", p)
		}
	})

	t.Run("passed deadline ends the call at once", func(t *testing.T) {
		ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
		defer cancel()
		start := time.Now()
		_, err := c.Complete(ctx, chat("alpha"), nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want one wrapping context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("took %v past the deadline", d)
		}
	})

	t.Run("concurrent streams do not mix", func(t *testing.T) {
		const n = 8
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var rec recorder
				resp, err := c.Complete(ctxFor(t), chat("alpha beta gamma"), rec.onToken)
				if err != nil {
					errs <- err
					return
				}
				if got := strings.Join(rec.finish(), ""); got != resp.Text {
					errs <- fmt.Errorf("call %d: pieces joined %q != text %q", i, got, resp.Text)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

func checkUsage(t *testing.T, u services.Usage) {
	t.Helper()
	if u.PromptTokens < 0 || u.CompletionTokens < 0 || u.TotalTokens < 0 {
		t.Fatalf("negative usage %+v", u)
	}
	if u.TotalTokens > 0 && u.TotalTokens < u.PromptTokens+u.CompletionTokens {
		t.Fatalf("usage %+v: total below prompt + completion", u)
	}
}

// recorder collects streamed pieces and catches calls that overlap or come
// after Complete returned.
type recorder struct {
	mu     sync.Mutex
	pieces []string
	busy   atomic.Bool
	done   atomic.Bool
	late   atomic.Int32
	overlp atomic.Int32
}

func (r *recorder) onToken(s string) {
	if r.done.Load() {
		r.late.Add(1)
	}
	if !r.busy.CompareAndSwap(false, true) {
		r.overlp.Add(1)
	}
	r.mu.Lock()
	r.pieces = append(r.pieces, s)
	r.mu.Unlock()
	r.busy.Store(false)
}

func (r *recorder) finish() []string {
	r.done.Store(true)
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.pieces...)
}

func (r *recorder) assertQuiet(t *testing.T) {
	t.Helper()
	time.Sleep(20 * time.Millisecond) // a stray goroutine would deliver now
	if n := r.late.Load(); n > 0 {
		t.Fatalf("onToken called %d times after Complete returned", n)
	}
	if n := r.overlp.Load(); n > 0 {
		t.Fatalf("onToken called concurrently %d times", n)
	}
}
