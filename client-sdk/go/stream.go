package grimoire

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// EventStream is a run's events as they arrive. Read it like a
// bufio.Scanner:
//
//	for s.Next() {
//		e := s.Event()
//	}
//	if err := s.Err(); err != nil { … }
//
// Every event is delivered once and in seq order: a dropped connection is
// reopened with Last-Event-ID and after=SEQ, duplicates are dropped and a
// gap is filled from the run's recorded history. The stream ends after the
// run's terminal event (run:completed, run:failed, run:cancelled).
// EventStream is not safe for concurrent use; it starts no goroutines.
type EventStream struct {
	c     *Client
	ctx   context.Context
	runID string
	last  uint64

	body     io.ReadCloser
	dec      *sseDecoder
	retry    time.Duration // the server's retry: field, if any
	failures int           // consecutive connections that gave no event
	lastErr  error         // why the last connection ended

	pending  []Event
	cur      Event
	terminal *Event
	done     bool
	err      error
}

func (c *Client) newEventStream(ctx context.Context, runID string, after uint64) *EventStream {
	return &EventStream{c: c, ctx: ctx, runID: runID, last: after}
}

// RunID is the run the stream follows ("" until the server named it).
func (s *EventStream) RunID() string { return s.runID }

// LastSeq is the seq of the last event delivered (or the afterSeq the
// stream started from).
func (s *EventStream) LastSeq() uint64 { return s.last }

// Event is the event Next moved to.
func (s *EventStream) Event() Event { return s.cur }

// Err is the error that ended the stream, nil when it ended with the run.
func (s *EventStream) Err() error { return s.err }

// Close releases the connection. Next returns false afterwards.
func (s *EventStream) Close() error {
	s.done = true
	s.dropConnection()
	return nil
}

// All ranges over the events; the error, if any, comes last with a zero
// Event.
func (s *EventStream) All() iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		for s.Next() {
			if !yield(s.cur, nil) {
				return
			}
		}
		if s.err != nil {
			yield(Event{}, s.err)
		}
	}
}

// Wait reads the stream to its end and returns the run's result: its
// outputs and every node's result (from run:completed, or folded from the
// events seen when the server did not send them). A failed or cancelled
// run returns a *RunError.
func (s *EventStream) Wait() (*RunResult, error) {
	var seen []Event
	for s.Next() {
		seen = append(seen, s.cur)
	}
	if s.err != nil {
		return nil, s.err
	}
	if s.terminal == nil {
		return nil, fmt.Errorf("grimoire: run %s: the stream ended without the run's end", s.runID)
	}
	t := *s.terminal
	if err := t.runError(); err != nil {
		return nil, err
	}
	res := &RunResult{RunID: t.RunID, Outputs: t.Outputs, Nodes: t.Nodes}
	if res.Outputs == nil {
		res.Outputs = map[string]any{}
	}
	if res.Nodes == nil {
		res.Nodes = foldNodes(seen)
	}
	return res, nil
}

// Next moves to the next event, waiting for it. It returns false when the
// run has ended, the stream was closed, or an error occurred (see Err).
func (s *EventStream) Next() bool {
	for {
		if len(s.pending) > 0 {
			e := s.pending[0]
			s.pending = s.pending[1:]
			s.deliver(e)
			return true
		}
		if s.done {
			return false
		}
		if err := s.ctx.Err(); err != nil {
			return s.fail(err)
		}
		if s.dec == nil {
			if err := s.reconnect(); err != nil {
				return s.fail(err)
			}
			continue
		}
		msg, err := s.dec.Next()
		if err != nil {
			// The connection ended before the run did: reopen it.
			s.lastErr = err
			s.dropConnection()
			continue
		}
		e, err := decodeEvent(msg.Data)
		if err != nil && !isRunEventName(msg.Event) {
			continue // not a run event: something this client does not know
		}
		if err != nil {
			return s.fail(fmt.Errorf("grimoire: run %s: undecodable event after seq %d: %w", s.runID, s.last, err))
		}
		if e.Type == "" {
			e.Type = msg.Event
		}
		if s.runID == "" {
			s.runID = e.RunID
		}
		if e.Seq <= s.last && e.Seq != 0 {
			continue // already delivered (a resumed connection)
		}
		s.failures = 0
		if e.Seq > s.last+1 {
			if err := s.fillGap(e.Seq); err != nil {
				return s.fail(err)
			}
		}
		s.pending = append(s.pending, e)
	}
}

