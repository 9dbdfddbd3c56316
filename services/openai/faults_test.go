package openai_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	goopenai "github.com/sashabaranov/go-openai"

	"github.com/grimoire-run/grimoire/services"
	"github.com/grimoire-run/grimoire/services/devllm"
	"github.com/grimoire-run/grimoire/services/openai"
)

var hello = services.CompletionRequest{Messages: []services.Message{{Role: "user", Content: "one two three four five"}}}

// TestChatFaults scripts every misbehaviour of the test double against
// streamed and plain chat completions.
func TestChatFaults(t *testing.T) {
	tests := []struct {
		name   string
		stream bool
		steps  []devllm.Step
		// retryAtDate, when set, makes the first step's Retry-After the
		// HTTP date that far ahead of the subtest's start.
		retryAtDate time.Duration
		opts        func(*openai.Options)
		ctxTTL      time.Duration

		wantErr      error // nil: success with the full echo
		wantStatus   int
		wantMessage  string // substring of the error
		wantRequests int
		wantTokens   int // pieces delivered to onToken when it fails
		minElapsed   time.Duration
		maxElapsed   time.Duration
	}{
		{
			name:         "OpenAI error body 500 is retried",
			steps:        []devllm.Step{{Fault: devllm.APIError, Status: 500, Message: "overloaded"}},
			wantRequests: 2,
		},
		{
			name:         "OpenAI error body 400 fails at once with the server's message",
			steps:        []devllm.Step{{Fault: devllm.APIError, Status: 400, Message: "max_tokens is too large"}},
			wantErr:      &goopenai.APIError{},
			wantStatus:   400,
			wantMessage:  "status 400: max_tokens is too large",
			wantRequests: 1,
		},
		{
			name:         "vLLM raw error object fails with its message",
			stream:       true,
			steps:        []devllm.Step{{Fault: devllm.RawError, Status: 400, Message: "This model's maximum context length is 8192 tokens"}},
			wantErr:      &goopenai.RequestError{},
			wantStatus:   400,
			wantMessage:  "status 400: This model's maximum context length is 8192 tokens",
			wantRequests: 1,
		},
		{
			name: "raw text 502 from a proxy is retried until attempts run out",
			steps: []devllm.Step{
				{Fault: devllm.RawError, Status: 502, Body: "upstream connect error"},
				{Fault: devllm.RawError, Status: 502, Body: "upstream connect error"},
				{Fault: devllm.RawError, Status: 502, Body: "upstream connect error"},
			},
			opts:         func(o *openai.Options) { o.Retry.MaxAttempts = 3 },
			wantErr:      &goopenai.RequestError{},
			wantStatus:   502,
			wantMessage:  `openai endpoint "gpu1" (http://127.0.0.1:`,
			wantRequests: 3,
		},
		{
			name:         "429 with Retry-After seconds waits and succeeds",
			stream:       true,
			steps:        []devllm.Step{{Fault: devllm.RateLimited, RetryAfter: "1"}},
			wantRequests: 2,
			minElapsed:   time.Second,
		},
		{
			name:         "429 with Retry-After as an HTTP date waits and succeeds",
			steps:        []devllm.Step{{Fault: devllm.RateLimited}},
			retryAtDate:  2 * time.Second,
			wantRequests: 2,
			minElapsed:   500 * time.Millisecond,
		},
		{
			name:         "429 asking for longer than MaxRetryAfter fails at once",
			steps:        []devllm.Step{{Fault: devllm.RateLimited, RetryAfter: "120"}},
			wantStatus:   429,
			wantMessage:  "the server asked to wait 2m0s",
			wantRequests: 1,
			maxElapsed:   2 * time.Second,
		},
		{
			name:         "429 asking for longer than the deadline fails at once",
			steps:        []devllm.Step{{Fault: devllm.RateLimited, RetryAfter: "5"}},
			ctxTTL:       2 * time.Second,
			wantStatus:   429,
			wantMessage:  "past the deadline",
			wantRequests: 1,
			maxElapsed:   2 * time.Second,
		},
		{
			name:         "connection reset is retried",
			stream:       true,
			steps:        []devllm.Step{{Fault: devllm.Reset}},
			wantRequests: 2,
		},
		{
			name:         "malformed JSON fails without retrying",
			steps:        []devllm.Step{{Fault: devllm.Malformed}},
			wantErr:      openai.ErrMalformedResponse,
			wantMessage:  "malformed response",
			wantRequests: 1,
		},
		{
			name:         "malformed JSON in a stream fails",
			stream:       true,
			steps:        []devllm.Step{{Fault: devllm.Malformed, After: 2}},
			wantErr:      openai.ErrMalformedResponse,
			wantRequests: 1,
			wantTokens:   2,
		},
		{
			name:         "stream stalling after tokens fails after the idle timeout, not retried",
			stream:       true,
			steps:        []devllm.Step{{Fault: devllm.Stall, After: 2}},
			opts:         func(o *openai.Options) { o.StreamIdleTimeout = 200 * time.Millisecond },
			wantErr:      openai.ErrStreamStalled,
			wantMessage:  "no data for 200ms",
			wantRequests: 1,
			wantTokens:   2,
			minElapsed:   200 * time.Millisecond,
			maxElapsed:   3 * time.Second,
		},
		{
			name:         "stream stalling before any token is retried",
			stream:       true,
			steps:        []devllm.Step{{Fault: devllm.Stall}},
			opts:         func(o *openai.Options) { o.StreamIdleTimeout = 100 * time.Millisecond },
			wantRequests: 2,
		},
		{
			name:         "stream cut after tokens fails as truncated, not retried",
			stream:       true,
			steps:        []devllm.Step{{Fault: devllm.Cut, After: 3}},
			wantErr:      openai.ErrStreamTruncated,
			wantMessage:  "not retried: part of the answer was already streamed",
			wantRequests: 1,
			wantTokens:   3,
		},
		{
			name:         "stream cut before any token is retried",
			stream:       true,
			steps:        []devllm.Step{{Fault: devllm.Cut}},
			wantRequests: 2,
		},
		{
			name:         "error event inside a stream fails with its message",
			stream:       true,
			steps:        []devllm.Step{{Fault: devllm.StreamError, After: 1, Message: "CUDA out of memory"}},
			wantErr:      &goopenai.APIError{},
			wantMessage:  "error event in the stream: CUDA out of memory",
			wantRequests: 1,
			wantTokens:   1,
		},
		{
			name:         "5xx before a stream starts is retried",
			stream:       true,
			steps:        []devllm.Step{{Fault: devllm.APIError, Status: 503}},
			wantRequests: 2,
		},
		{
			name:         "attempt timeout is retried",
			stream:       true,
			steps:        []devllm.Step{{Fault: devllm.Stall}},
			opts:         func(o *openai.Options) { o.RequestTimeout = 150 * time.Millisecond; o.StreamIdleTimeout = time.Minute },
			wantRequests: 2,
		},
		{
			name:         "the caller's deadline ends a stalled stream",
			stream:       true,
			steps:        []devllm.Step{{Fault: devllm.Stall, After: 1}},
			opts:         func(o *openai.Options) { o.StreamIdleTimeout = time.Minute },
			ctxTTL:       300 * time.Millisecond,
			wantErr:      context.DeadlineExceeded,
			wantRequests: 1,
			wantTokens:   1,
			minElapsed:   300 * time.Millisecond,
			maxElapsed:   3 * time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, srv := newClient(t, devllm.Options{}, func(o *openai.Options) {
				if tt.opts != nil {
					tt.opts(o)
				}
			})
			steps := append([]devllm.Step(nil), tt.steps...)
			if tt.retryAtDate > 0 {
				steps[0].RetryAfter = time.Now().Add(tt.retryAtDate).UTC().Format(http.TimeFormat)
			}
			srv.Queue(devllm.Chat, steps...)
			// The deadline counts from here, so elapsed time does too.
			start := time.Now()
			ctx := t.Context()
			if tt.ctxTTL > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctxTTL)
				defer cancel()
			}
			var pieces []string
			var onToken func(string)
			if tt.stream {
				onToken = func(s string) { pieces = append(pieces, s) }
			}
			resp, err := c.Complete(ctx, hello, onToken)
			elapsed := time.Since(start)

			if got := len(srv.RequestsTo(devllm.Chat)); got != tt.wantRequests {
				t.Errorf("server saw %d requests, want %d", got, tt.wantRequests)
			}
			if elapsed < tt.minElapsed || (tt.maxElapsed > 0 && elapsed > tt.maxElapsed) {
				t.Errorf("took %v, want between %v and %v", elapsed, tt.minElapsed, tt.maxElapsed)
			}
			if tt.wantErr == nil && tt.wantStatus == 0 && tt.wantMessage == "" {
				if err != nil {
					t.Fatalf("Complete: %v", err)
				}
				if resp.Text != "one two three four five" {
					t.Fatalf("text %q", resp.Text)
				}
				if tt.stream && strings.Join(pieces, "") != resp.Text {
					t.Fatalf("streamed %q, text %q: a retry must not deliver tokens twice", pieces, resp.Text)
				}
				return
			}
			if err == nil {
				t.Fatalf("Complete succeeded with %q, want an error", resp.Text)
			}
			t.Logf("error: %v", err)
			var oe *openai.Error
			if !errors.As(err, &oe) {
				t.Fatalf("error %v is not an *openai.Error", err)
			}
			if oe.Endpoint != "gpu1" || !strings.Contains(err.Error(), srv.URL) {
				t.Errorf("error %q does not name the endpoint and its URL", err)
			}
			if tt.wantStatus != 0 && oe.StatusCode != tt.wantStatus {
				t.Errorf("status %d, want %d", oe.StatusCode, tt.wantStatus)
			}
			if !strings.Contains(err.Error(), tt.wantMessage) {
				t.Errorf("error %q does not contain %q", err, tt.wantMessage)
			}
			switch want := tt.wantErr.(type) {
			case nil:
			case *goopenai.APIError:
				if !errors.As(err, &want) {
					t.Errorf("error %v does not wrap *openai.APIError", err)
				}
			case *goopenai.RequestError:
				if !errors.As(err, &want) {
					t.Errorf("error %v does not wrap *openai.RequestError", err)
				}
			default:
				if !errors.Is(err, want) {
					t.Errorf("error %v is not %v", err, want)
				}
			}
			if len(pieces) != tt.wantTokens {
				t.Errorf("onToken got %d pieces (%q), want %d", len(pieces), pieces, tt.wantTokens)
			}
		})
	}
}

