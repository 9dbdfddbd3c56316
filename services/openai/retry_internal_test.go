package openai

import (
	"net/http"
	"testing"
	"time"

	goopenai "github.com/sashabaranov/go-openai"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"3", 3 * time.Second},
		{" 1.5 ", 1500 * time.Millisecond},
		{"0", 0},
		{"-2", 0},
		{"NaN", 0},
		{"soon", 0},
		{now.Add(20 * time.Second).Format(http.TimeFormat), 20 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
	h := http.Header{"Retry-After-Ms": {"250"}, "Retry-After": {"9"}}
	if got := retryAfter(h, now); got != 250*time.Millisecond {
		t.Errorf("Retry-After-Ms ignored: %v", got)
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	f.Add("3")
	f.Add("Wed, 21 Oct 2015 07:28:00 GMT")
	f.Add("Fri, 31 Dec 9999 23:59:59 GMT") // far ahead: ignored, not waited for
	f.Fuzz(func(t *testing.T, s string) {
		if d := parseRetryAfter(s, time.Now()); d < 0 || d > 1e6*time.Second {
			t.Fatalf("parseRetryAfter(%q) = %v", s, d)
		}
	})
}

func TestToolCallsWithoutIndexAreAssembled(t *testing.T) {
	// Some servers (older Ollama, some proxies) omit the index: a new id
	// starts a new call, pieces without an id continue the latest one.
	var acc chatAccumulator
	delta := func(calls ...goopenai.ToolCall) goopenai.ChatCompletionStreamResponse {
		return goopenai.ChatCompletionStreamResponse{Choices: []goopenai.ChatCompletionStreamChoice{{Delta: goopenai.ChatCompletionStreamChoiceDelta{ToolCalls: calls}}}}
	}
	fn := func(id, name, args string) goopenai.ToolCall {
		return goopenai.ToolCall{ID: id, Function: goopenai.FunctionCall{Name: name, Arguments: args}}
	}
	for _, d := range []goopenai.ChatCompletionStreamResponse{
		delta(fn("a", "f", "")), delta(fn("", "", `{"x":`)), delta(fn("", "", `1}`)),
		delta(fn("b", "g", `{}`)),
	} {
		acc.add(d, func(string) {})
	}
	got := acc.response().ToolCalls
	if len(got) != 2 || got[0].Arguments != `{"x":1}` || got[0].Name != "f" || got[1].ID != "b" || got[1].Arguments != "{}" {
		t.Fatalf("assembled %+v", got)
	}
}

func TestBackoffGrowsWithJitterWithinBounds(t *testing.T) {
	c := &Client{opts: Options{Retry: RetryPolicy{InitialBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}}.withDefaults()}
	for n, hi := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		hi *= time.Millisecond
		for range 50 {
			if d := c.backoff(n + 1); d < hi/2 || d > hi {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v]", n+1, d, hi/2, hi)
			}
		}
	}
}