// deliver makes e current and ends the stream after a terminal event.
func (s *EventStream) deliver(e Event) {
	s.cur = e
	if e.Seq > s.last {
		s.last = e.Seq
	}
	if e.Terminal() {
		s.terminal = &e
		s.done = true
		s.pending = nil
		s.dropConnection()
	}
}

func (s *EventStream) fail(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("grimoire: run %s after seq %d: %w", s.runID, s.last, err)
	}
	s.err = err
	s.done = true
	s.dropConnection()
	return false
}

// fillGap queues the recorded events between the last one delivered and
// seq (exclusive).
func (s *EventStream) fillGap(seq uint64) error {
	evs, err := s.c.Events(s.ctx, s.runID, s.last)
	if err != nil {
		return fmt.Errorf("grimoire: run %s: fill the gap between seq %d and %d: %w", s.runID, s.last, seq, err)
	}
	next := s.last + 1
	for _, e := range evs {
		if e.Seq == next && e.Seq < seq {
			s.pending = append(s.pending, e)
			next++
		}
	}
	if next != seq {
		return fmt.Errorf("grimoire: run %s: events %d to %d are missing from the stream and from the run's history", s.runID, next, seq-1)
	}
	return nil
}

// reconnect waits (unless this is the first connection) and reopens the
// stream from the last event delivered.
func (s *EventStream) reconnect() error {
	if s.runID == "" {
		return fmt.Errorf("grimoire: cannot resume the stream: %w", errNoRunID)
	}
	for {
		if s.failures >= s.c.reconnects {
			return fmt.Errorf("grimoire: run %s: stream lost after seq %d; %d reconnections gave nothing (last: %v)", s.runID, s.last, s.c.reconnects, s.lastErr)
		}
		delay := s.retry
		if delay <= 0 {
			delay = s.c.retryDelay << min(s.failures, 5)
			delay = min(delay, 10*time.Second)
		}
		s.failures++
		t := time.NewTimer(delay)
		select {
		case <-s.ctx.Done():
			t.Stop()
			return s.ctx.Err()
		case <-t.C:
		}
		err := s.connect()
		if err == nil {
			return nil
		}
		if !retriable(err) {
			return err
		}
		s.lastErr = err
	}
}

// connect opens GET /v1/runs/{id}/events as an event stream after s.last.
func (s *EventStream) connect() error {
	q := url.Values{}
	if s.last > 0 {
		q.Set("after", strconv.FormatUint(s.last, 10))
	}
	req, err := s.c.newRequest(s.ctx, http.MethodGet, s.c.endpoint(q, "v1", "runs", s.runID, "events"), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	if s.last > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatUint(s.last, 10))
	}
	resp, err := s.c.send(req)
	if err != nil {
		return err
	}
	return s.attach(resp)
}

// attach reads events from an open response.
func (s *EventStream) attach(resp *http.Response) error {
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		resp.Body.Close()
		return fmt.Errorf("grimoire: %s %s answered %d with Content-Type %q, not an event stream",
			resp.Request.Method, redactedURL(resp.Request), resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if id := resp.Header.Get("Grimoire-Run-Id"); id != "" && s.runID == "" {
		s.runID = id
	}
	s.dropConnection()
	s.body = resp.Body
	if s.c.idle > 0 {
		s.body = newIdleBody(resp.Body, s.c.idle)
	}
	s.dec = newSSEDecoder(s.body)
	return nil
}

func (s *EventStream) dropConnection() {
	if s.dec != nil && s.dec.Retry() > 0 {
		s.retry = s.dec.Retry()
	}
	if s.body != nil {
		s.body.Close()
	}
	s.body, s.dec = nil, nil
}

// idleBody closes a response body that has delivered nothing for a while,
// which ends the blocked Read with an error (and the stream reconnects).
type idleBody struct {
	rc    io.ReadCloser
	idle  time.Duration
	timer *time.Timer
}

func newIdleBody(rc io.ReadCloser, idle time.Duration) *idleBody {
	return &idleBody{rc: rc, idle: idle, timer: time.AfterFunc(idle, func() { rc.Close() })}
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.timer.Reset(b.idle)
	}
	return n, err
}

func (b *idleBody) Close() error {
	b.timer.Stop()
	return b.rc.Close()
}

func isRunEventName(name string) bool {
	switch name {
	case EventRunStart, EventRunResumed, EventNodeStart, EventNodeChunk, EventNodeEnd, EventNodeError,
		EventNodeSkip, EventRunCompleted, EventRunFailed, EventRunCancelled, "message":
		return true
	}
	return false
}
