package grimoire

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/server/auth"
)

func TestServerAuthentication(t *testing.T) {
	srv := sharedServer(t)
	now := time.Now()
	expired, err := auth.IssueAt([]byte(srv.secret), "alice", nil, now.Add(-2*time.Hour), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := IssueToken([]byte("not-the-servers-secret-0123456789abcdef"), "alice", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	algNone := b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." +
		b64([]byte(fmt.Sprintf(`{"sub":"alice","exp":%d}`, now.Add(time.Hour).Unix()))) + "."
	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"token create", srv.cliToken(t, "alice"), true},
		{"IssueToken", func() string { tok, _ := IssueToken([]byte(srv.secret), "alice", nil, time.Minute); return tok }(), true},
		{"expired", expired, false},
		{"forged with another key", forged, false},
		{"alg none", algNone, false},
		{"garbage", "not.a.jwt", false},
		{"missing", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := srv.clientWithToken(t, tt.token)
			ctx := testContext(t)
			_, err := c.ListSpells(ctx)
			if tt.ok {
				if err != nil {
					t.Fatalf("ListSpells with a valid token: %v", err)
				}
				return
			}
			var ae *APIError
			if !errors.Is(err, ErrUnauthorized) || !errors.As(err, &ae) || ae.Status != 401 || ae.Code != "unauthorized" {
				t.Fatalf("ListSpells: %v, want 401 unauthorized", err)
			}
			if _, err := c.Stream(ctx, "demo", nil); !errors.Is(err, ErrUnauthorized) {
				t.Errorf("Stream: %v, want ErrUnauthorized", err)
			}
			if _, err := c.Run(ctx, "demo", nil); !errors.Is(err, ErrUnauthorized) {
				t.Errorf("Run: %v, want ErrUnauthorized", err)
			}
		})
	}
}

