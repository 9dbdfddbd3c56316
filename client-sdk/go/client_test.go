package grimoire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// These tests run the client against httptest servers that speak the
// documented wire format (docs/protocol.md) in ways a real server does only
// under failure: dropped connections, duplicated and missing events, odd
// answers. integration_test.go runs it against the real server binary.

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newTestClient(t *testing.T, h http.Handler, opts ...Option) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, append([]Option{WithToken("tok"), WithReconnect(3, 5*time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"code":%q,"message":%q}}`, code, msg)
}

func TestAPIErrors(t *testing.T) {
	tests := []struct {
		status     int
		code       string
		body       string
		is         error
		notIs      error
		wantInText string
	}{
		{401, "unauthorized", "", ErrUnauthorized, ErrForbidden, "token expired"},
		{403, "forbidden", "", ErrForbidden, ErrUnauthorized, "token expired"},
		{404, "not_found", "", ErrNotFound, ErrConflict, "token expired"},
		{409, "conflict", "", ErrConflict, ErrNotFound, "token expired"},
		{400, "invalid_spell", "", ErrInvalidSpell, ErrBadRequest, "token expired"},
		{400, "bad_request", "", ErrBadRequest, ErrInvalidSpell, "token expired"},
		{413, "payload_too_large", "", ErrPayloadTooLarge, ErrBadRequest, "token expired"},
		{429, "limit_exceeded", "", ErrLimitExceeded, ErrUnavailable, "token expired"},
		{503, "limit_exceeded", "", ErrLimitExceeded, ErrInternal, "token expired"},
		{500, "internal", "", ErrInternal, ErrNotFound, "token expired"},
		{502, "", "<html>bad gateway</html>", ErrUnavailable, ErrInternal, "bad gateway"},
		{404, "", "404 page not found", ErrNotFound, ErrInternal, "404 page not found"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d %s", tt.status, tt.code), func(t *testing.T) {
			c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.body != "" {
					w.WriteHeader(tt.status)
					fmt.Fprint(w, tt.body)
					return
				}
				writeError(w, tt.status, tt.code, "token expired")
			}))
			_, err := c.GetRun(testContext(t), "r1")
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v (%T), want *APIError", err, err)
			}
			if ae.Status != tt.status || ae.Code != tt.code {
				t.Errorf("APIError{%d %q}, want {%d %q}", ae.Status, ae.Code, tt.status, tt.code)
			}
			if !errors.Is(err, tt.is) || errors.Is(err, tt.notIs) {
				t.Errorf("errors.Is(%v): want %v and not %v", err, tt.is, tt.notIs)
			}
			if !strings.Contains(err.Error(), tt.wantInText) || !strings.Contains(err.Error(), "/v1/runs/r1") {
				t.Errorf("error text %q should name the request and say %q", err, tt.wantInText)
			}
		})
	}
}

func TestNewRejectsBadBaseURL(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:8080", "ftp://host", "http://"} {
		if _, err := New(u); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
}

func TestRequestsCarryTokenAndEscapeIDs(t *testing.T) {
	var gotAuth, gotPath string
	c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth, gotPath = r.Header.Get("Authorization"), r.URL.EscapedPath()
		w.WriteHeader(http.StatusNoContent)
	}), WithTokenSource(func(context.Context) (string, error) { return "fresh", nil }))
	if err := c.DeleteSpell(testContext(t), "a b/c"); err != nil {
		t.Fatal(err)
	}
	if gotAuth != "Bearer fresh" || gotPath != "/v1/spells/a%20b%2Fc" {
		t.Errorf("Authorization %q path %q", gotAuth, gotPath)
	}
	c2 := newTestClient(t, http.NotFoundHandler(), WithTokenSource(func(context.Context) (string, error) {
		return "", errors.New("vault sealed")
	}))
	if err := c2.DeleteSpell(testContext(t), "x"); err == nil || !strings.Contains(err.Error(), "vault sealed") {
		t.Errorf("token source error not reported: %v", err)
	}
}

// sseEvent formats a run event as the server does.
func sseEvent(runID string, seq uint64, typ string, extra string) string {
	data := fmt.Sprintf(`{"type":%q,"runId":%q,"seq":%d%s}`, typ, runID, seq, extra)
	return fmt.Sprintf("id: %d\nevent: %s\ndata: %s\n\n", seq, typ, data)
}

func ndjsonEvent(runID string, seq uint64, typ string, extra string) string {
	return fmt.Sprintf(`{"type":%q,"runId":%q,"seq":%d%s}`+"\n", typ, runID, seq, extra)
}

// A stream that drops, repeats and skips events is delivered once, in
// order: resumed with Last-Event-ID and after=SEQ, duplicates dropped, the
// gap filled from the NDJSON history.
func TestStreamResumesDeduplicatesAndFillsGaps(t *testing.T) {
	const run = "run_resume1"
	history := []string{
		ndjsonEvent(run, 1, EventRunStart, ""),
		ndjsonEvent(run, 2, EventNodeStart, `,"nodeId":"a","activation":1,"inputs":{"x":[1]}`),
		ndjsonEvent(run, 3, EventNodeEnd, `,"nodeId":"a","activation":1,"outputs":{"y":2}`),
		ndjsonEvent(run, 4, EventNodeChunk, `,"nodeId":"b","activation":1,"index":0,"text":"he"`),
		ndjsonEvent(run, 5, EventRunCompleted, `,"outputs":{"out":2}`),
	}
	var (
		mu       sync.Mutex
		resumes  []string
		attempts int
	)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/spells/s/runs", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("mode") != "stream" || r.Header.Get("Accept") != "text/event-stream" {
			t.Errorf("stream request: mode %q Accept %q", r.URL.Query().Get("mode"), r.Header.Get("Accept"))
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Grimoire-Run-Id", run)
		fmt.Fprint(w, ": run "+run+"\n\nretry: 5\n\n")
		fmt.Fprint(w, sseEvent(run, 1, EventRunStart, ""))
		fmt.Fprint(w, sseEvent(run, 2, EventNodeStart, `,"nodeId":"a","activation":1,"inputs":{"x":[1]}`))
		fmt.Fprint(w, "data: {\"type\":\"node:end\",\"runId\"") // cut mid-event
	})
	mux.HandleFunc("GET /v1/runs/"+run+"/events", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept") != "text/event-stream" {
			w.Header().Set("Content-Type", "application/x-ndjson")
			after := parseSeq(r.URL.Query().Get("after"))
			for i, line := range history {
				if uint64(i+1) > after {
					fmt.Fprint(w, line)
				}
			}
			return
		}
		mu.Lock()
		attempts++
		n := attempts
		resumes = append(resumes, r.Header.Get("Last-Event-ID")+"/"+r.URL.Query().Get("after"))
		mu.Unlock()
		if n == 1 {
			writeError(w, http.StatusServiceUnavailable, "internal", "restarting") // retried
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, sseEvent(run, 2, EventNodeStart, `,"nodeId":"a","activation":1`)) // duplicate
		fmt.Fprint(w, sseEvent(run, 3, EventNodeEnd, `,"nodeId":"a","activation":1,"outputs":{"y":2}`))
		fmt.Fprint(w, sseEvent(run, 5, EventRunCompleted, `,"outputs":{"out":2}`)) // 4 is missing
		fmt.Fprint(w, sseEvent(run, 6, "node:late", ""))                           // after the end: never read
	})
	c := newTestClient(t, mux)
	s, err := c.Stream(testContext(t), "s", map[string]any{"x": 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var seqs []uint64
	var types []string
	for s.Next() {
		seqs = append(seqs, s.Event().Seq)
		types = append(types, s.Event().Type)
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if want := []uint64{1, 2, 3, 4, 5}; !reflect.DeepEqual(seqs, want) {
		t.Fatalf("seqs %v (%v), want %v", seqs, types, want)
	}
	if s.RunID() != run || s.LastSeq() != 5 {
		t.Errorf("RunID %q LastSeq %d", s.RunID(), s.LastSeq())
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"2/2", "2/2"}; !reflect.DeepEqual(resumes, want) {
		t.Errorf("resumed with Last-Event-ID/after %v, want %v", resumes, want)
	}
}

func parseSeq(s string) uint64 {
	var n uint64
	fmt.Sscan(s, &n)
	return n
}

func TestStreamGivesUpAfterReconnects(t *testing.T) {
	var calls int
	var mu sync.Mutex
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/runs/r_lost_1/events", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, ": nothing here\n\n") // connects, then ends without an event
	})
	c := newTestClient(t, mux)
	s, err := c.Follow(testContext(t), "r_lost_1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if s.Next() {
		t.Fatal("got an event")
	}
	if s.Err() == nil || !strings.Contains(s.Err().Error(), "reconnections") {
		t.Fatalf("Err() = %v, want a lost-stream error", s.Err())
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != 4 { // the first connection and 3 reconnections
		t.Errorf("%d connections, want 4", calls)
	}
}

func TestStreamStopsOnContextAndClose(t *testing.T) {
	block := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/runs/r_block_1/events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, sseEvent("r_block_1", 1, EventRunStart, ""))
		w.(http.Flusher).Flush()
		select {
		case <-block:
		case <-r.Context().Done():
		}
	})
	defer close(block)
	c := newTestClient(t, mux)
	ctx, cancel := context.WithCancel(testContext(t))
	s, err := c.Follow(ctx, "r_block_1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Next() || s.Event().Type != EventRunStart {
		t.Fatalf("first event: %v %v", s.Event(), s.Err())
	}
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	if s.Next() {
		t.Fatal("got an event after cancel")
	}
	if !errors.Is(s.Err(), context.Canceled) || time.Since(start) > 5*time.Second {
		t.Errorf("Err() = %v after %v, want context.Canceled at once", s.Err(), time.Since(start))
	}
	s.Close()
	if s.Next() {
		t.Error("Next after Close")
	}
}

func TestRunAnswers(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		wantOut map[string]any
		wantErr error
		wantRun *RunError
	}{
		{"completed", 200, `{"runId":"r1","status":"completed","outputs":{"a":"b"}}`, map[string]any{"a": "b"}, nil, nil},
		{"completed without outputs", 200, `{"runId":"r1","status":"completed"}`, map[string]any{}, nil, nil},
		{"failed", 422, `{"runId":"r1","status":"failed","error":{"code":"run_failed","message":"boom"},"nodeId":"n3"}`, nil, ErrRunFailed,
			&RunError{RunID: "r1", Status: "failed", NodeID: "n3", Message: "boom"}},
		{"cancelled", 409, `{"runId":"r1","status":"cancelled","error":{"code":"run_cancelled","message":"by bob"}}`, nil, ErrRunCancelled,
			&RunError{RunID: "r1", Status: "cancelled", Message: "by bob"}},
		{"conflict is not a run outcome", 409, `{"error":{"code":"conflict","message":"run id taken"}}`, nil, ErrConflict, nil},
		{"limit", 429, `{"error":{"code":"limit_exceeded","message":"16 runs"}}`, nil, ErrLimitExceeded, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got runRequest
			c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				json.NewDecoder(r.Body).Decode(&got)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.body)
			}))
			res, err := c.Run(testContext(t), "s", map[string]any{"q": 1}, WithRunID("run_chosen"), WithEntry("start"), WithInputOrder("q"))
			if got.RunID != "run_chosen" || got.Entry != "start" || !reflect.DeepEqual(got.InputOrder, []string{"q"}) || got.Inputs["q"] != 1.0 {
				t.Errorf("request body %+v", got)
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				var re *RunError
				if tt.wantRun != nil && (!errors.As(err, &re) || *re != *tt.wantRun) {
					t.Errorf("RunError %+v, want %+v", re, tt.wantRun)
				}
				return
			}
			if err != nil || res.RunID != "r1" || !reflect.DeepEqual(res.Outputs, tt.wantOut) {
				t.Fatalf("Run = %+v, %v", res, err)
			}
		})
	}
}

// When the server stops waiting (202 from mode=sync), Run follows the run.
func TestRunFollowsWhenSyncTimesOut(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/spells/s/runs", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "/v1/runs/r_slow_1")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprint(w, `{"runId":"r_slow_1","status":"running","message":"still running"}`)
	})
	mux.HandleFunc("GET /v1/runs/r_slow_1/events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, sseEvent("r_slow_1", 1, EventRunStart, ""))
		fmt.Fprint(w, sseEvent("r_slow_1", 2, EventNodeStart, `,"nodeId":"n","activation":1,"inputs":{"i":["v"]}`))
		fmt.Fprint(w, sseEvent("r_slow_1", 3, EventNodeEnd, `,"nodeId":"n","activation":1,"outputs":{"o":"v"}`))
		fmt.Fprint(w, sseEvent("r_slow_1", 4, EventRunCompleted, `,"outputs":{"answer":42}`))
	})
	c := newTestClient(t, mux)
	res, err := c.Run(testContext(t), "s", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := &RunResult{RunID: "r_slow_1", Outputs: map[string]any{"answer": 42.0},
		Nodes: []NodeResult{{NodeID: "n", Activation: 1, Inputs: map[string][]any{"i": {"v"}}, Outputs: map[string]any{"o": "v"}}}}
	if !reflect.DeepEqual(res, want) {
		t.Errorf("Run = %+v, want %+v", res, want)
	}
	id, err := c.RunAsync(testContext(t), "s", nil)
	if err != nil || id != "r_slow_1" {
		t.Errorf("RunAsync = %q, %v", id, err)
	}
}

func TestReplayFoldsHistory(t *testing.T) {
	tr := true
	evs := []Event{
		{Type: EventRunStart, RunID: "r", Seq: 1, SpellID: "s", Inputs: map[string]any{"q": "hi"}},
		{Type: EventNodeStart, RunID: "r", Seq: 2, NodeID: "a", Activation: 1, Trigger: "trigger", Inputs: map[string]any{"q": []any{"hi"}}},
		{Type: EventNodeStart, RunID: "r", Seq: 3, NodeID: "b", Activation: 1, Path: []string{"sub"}},
		{Type: EventNodeChunk, RunID: "r", Seq: 4, NodeID: "a", Activation: 1, Text: "h"},
		{Type: EventNodeEnd, RunID: "r", Seq: 5, NodeID: "b", Activation: 1, Path: []string{"sub"}, Outputs: map[string]any{"x": 1.0}, Cached: &tr},
		{Type: EventNodeEnd, RunID: "r", Seq: 6, NodeID: "a", Activation: 1, Outputs: map[string]any{"y": "HI"}, Fired: []string{"trigger"}},
		{Type: EventNodeStart, RunID: "r", Seq: 7, NodeID: "a", Activation: 2},
		{Type: EventNodeError, RunID: "r", Seq: 8, NodeID: "a", Activation: 2, Error: "boom"},
		{Type: EventRunFailed, RunID: "r", Seq: 9, NodeID: "a", Error: "boom"},
	}
	shuffled := append([]Event{evs[8], evs[3], evs[3]}, evs...) // out of order, duplicated
	r, err := Replay(shuffled)
	if err != nil {
		t.Fatal(err)
	}
	wantNodes := []NodeResult{
		{NodeID: "b", Activation: 1, Path: []string{"sub"}, Outputs: map[string]any{"x": 1.0}, Cached: true},
		{NodeID: "a", Activation: 1, Trigger: "trigger", Inputs: map[string][]any{"q": {"hi"}}, Outputs: map[string]any{"y": "HI"}, Fired: []string{"trigger"}},
	}
	if !reflect.DeepEqual(r.Nodes, wantNodes) {
		t.Errorf("Nodes = %+v\nwant %+v", r.Nodes, wantNodes)
	}
	if r.Status != StatusFailed || !errors.Is(r.Err, ErrRunFailed) || len(r.Failed) != 1 || r.LastSeq != 9 || r.SpellID != "s" {
		t.Errorf("replay = %+v", r)
	}
	if n, ok := r.Node("a"); !ok || n.Outputs["y"] != "HI" {
		t.Errorf("Node(a) = %+v %v", n, ok)
	}
	if _, ok := r.Node("b"); ok {
		t.Error("Node(b) found a sub-spell node")
	}
	if _, err := Replay(evs[1:]); err == nil {
		t.Error("a history without seq 1 was accepted")
	}
	if _, err := Replay(append(evs[:3:3], evs[4:]...)); err == nil {
		t.Error("a history with a gap was accepted")
	}
}

// A connection that goes silent (no event, no keep-alive) is dropped and
// reopened after the idle timeout.
func TestStreamReconnectsWhenIdle(t *testing.T) {
	const run = "r_silent_1"
	var (
		mu    sync.Mutex
		calls int
	)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/runs/"+run+"/events", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		if n == 1 {
			fmt.Fprint(w, sseEvent(run, 1, EventRunStart, ""))
			w.(http.Flusher).Flush()
			<-r.Context().Done() // silent until the client gives up on it
			return
		}
		if got := r.Header.Get("Last-Event-ID"); got != "1" {
			t.Errorf("resumed with Last-Event-ID %q, want 1", got)
		}
		fmt.Fprint(w, sseEvent(run, 2, EventRunCompleted, `,"outputs":{}`))
	})
	c := newTestClient(t, mux, WithStreamIdleTimeout(100*time.Millisecond))
	s, err := c.Follow(testContext(t), run, 0)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res, err := s.Wait()
	if err != nil || res.RunID != run {
		t.Fatalf("Wait = %+v, %v", res, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v to notice the silent connection", d)
	}
}

func TestStreamSkipsForeignEventsAndRejectsBrokenRunEvents(t *testing.T) {
	const run = "r_foreign1"
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/runs/"+run+"/events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		fmt.Fprint(w, "event: ping\ndata: not json\n\n")
		fmt.Fprint(w, sseEvent(run, 1, EventRunStart, ""))
		fmt.Fprint(w, "id: 2\nevent: node:end\ndata: {\"type\":\"node:end\",\n\n")
	})
	c := newTestClient(t, mux)
	s, err := c.Follow(testContext(t), run, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Next() || s.Event().Type != EventRunStart {
		t.Fatalf("first event %+v, err %v", s.Event(), s.Err())
	}
	if s.Next() || s.Err() == nil || !strings.Contains(s.Err().Error(), "undecodable event after seq 1") {
		t.Fatalf("broken node:end: Next delivered %+v, Err %v", s.Event(), s.Err())
	}
}