func TestEmbedFaults(t *testing.T) {
	t.Parallel()
	c, srv := newClient(t, devllm.Options{})
	srv.Queue(devllm.Embeddings,
		devllm.Step{Fault: devllm.RateLimited, RetryAfter: "0"},
		devllm.Step{Fault: devllm.Reset},
	)
	vecs, err := c.Embed(t.Context(), []string{"a", "b"})
	if err != nil {
		t.Fatalf("Embed after a 429 and a reset: %v", err)
	}
	if got := len(srv.RequestsTo(devllm.Embeddings)); got != 3 || len(vecs) != 2 {
		t.Fatalf("%d requests, %d vectors; want 3 and 2", got, len(vecs))
	}

	srv.Queue(devllm.Embeddings, devllm.Step{Fault: devllm.Malformed})
	if _, err := c.Embed(t.Context(), []string{"a"}); !errors.Is(err, openai.ErrMalformedResponse) {
		t.Fatalf("malformed embeddings: err = %v", err)
	}
	srv.Queue(devllm.Embeddings, devllm.Step{Fault: devllm.RawError, Status: 404, Body: `{"detail":"Not Found"}`})
	if _, err := c.Embed(t.Context(), []string{"a"}); err == nil || !strings.Contains(err.Error(), "embeddings with model \"bge-m3\": status 404: Not Found") {
		t.Fatalf("404: err = %v", err)
	}
}

func TestConcurrencyLimitPerEndpoint(t *testing.T) {
	t.Parallel()
	c, srv := newClient(t, devllm.Options{TokenInterval: 5 * time.Millisecond}, func(o *openai.Options) { o.MaxConcurrent = 2 })
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			_, err := c.Complete(t.Context(), hello, func(string) {})
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := srv.MaxInFlight(); got != 2 {
		t.Fatalf("server saw %d requests at once, want the limit 2", got)
	}
}

func TestWaitingForASlotHonoursTheDeadline(t *testing.T) {
	t.Parallel()
	c, srv := newClient(t, devllm.Options{}, func(o *openai.Options) { o.MaxConcurrent = 1; o.StreamIdleTimeout = time.Minute })
	srv.Queue(devllm.Chat, devllm.Step{Fault: devllm.Stall, After: 1})
	started := make(chan struct{})
	go func() {
		_, _ = c.Complete(t.Context(), hello, func(string) {
			select {
			case <-started:
			default:
				close(started)
			}
		})
	}()
	<-started
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Complete(ctx, hello, nil)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 3*time.Second {
		t.Fatalf("err = %v after %v; want the deadline, promptly", err, time.Since(start))
	}
}
