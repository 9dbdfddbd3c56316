package openai

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors callers may branch on with errors.Is.
var (
	// ErrStreamStalled: a stream sent no bytes for StreamIdleTimeout.
	ErrStreamStalled = errors.New("stream stalled")
	// ErrStreamTruncated: a stream ended (or its connection dropped) before
	// the server finished it with a finish reason or `data: [DONE]`.
	ErrStreamTruncated = errors.New("stream ended before it was finished")
	// ErrMalformedResponse: the server answered with JSON that does not
	// parse or does not match the request.
	ErrMalformedResponse = errors.New("malformed response")
	// ErrNoModel: neither the request nor the endpoint names a model.
	ErrNoModel = errors.New("no model")
)

// Error is a failed call to an endpoint. Use errors.As to read the status;
// errors.Is still finds the cause (a context error, ErrStreamStalled, the
// *openai.APIError or *openai.RequestError of go-openai, …).
type Error struct {
	Endpoint   string // the endpoint's name
	BaseURL    string
	Op         string // "chat completion", "text completion", "embeddings"
	Model      string
	StatusCode int    // HTTP status, 0 when there was none
	Message    string // the server's message, or what went wrong
	Attempts   int
	// RetryAfter is what the server asked for (Retry-After), if anything.
	RetryAfter time.Duration
	// Retryable reports whether another attempt could succeed.
	Retryable bool
	Err       error
	note      string
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "openai endpoint %q (%s): %s", e.Endpoint, e.BaseURL, e.Op)
	if e.Model != "" {
		fmt.Fprintf(&b, " with model %q", e.Model)
	}
	if e.StatusCode >= 300 {
		fmt.Fprintf(&b, ": status %d", e.StatusCode)
	}
	fmt.Fprintf(&b, ": %s", e.Message)
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (after %d attempts)", e.Attempts)
	}
	if e.note != "" {
		fmt.Fprintf(&b, "; %s", e.note)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// bodyMessage finds the human message in a raw error body: vLLM's
// {"object":"error","message":…}, FastAPI's {"detail":…}, Ollama's
// {"error":"…"}, or plain text (proxies, crashed servers).
func bodyMessage(body []byte) string {
	var fields struct {
		Message string          `json:"message"`
		Detail  json.RawMessage `json:"detail"`
		Error   json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &fields) == nil {
		if fields.Message != "" {
			return fields.Message
		}
		var s string
		if json.Unmarshal(fields.Error, &s) == nil && s != "" {
			return s
		}
		if json.Unmarshal(fields.Detail, &s) == nil && s != "" {
			return s
		}
		if len(fields.Detail) > 0 {
			return string(fields.Detail)
		}
	}
	msg := strings.TrimSpace(string(body))
	if msg == "" {
		return "empty error body"
	}
	const limit = 500
	if len(msg) > limit {
		msg = msg[:limit] + "…"
	}
	return msg
}
