package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	goopenai "github.com/sashabaranov/go-openai"
)

// callSpec is one call: what it is, how each endpoint names its model,
// and one attempt of it on a chosen endpoint.
type callSpec struct {
	op string
	// model resolves the request's model on an endpoint; "" fails the call
	// with ErrNoModel and hint.
	model func(*Client) string
	hint  string
	// delivered, when not nil, reports whether the caller has already seen
	// streamed output, after which nothing is retried or failed over.
	delivered func() bool
	try       func(ctx context.Context, c *Client, model string) error
}

// call runs the call's attempts on the endpoints rt picks, each under its
// endpoint's concurrency limit and per-attempt timeout, following the
// retry policy of the endpoint that failed. A retryable failure goes at
// once to another endpoint of the pool when one is healthy (failover: an
// attempt of the policy without the backoff wait), else it is retried on
// the same endpoint after the backoff, as for a single endpoint.
func call(ctx context.Context, rt route, spec callSpec) error {
	var failed []*Client
	var last *Error
	for n := 1; ; n++ {
		l, err := rt.pick(failed)
		if err != nil {
			if last != nil {
				last.note = "no endpoint of the pool can take the next attempt: " + err.Error()
				return last
			}
			return err
		}
		c := l.c
		model := spec.model(c)
		if model == "" {
			l.abandon()
			return fmt.Errorf("openai endpoint %q: %w%s", c.opts.Name, ErrNoModel, spec.hint)
		}
		a, err := c.attempt(ctx, func(ctx context.Context) error { return spec.try(ctx, c, model) })
		if err == nil {
			l.release(outcomeOK)
			return nil
		}
		e := c.classify(ctx, spec.op, model, a, err)
		e.Attempts = n
		l.release(e.outcome(ctx))
		last = e
		switch {
		case !e.Retryable:
			return e
		case spec.delivered != nil && spec.delivered():
			e.note = "not retried: part of the answer was already streamed"
			return e
		case n >= c.opts.Retry.MaxAttempts:
			return e
		}
		if !slices.Contains(failed, c) {
			failed = append(failed, c)
		}
		if rt.hasOther(failed) {
			c.failedOver.Add(1)
			c.opts.Logger.LogAttrs(ctx, slog.LevelWarn, "failing over to another inference endpoint",
				slog.String("endpoint", c.opts.Name), slog.String("op", spec.op), slog.String("model", model),
				slog.Int("attempt", n), slog.String("error", e.Error()))
			continue
		}
		if e.RetryAfter > c.opts.Retry.MaxRetryAfter {
			e.note = fmt.Sprintf("not retried: the server asked to wait %v, more than MaxRetryAfter %v", e.RetryAfter, c.opts.Retry.MaxRetryAfter)
			return e
		}
		wait := max(c.backoff(n), e.RetryAfter)
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			e.note = fmt.Sprintf("not retried: the next attempt (in %v) would start past the deadline", wait.Round(time.Millisecond))
			return e
		}
		c.opts.Logger.LogAttrs(ctx, slog.LevelWarn, "retrying inference call",
			slog.String("endpoint", c.opts.Name), slog.String("op", spec.op), slog.String("model", model),
			slog.Int("attempt", n), slog.Duration("wait", wait), slog.String("error", e.Error()))
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			e.note = "gave up waiting to retry: " + ctx.Err().Error()
			e.Err = errors.Join(ctx.Err(), e.Err)
			return e
		}
	}
}

// outcome is what the failure says about the endpoint, for its breaker.
func (e *Error) outcome(ctx context.Context) outcome {
	switch {
	case ctx.Err() != nil:
		return outcomeCancelled
	case e.Retryable && e.StatusCode != http.StatusTooManyRequests && e.StatusCode != http.StatusRequestTimeout:
		return outcomeFailed
	default:
		return outcomeRefused
	}
}

func (c *Client) attempt(ctx context.Context, try func(context.Context) error) (*attempt, error) {
	if c.sem != nil {
		select {
		case c.sem <- struct{}{}:
			defer func() { <-c.sem }()
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for a free connection slot (MaxConcurrent %d): %w", c.opts.MaxConcurrent, ctx.Err())
		}
	}
	actx, cancel := context.WithTimeout(ctx, c.opts.RequestTimeout)
	defer cancel()
	a := &attempt{cancel: cancel}
	return a, try(context.WithValue(actx, attemptKey{}, a))
}