func TestServerSpells(t *testing.T) {
	srv := sharedServer(t)
	ctx := testContext(t)
	alice, bob := srv.client(t, "alice"), srv.client(t, "bob")
	id := uniqueID("greet")
	doc := readTestdata(t, "greet.json")

	v1, err := alice.PutSpell(ctx, id, doc)
	if err != nil {
		t.Fatal(err)
	}
	if v1.SpellID != id || v1.Version != 1 || !strings.HasPrefix(v1.Hash, "sha256:") {
		t.Errorf("PutSpell = %+v", v1)
	}
	v2, err := alice.PutSpell(ctx, id, bytes.Replace(doc, []byte("Hello, "), []byte("Hi, "), 1))
	if err != nil {
		t.Fatal(err)
	}
	if v2.Version != 2 || v2.Hash == v1.Hash {
		t.Errorf("second PutSpell = %+v after %+v", v2, v1)
	}
	got, err := alice.GetSpell(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 2 || got.Hash != v2.Hash || !bytes.Contains(got.Document, []byte("Hi, ")) {
		t.Errorf("GetSpell = %+v %s", got.SpellVersion, got.Document)
	}
	old, err := alice.GetSpellVersion(ctx, id, v1.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(old.Document, []byte("Hello, ")) {
		t.Errorf("GetSpellVersion(v1) = %s", old.Document)
	}
	list, err := alice.ListSpells(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !containsSpell(list, id) {
		t.Errorf("ListSpells for alice lacks %s: %+v", id, list)
	}
	if list, _ := bob.ListSpells(ctx); containsSpell(list, id) {
		t.Errorf("ListSpells for bob shows alice's %s", id)
	}
	if _, err := bob.GetSpell(ctx, id); !errors.Is(err, ErrForbidden) {
		t.Errorf("bob GetSpell(alice's): %v, want ErrForbidden", err)
	}
	if _, err := bob.Run(ctx, id, nil); !errors.Is(err, ErrForbidden) {
		t.Errorf("bob Run(alice's): %v, want ErrForbidden", err)
	}
	if err := bob.DeleteSpell(ctx, id); !errors.Is(err, ErrForbidden) {
		t.Errorf("bob DeleteSpell(alice's): %v, want ErrForbidden", err)
	}
	if _, err := alice.PutSpell(ctx, uniqueID("bad"), []byte(`{"format":"grimoire/spell@1","nodes":[{"id":"x","type":"No Such Node"}]}`)); !errors.Is(err, ErrInvalidSpell) {
		t.Errorf("PutSpell(unknown node type): %v, want ErrInvalidSpell", err)
	}
	if err := alice.DeleteSpell(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.GetSpell(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetSpell after delete: %v, want ErrNotFound", err)
	}
}

func containsSpell(list []SpellSummary, id string) bool {
	for _, s := range list {
		if s.ID == id && !s.Deleted {
			return true
		}
	}
	return false
}

func TestServerNotFound(t *testing.T) {
	srv := sharedServer(t)
	ctx := testContext(t)
	c := srv.client(t, "alice")
	checks := map[string]func() error{
		"GetSpell":    func() error { _, err := c.GetSpell(ctx, "no-such-spell"); return err },
		"Run":         func() error { _, err := c.Run(ctx, "no-such-spell", nil); return err },
		"RunAsync":    func() error { _, err := c.RunAsync(ctx, "no-such-spell", nil); return err },
		"Stream":      func() error { _, err := c.Stream(ctx, "no-such-spell", nil); return err },
		"GetRun":      func() error { _, err := c.GetRun(ctx, "no-such-run"); return err },
		"Events":      func() error { _, err := c.Events(ctx, "no-such-run", 0); return err },
		"Follow":      func() error { _, err := c.Follow(ctx, "no-such-run", 0); return err },
		"Cancel":      func() error { return c.Cancel(ctx, "no-such-run") },
		"Replay":      func() error { _, err := c.Replay(ctx, "no-such-run"); return err },
		"DeleteSpell": func() error { return c.DeleteSpell(ctx, "no-such-spell") },
	}
	for name, call := range checks {
		if err := call(); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", name, err)
		}
	}
}

// The three run modes agree, the stream delivers every node's events in
// order, and replaying the recorded history gives the server's outputs and
// node results.
func TestServerRunModesAndReplay(t *testing.T) {
	srv := sharedServer(t)
	ctx := testContext(t)
	c := srv.client(t, "alice")
	id := uniqueID("greet")
	if _, err := c.PutSpell(ctx, id, readTestdata(t, "greet.json")); err != nil {
		t.Fatal(err)
	}
	inputs := map[string]any{"name": "Ada"}
	wantOut := map[string]any{"greeting": "Hello, Ada!", "letters": 8.0}

	sync, err := c.Run(ctx, id, inputs)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(sync.Outputs, wantOut) || sync.RunID == "" {
		t.Fatalf("Run = %+v, want outputs %v", sync, wantOut)
	}

	s, err := c.Stream(ctx, id, inputs)
	if err != nil {
		t.Fatal(err)
	}
	var streamed []Event
	for s.Next() {
		streamed = append(streamed, s.Event())
	}
	s.Close()
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	checkRunEvents(t, streamed, s.RunID())
	last := streamed[len(streamed)-1]
	if last.Type != EventRunCompleted || !reflect.DeepEqual(last.Outputs, wantOut) {
		t.Fatalf("last streamed event %s %v, want run:completed with %v", last.Type, last.Outputs, wantOut)
	}
	if len(last.Nodes) != 6 {
		t.Errorf("run:completed carries %d node results, want 6 (one per node)", len(last.Nodes))
	}

	// Replay of the recorded history equals what the server sent.
	rep, err := c.Replay(ctx, s.RunID())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Status != StatusCompleted || !reflect.DeepEqual(rep.Outputs, sync.Outputs) {
		t.Errorf("replay status %s outputs %v, want completed %v", rep.Status, rep.Outputs, sync.Outputs)
	}
	if !reflect.DeepEqual(rep.Nodes, last.Nodes) {
		t.Errorf("replayed nodes differ from run:completed's:\n got %+v\nwant %+v", rep.Nodes, last.Nodes)
	}
	if n, ok := rep.Node("greet"); !ok || n.Outputs["output"] != "Hello, Ada!" || !reflect.DeepEqual(n.Inputs, map[string][]any{"name": {"Ada"}}) {
		t.Errorf("replayed greet = %+v", n)
	}
	if rep.LastSeq != last.Seq || rep.Inputs["name"] != "Ada" {
		t.Errorf("replay LastSeq %d inputs %v", rep.LastSeq, rep.Inputs)
	}

	// Async, then follow from the start; Wait gives the same result.
	runID, err := c.RunAsync(ctx, id, inputs, WithRunID(uniqueID("async")))
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.Follow(ctx, runID, 0)
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.Wait()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if res.RunID != runID || !reflect.DeepEqual(res.Outputs, wantOut) || !reflect.DeepEqual(res.Nodes, last.Nodes) {
		t.Errorf("Follow(%s).Wait = %+v", runID, res)
	}
	info, err := c.GetRun(ctx, runID)
	if err != nil {
		t.Fatal(err)
	}
	if info.Status != StatusCompleted || info.SpellID != id || !reflect.DeepEqual(info.Outputs, wantOut) || info.LastSeq != last.Seq || len(info.Nodes) != 6 {
		t.Errorf("GetRun = %+v", info)
	}

	// Events after a seq: exactly the later ones.
	all, err := c.Events(ctx, runID, 0)
	if err != nil {
		t.Fatal(err)
	}
	later, err := c.Events(ctx, runID, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != int(last.Seq) || len(later) != len(all)-5 || later[0].Seq != 6 {
		t.Errorf("Events: %d in all, %d after 5 (first %d)", len(all), len(later), later[0].Seq)
	}
	// Following a finished run from the middle replays the rest and ends.
	mid, err := c.Follow(ctx, runID, 10)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for e, err := range mid.All() {
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, e.Seq)
	}
	if len(seqs) != int(last.Seq)-10 || seqs[0] != 11 {
		t.Errorf("Follow after 10: seqs %v", seqs)
	}
	// Following a finished run from its last event ends at once; Wait
	// still reports how it ended.
	done, err := c.Follow(ctx, runID, last.Seq)
	if err != nil {
		t.Fatal(err)
	}
	if done.Next() {
		t.Errorf("Follow after the last seq delivered %+v", done.Event())
	}
	if res, err := done.Wait(); err != nil || !reflect.DeepEqual(res.Outputs, wantOut) {
		t.Errorf("Follow after the last seq: Wait = %+v, %v", res, err)
	}
}

// checkRunEvents asserts seq 1..n without gaps, one run, run:start first,
// each node:end after its node:start (a result served from the cache has
// no node:start), one terminal event last.
func checkRunEvents(t *testing.T, evs []Event, runID string) {
	t.Helper()
	if len(evs) == 0 || evs[0].Type != EventRunStart {
		t.Fatalf("events do not start with run:start: %v", eventTypes(evs))
	}
	started := map[string]bool{}
	for i, e := range evs {
		if e.Seq != uint64(i+1) || e.RunID != runID {
			t.Fatalf("event %d: seq %d run %s, want seq %d run %s", i, e.Seq, e.RunID, i+1, runID)
		}
		key := fmt.Sprint(e.Path, e.NodeID, e.Activation)
		switch e.Type {
		case EventNodeStart:
			started[key] = true
		case EventNodeEnd, EventNodeError:
			if !started[key] && !(e.Type == EventNodeEnd && e.Cached != nil && *e.Cached) {
				t.Errorf("seq %d: %s of %s before its node:start", e.Seq, e.Type, e.NodeID)
			}
		}
		if e.Terminal() != (i == len(evs)-1) {
			t.Errorf("seq %d %s: terminal events must come last, once", e.Seq, e.Type)
		}
	}
}

func eventTypes(evs []Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = fmt.Sprintf("%d:%s", e.Seq, e.Type)
	}
	return out
}

// cutStreams is a transport that breaks the first event stream after
// `after` events, as a dropped connection would.
type cutStreams struct {
	after int

	mu       sync.Mutex
	cut      bool
	requests []string
	times    []time.Time
}

func (c *cutStreams) RoundTrip(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.requests = append(c.requests, fmt.Sprintf("%s %s Last-Event-ID=%s", req.Method, req.URL.RequestURI(), req.Header.Get("Last-Event-ID")))
	c.times = append(c.times, time.Now())
	c.mu.Unlock()
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return resp, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.cut {
		c.cut = true
		resp.Body = &cutBody{ReadCloser: resp.Body, events: c.after}
	}
	return resp, nil
}

// cutBody ends the stream with an error right after the given number of
// complete SSE events.
type cutBody struct {
	io.ReadCloser
	events int
	buf    []byte
	done   bool
}

func (b *cutBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.ErrUnexpectedEOF
	}
	n, err := b.ReadCloser.Read(p)
	start := len(b.buf)
	b.buf = append(b.buf, p[:n]...)
	if end := eventsEnd(b.buf, b.events); end >= 0 {
		b.done = true
		b.ReadCloser.Close()
		return max(end-start, 0), nil
	}
	return n, err
}

// eventsEnd is the offset just past the n-th complete event in buf, or -1.
func eventsEnd(buf []byte, n int) int {
	idx := 0
	for range n {
		j := bytes.Index(buf[idx:], []byte("\nid: "))
		if j < 0 {
			return -1
		}
		idx += j + 1
	}
	k := bytes.Index(buf[idx:], []byte("\n\n"))
	if k < 0 {
		return -1
	}
	return idx + k + 2
}

// A connection dropped mid-run is resumed from the last event seen: every
// event arrives once, in order.
func TestServerStreamResumesAfterDrop(t *testing.T) {
	srv := sharedServer(t)
	ctx := testContext(t)
	cut := &cutStreams{after: 5}
	c := srv.clientWithToken(t, srv.cliToken(t, "alice"), WithHTTPClient(&http.Client{Transport: cut}), WithReconnect(3, 20*time.Millisecond))
	s, err := c.Stream(ctx, "demo", map[string]any{"name": "Grace"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	res, err := s.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if res.Outputs["greeting"] != "Hello, Grace!" || len(res.Nodes) != 6 {
		t.Errorf("result after resume: %+v", res)
	}
	cut.mu.Lock()
	defer cut.mu.Unlock()
	if len(cut.requests) != 2 || !strings.Contains(cut.requests[1], "after=5") || !strings.HasSuffix(cut.requests[1], "Last-Event-ID=5") {
		t.Errorf("requests %q, want the stream then one resume after seq 5", cut.requests)
	}
	evs, err := srv.client(t, "alice").Events(ctx, s.RunID(), 0)
	if err != nil {
		t.Fatal(err)
	}
	checkRunEvents(t, evs, s.RunID())
}

// Two runs of one spell at once are independent.
func TestServerConcurrentRuns(t *testing.T) {
	srv := sharedServer(t)
	ctx := testContext(t)
	c := srv.client(t, "alice")
	names := []string{"Ada", "Grace", "Barbara", "Radia"}
	type outcome struct {
		runID string
		evs   []Event
		err   error
	}
	results := make([]outcome, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := c.Stream(ctx, "demo", map[string]any{"name": name})
			if err != nil {
				results[i].err = err
				return
			}
			defer s.Close()
			for s.Next() {
				results[i].evs = append(results[i].evs, s.Event())
			}
			results[i].runID, results[i].err = s.RunID(), s.Err()
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("run %d: %v", i, r.err)
		}
		checkRunEvents(t, r.evs, r.runID)
		if seen[r.runID] {
			t.Errorf("run id %s used twice", r.runID)
		}
		seen[r.runID] = true
		last := r.evs[len(r.evs)-1]
		if want := "Hello, " + names[i] + "!"; last.Outputs["greeting"] != want {
			t.Errorf("run %d outputs %v, want greeting %q", i, last.Outputs, want)
		}
	}
}

func TestServerCancel(t *testing.T) {
	srv := sharedServer(t)
	ctx := testContext(t)
	alice, bob := srv.client(t, "alice"), srv.client(t, "bob")
	id := uniqueID("slow")
	if _, err := alice.PutSpell(ctx, id, readTestdata(t, "slow.json")); err != nil {
		t.Fatal(err)
	}
	s, err := alice.Stream(ctx, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := time.Now()
	var evs []Event
	for s.Next() {
		e := s.Event()
		evs = append(evs, e)
		if e.Type == EventNodeStart && e.NodeID == "spin" {
			if err := bob.Cancel(ctx, s.RunID()); !errors.Is(err, ErrForbidden) {
				t.Errorf("bob cancels alice's run: %v, want ErrForbidden", err)
			}
			if err := alice.Cancel(ctx, s.RunID()); err != nil {
				t.Fatalf("Cancel: %v", err)
			}
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	checkRunEvents(t, evs, s.RunID())
	last := evs[len(evs)-1]
	if last.Type != EventRunCancelled {
		t.Fatalf("run ended with %s (after %v), want run:cancelled: %v", last.Type, time.Since(start), eventTypes(evs))
	}
	if time.Since(start) > 8*time.Second {
		t.Errorf("cancelling took %v; the node spins for 10s", time.Since(start))
	}
	t.Logf("cancelled %v after the stream started", time.Since(start).Round(time.Millisecond))
	info, err := alice.GetRun(ctx, s.RunID())
	if err != nil {
		t.Fatal(err)
	}
	if info.Status != StatusCancelled {
		t.Errorf("GetRun status %s, want cancelled", info.Status)
	}
	if err := alice.Cancel(ctx, s.RunID()); !errors.Is(err, ErrConflict) {
		t.Errorf("cancelling a finished run: %v, want ErrConflict", err)
	}
	rep, err := alice.Replay(ctx, s.RunID())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Status != StatusCancelled || !errors.Is(rep.Err, ErrRunCancelled) {
		t.Errorf("replay status %s err %v", rep.Status, rep.Err)
	}
	// Wait on a cancelled run's history reports the cancellation.
	f, err := alice.Follow(ctx, s.RunID(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Wait(); !errors.Is(err, ErrRunCancelled) {
		t.Errorf("Follow.Wait of a cancelled run: %v, want ErrRunCancelled", err)
	}
}

func TestServerRunFailure(t *testing.T) {
	srv := sharedServer(t)
	ctx := testContext(t)
	c := srv.client(t, "alice")
	id := uniqueID("fail")
	if _, err := c.PutSpell(ctx, id, readTestdata(t, "fail.json")); err != nil {
		t.Fatal(err)
	}
	_, err := c.Run(ctx, id, nil)
	var re *RunError
	if !errors.Is(err, ErrRunFailed) || !errors.As(err, &re) || re.NodeID != "boom" || !strings.Contains(re.Message, "kaboom") || re.RunID == "" {
		t.Fatalf("Run of a failing spell: %v (%+v), want a RunError at node boom saying kaboom", err, re)
	}
	s, err := c.Stream(ctx, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Wait(); !errors.Is(err, ErrRunFailed) {
		t.Errorf("Stream.Wait: %v, want ErrRunFailed", err)
	}
	rep, err := c.Replay(ctx, re.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Status != StatusFailed || len(rep.Failed) != 1 || rep.Failed[0].NodeID != "boom" {
		t.Errorf("replay of the failed run: status %s failed %+v", rep.Status, rep.Failed)
	}
}

// An analyst reads every run; another user reads none of alice's.
func TestServerRunVisibility(t *testing.T) {
	srv := sharedServer(t)
	ctx := testContext(t)
	res, err := srv.client(t, "alice").Run(ctx, "demo", map[string]any{"name": "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.client(t, "bob").GetRun(ctx, res.RunID); !errors.Is(err, ErrForbidden) {
		t.Errorf("bob GetRun(alice's run): %v, want ErrForbidden", err)
	}
	if _, err := srv.client(t, "bob").Follow(ctx, res.RunID, 0); !errors.Is(err, ErrForbidden) {
		t.Errorf("bob Follow(alice's run): %v, want ErrForbidden", err)
	}
	rep, err := srv.client(t, "carol", "analyst").Replay(ctx, res.RunID)
	if err != nil {
		t.Fatalf("analyst Replay: %v", err)
	}
	if !reflect.DeepEqual(rep.Outputs, res.Outputs) || rep.User != "alice" {
		t.Errorf("analyst replay: %+v", rep)
	}
}

func TestServerHealth(t *testing.T) {
	srv := sharedServer(t)
	c, err := New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Health(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// A connection dropped while the run is still going is resumed live: the
// events after the drop arrive on the new connection, once each.
func TestServerResumeMidRun(t *testing.T) {
	srv := sharedServer(t)
	ctx := testContext(t)
	alice := srv.client(t, "alice")
	id := uniqueID("slow")
	if _, err := alice.PutSpell(ctx, id, readTestdata(t, "slow.json")); err != nil {
		t.Fatal(err)
	}
	// Cut after run:start, start's node:start/node:end and spin's node:start.
	cut := &cutStreams{after: 4}
	c := srv.clientWithToken(t, srv.cliToken(t, "alice"), WithHTTPClient(&http.Client{Transport: cut}), WithReconnect(3, 20*time.Millisecond))
	s, err := c.Stream(ctx, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var evs []Event
	cancelledAt := make(chan time.Time, 1)
	for s.Next() {
		evs = append(evs, s.Event())
		if s.Event().Seq == 4 {
			// The next Next reconnects and waits for live events; cancel
			// the spinning node while it waits.
			runID := s.RunID()
			time.AfterFunc(300*time.Millisecond, func() {
				cancelledAt <- time.Now()
				if err := alice.Cancel(context.Background(), runID); err != nil {
					t.Errorf("Cancel: %v", err)
				}
			})
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	checkRunEvents(t, evs, s.RunID())
	if last := evs[len(evs)-1]; last.Type != EventRunCancelled {
		t.Errorf("ended with %s, want run:cancelled: %v", last.Type, eventTypes(evs))
	}
	cut.mu.Lock()
	defer cut.mu.Unlock()
	if len(cut.requests) != 2 || !strings.Contains(cut.requests[1], "after=4") {
		t.Fatalf("requests %q, want the stream then one resume after seq 4", cut.requests)
	}
	if at := <-cancelledAt; !cut.times[1].Before(at) {
		t.Errorf("resumed at %v, after the cancel at %v: the resumed events were not live", cut.times[1], at)
	}
}

func TestServerAnswer(t *testing.T) {
	srv := sharedServer(t)
	ctx := testContext(t)
	alice, bob := srv.client(t, "alice"), srv.client(t, "bob")
	id := uniqueID("approve")
	if _, err := alice.PutSpell(ctx, id, readTestdata(t, "approve.json")); err != nil {
		t.Fatal(err)
	}
	_, err := alice.Run(ctx, id, map[string]any{"draft": "the post"})
	var re *RunError
	if !errors.Is(err, ErrRunWaiting) || !errors.As(err, &re) || re.RunID == "" {
		t.Fatalf("Run of a spell that asks: %v, want ErrRunWaiting", err)
	}
	if info, err := alice.GetRun(ctx, re.RunID); err != nil || info.Status != StatusWaiting {
		t.Fatalf("GetRun: %+v, %v", info, err)
	}
	evs, err := alice.Events(ctx, re.RunID, 0)
	if err != nil {
		t.Fatal(err)
	}
	var asked *Event
	for i := range evs {
		if evs[i].Type == EventNodeWaiting {
			asked = &evs[i]
		}
	}
	if asked == nil || asked.NodeID != "ask" || asked.Prompt != `Publish "the post"?` || asked.Deadline == nil || asked.Schema["type"] != "object" {
		t.Fatalf("node:waiting %+v", asked)
	}
	if _, err := alice.Answer(ctx, re.RunID, "ask", map[string]any{"approved": "yes"}); !errors.Is(err, ErrInvalidAnswer) || !strings.Contains(err.Error(), "/approved") {
		t.Fatalf("invalid answer: %v", err)
	}
	if _, err := bob.Answer(ctx, re.RunID, "ask", map[string]any{"approved": true}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("bob answers: %v", err)
	}
	ans, err := alice.Answer(ctx, re.RunID, "ask", map[string]any{"approved": true})
	if err != nil || !ans.Resumed || ans.NodeID != "ask" {
		t.Fatalf("Answer: %+v, %v", ans, err)
	}
	f, err := alice.Follow(ctx, re.RunID, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := f.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := res.Outputs["decision"].(map[string]any); d["approved"] != true {
		t.Fatalf("outputs %v", res.Outputs)
	}
	if _, err := alice.Answer(ctx, re.RunID, "ask", true); !errors.Is(err, ErrConflict) {
		t.Fatalf("answer to a finished run: %v", err)
	}
}