// backoff is the wait after the n-th failed attempt: exponential, capped,
// with "equal jitter" (half fixed, half random) so that callers that failed
// together do not retry together.
func (c *Client) backoff(n int) time.Duration {
	p := c.opts.Retry
	d := p.InitialBackoff
	for i := 1; i < n && d < p.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, p.MaxBackoff)
	half := d / 2
	return half + rand.N(half+1)
}

func (c *Client) classify(ctx context.Context, op, model string, a *attempt, err error) *Error {
	e := &Error{Endpoint: c.opts.Name, BaseURL: c.opts.BaseURL, Op: op, Model: model, Err: err}
	var header http.Header
	var bodyErr error
	if a != nil {
		e.StatusCode, header, bodyErr = a.response()
	}
	var apiErr *goopenai.APIError
	var reqErr *goopenai.RequestError
	switch {
	case ctx.Err() != nil:
		e.Message = "the caller gave up: " + ctx.Err().Error()
		if !errors.Is(err, ctx.Err()) {
			e.Err = errors.Join(ctx.Err(), err)
		}
	case a != nil && a.stalled.Load():
		e.Message = fmt.Sprintf("stream stalled: no data for %v (StreamIdleTimeout)", c.opts.StreamIdleTimeout)
		e.Err = ErrStreamStalled
		e.Retryable = true
	case errors.As(err, &apiErr):
		if apiErr.HTTPStatusCode > 0 {
			e.StatusCode = apiErr.HTTPStatusCode
			e.Message = apiErr.Message
			e.Retryable = retryableStatus(e.StatusCode)
		} else {
			e.Message = "error event in the stream: " + apiErr.Message
		}
	case errors.As(err, &reqErr):
		e.StatusCode = reqErr.HTTPStatusCode
		e.Message = bodyMessage(reqErr.Body)
		e.Retryable = retryableStatus(e.StatusCode)
	case errors.Is(err, ErrStreamTruncated):
		e.Message = "the stream ended without a finish reason or [DONE]"
		e.Retryable = true
	case a != nil && a.stream && bodyErr != nil:
		e.Message = "connection lost mid-stream: " + bodyErr.Error()
		e.Err = fmt.Errorf("%w: %w", ErrStreamTruncated, err)
		e.Retryable = true
	case isMalformed(err, a, bodyErr):
		e.Message = "malformed response: " + err.Error()
		if !errors.Is(err, ErrMalformedResponse) {
			e.Err = fmt.Errorf("%w: %w", ErrMalformedResponse, err)
		}
	case errors.Is(err, context.DeadlineExceeded):
		e.Message = fmt.Sprintf("no answer within %v (RequestTimeout)", c.opts.RequestTimeout)
		e.Retryable = true
	case isConnectionError(err):
		e.Message = "connection failed: " + err.Error()
		e.Retryable = true
	default:
		e.Message = err.Error()
	}
	if e.StatusCode == http.StatusTooManyRequests || e.StatusCode == http.StatusServiceUnavailable {
		e.RetryAfter = retryAfter(header, time.Now())
	}
	return e
}

func retryableStatus(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
}

func isMalformed(err error, a *attempt, bodyErr error) bool {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	if errors.As(err, &syntax) || errors.As(err, &typ) || errors.Is(err, ErrMalformedResponse) {
		return true
	}
	// A JSON body that ends early although the connection delivered all of
	// it was sent truncated.
	return errors.Is(err, io.ErrUnexpectedEOF) && a != nil && bodyErr == nil && a.cleanEOF.Load()
}

func isConnectionError(err error) bool {
	var netErr net.Error
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		(errors.As(err, &netErr) && netErr.Timeout()) ||
		// net/http's unexported errServerClosedIdle: the server closed the
		// connection before answering (a server going down). The transport
		// replays only idempotent requests itself, and a completion is a POST.
		strings.Contains(err.Error(), "http: server closed idle connection")
}

// retryAfter reads Retry-After-Ms (OpenAI) or Retry-After in seconds or as
// an HTTP date; 0 when absent or unreadable.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if h == nil {
		return 0
	}
	if ms, err := strconv.ParseFloat(strings.TrimSpace(h.Get("Retry-After-Ms")), 64); err == nil && ms > 0 {
		return time.Duration(ms * float64(time.Millisecond))
	}
	return parseRetryAfter(h.Get("Retry-After"), now)
}

func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if !(secs > 0 && secs <= 1e6) { // also rejects NaN
			return 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d <= 0 || d > 1e6*time.Second { // as for seconds: a date that far ahead is nonsense
			return 0
		}
		return d
	}
	return 0
}
