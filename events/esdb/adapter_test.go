package esdb_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/events/esdb"
	"github.com/grimoire-run/grimoire/events/esdb/esdbtest"
)

func ctxT(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func event(typ string, n int) events.EventData {
	return events.EventData{Type: typ, Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, n))}
}

func numbered(typ string, from, count int) []events.EventData {
	out := make([]events.EventData, count)
	for i := range out {
		out[i] = event(typ, from+i)
	}
	return out
}

func num(t *testing.T, e events.RecordedEvent) int {
	t.Helper()
	var v struct{ N int }
	if err := json.Unmarshal(e.Data, &v); err != nil {
		t.Fatalf("event %s@%d data %q: %v", e.Stream, e.Revision, e.Data, err)
	}
	return v.N
}

func mustAppend(t *testing.T, s events.Store, stream string, exp events.ExpectedRevision, evs ...events.EventData) events.AppendResult {
	t.Helper()
	res, err := s.Append(ctxT(t, 5*time.Second), stream, exp, evs...)
	if err != nil {
		t.Fatalf("append %d events to %s: %v", len(evs), stream, err)
	}
	return res
}

// next reads one event or fails the test after d.
func next(t *testing.T, sub events.Subscription, d time.Duration) events.RecordedEvent {
	t.Helper()
	e, err := sub.Next(ctxT(t, d))
	if err != nil {
		t.Fatalf("subscription: %v", err)
	}
	return e
}

func TestWrongExpectedRevision(t *testing.T) {
	// Conflicts reach the client typed (EventStoreDB 21+) or as a gRPC
	// status with the details in its message (20.6, and some proxies).
	for _, legacy := range []bool{false, true} {
		t.Run(fmt.Sprintf("legacy=%v", legacy), func(t *testing.T) {
			srv := esdbtest.StartT(t, esdbtest.Options{LegacyWrongExpectedVersion: legacy})
			s := openStore(t, srv.URL(), esdb.Options{})
			mustAppend(t, s, "run-1", events.NoStream, numbered("E", 0, 3)...)
			cases := []struct {
				name       string
				stream     string
				exp        events.ExpectedRevision
				wantExists bool
				wantActual uint64
			}{
				{"exact stale", "run-1", events.Exact(0), true, 2},
				{"exact ahead", "run-1", events.Exact(9), true, 2},
				{"no stream on an existing stream", "run-1", events.NoStream, true, 2},
				{"exact on a missing stream", "run-2", events.Exact(0), false, 0},
				{"stream exists on a missing stream", "run-2", events.StreamExists, false, 0},
				{"stream exists without IDs on a missing stream", "run-3", events.StreamExists, false, 0},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					ev := event("E", 100)
					if !strings.Contains(tc.name, "without IDs") {
						ev.ID = events.NewID(tc.name)
					}
					_, err := s.Append(ctxT(t, 5*time.Second), tc.stream, tc.exp, ev)
					if !errors.Is(err, events.ErrWrongExpectedRevision) {
						t.Fatalf("got %v, want ErrWrongExpectedRevision", err)
					}
					var wre *events.WrongRevisionError
					if !errors.As(err, &wre) {
						t.Fatalf("%v is not a *WrongRevisionError", err)
					}
					if wre.Stream != tc.stream || wre.Expected != tc.exp || wre.ActualExists != tc.wantExists || wre.Actual != tc.wantActual {
						t.Fatalf("got %+v, want stream %s expected %v actual (exists %v, %d)", wre, tc.stream, tc.exp, tc.wantExists, tc.wantActual)
					}
				})
			}
		})
	}
}

func TestStreamNotFound(t *testing.T) {
	srv := esdbtest.StartT(t, esdbtest.Options{})
	s := openStore(t, srv.URL(), esdb.Options{})
	for _, dir := range []events.Direction{events.Forwards, events.Backwards} {
		_, err := s.ReadStream(ctxT(t, 5*time.Second), "run-missing", events.End, dir, 10)
		if !errors.Is(err, events.ErrStreamNotFound) {
			t.Fatalf("%v: got %v, want ErrStreamNotFound", dir, err)
		}
		if !strings.Contains(err.Error(), "run-missing") {
			t.Fatalf("error %q does not name the stream", err)
		}
	}
}

func TestEventTooLarge(t *testing.T) {
	big := func(n int) events.EventData {
		return events.EventData{Type: "Big", Data: json.RawMessage(`"` + strings.Repeat("x", n-2) + `"`)}
	}
	cases := []struct {
		name     string
		maxLocal int // esdb.Options.MaxAppendSize
		evs      []events.EventData
		wantType bool // a *events.EventTooLargeError naming the event
	}{
		{"one event over the cap, checked before sending", 0, []events.EventData{event("Small", 0), big(esdb.DefaultMaxAppendSize + 1)}, true},
		{"events summing over the cap, checked before sending", 0, []events.EventData{big(600 << 10), big(600 << 10)}, false},
		{"one event over the cap, rejected by the server", -1, []events.EventData{big(esdb.DefaultMaxAppendSize + 1)}, false},
		{"events summing over the cap, rejected by the server", -1, []events.EventData{big(600 << 10), big(600 << 10)}, false},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := esdbtest.StartT(t, esdbtest.Options{})
			s := openStore(t, srv.URL(), esdb.Options{MaxAppendSize: tc.maxLocal})
			stream := fmt.Sprintf("run-big%d", i)
			_, err := s.Append(ctxT(t, 5*time.Second), stream, events.NoStream, tc.evs...)
			if !errors.Is(err, events.ErrEventTooLarge) {
				t.Fatalf("got %v, want ErrEventTooLarge", err)
			}
			var tle *events.EventTooLargeError
			if tc.wantType && (!errors.As(err, &tle) || tle.Index != 1 || tle.Limit != esdb.DefaultMaxAppendSize) {
				t.Fatalf("got %v, want an EventTooLargeError for event 1 with limit %d", err, esdb.DefaultMaxAppendSize)
			}
			if _, err := s.ReadStream(ctxT(t, 5*time.Second), stream, events.Start, events.Forwards, 0); !errors.Is(err, events.ErrStreamNotFound) {
				t.Fatalf("a rejected append wrote something: %v", err)
			}
			// Just under the cap goes through.
			mustAppend(t, s, stream, events.NoStream, big(esdb.DefaultMaxAppendSize-100))
		})
	}
}

func TestDerivedIDsAreDeterministic(t *testing.T) {
	srv := esdbtest.StartT(t, esdbtest.Options{})
	s := openStore(t, srv.URL(), esdb.Options{})
	ctx := ctxT(t, 5*time.Second)
	mustAppend(t, s, "run-ids", events.Any, numbered("E", 0, 2)...)
	mustAppend(t, s, "run-ids", events.StreamExists, numbered("E", 2, 2)...)
	mustAppend(t, s, "run-ids", events.Exact(3), numbered("E", 4, 1)...)
	got, err := s.ReadStream(ctx, "run-ids", events.Start, events.Forwards, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range got {
		if want := events.DeterministicID("run-ids", uint64(i), event("E", i)); e.ID != want {
			t.Fatalf("event %d: ID %s, want DeterministicID %s", i, e.ID, want)
		}
	}
	// An ID that is not a UUID cannot be stored in EventStoreDB.
	bad := event("E", 9)
	bad.ID = "not-a-uuid"
	if _, err := s.Append(ctx, "run-ids", events.Any, bad); err == nil || !strings.Contains(err.Error(), "not a UUID") {
		t.Fatalf("append with ID %q: %v, want an error saying it is not a UUID", bad.ID, err)
	}
}

func TestAnyAppendsRaceWithoutLoss(t *testing.T) {
	// Any appends without IDs pin the tail they read; concurrent writers
	// to one stream make some re-read it. None may fail or be lost.
	srv := esdbtest.StartT(t, esdbtest.Options{})
	s := openStore(t, srv.URL(), esdb.Options{})
	const writers, each = 4, 10
	errs := make(chan error, writers*each)
	for w := range writers {
		go func() {
			for i := range each {
				_, err := s.Append(context.Background(), "run-any", events.Any, event("E", w*100+i))
				errs <- err
			}
		}()
	}
	for range writers * each {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ReadStream(ctxT(t, 5*time.Second), "run-any", events.Start, events.Forwards, 0)
	if err != nil || len(got) != writers*each {
		t.Fatalf("stream holds %d events (%v), want %d", len(got), err, writers*each)
	}
}

func TestSchemaVersionAndMetadataRoundTrip(t *testing.T) {
	srv := esdbtest.StartT(t, esdbtest.Options{})
	s := openStore(t, srv.URL(), esdb.Options{})
	cases := []struct {
		version, wantVersion int
		meta                 string
	}{
		{0, 1, ""},
		{1, 1, `{"causationId":"c1"}`},
		{3, 3, ""},
		{3, 3, `{"causationId":"c3","tags":["a"]}`},
	}
	for i, tc := range cases {
		t.Run(fmt.Sprintf("v%d meta %q", tc.version, tc.meta), func(t *testing.T) {
			stream := fmt.Sprintf("run-v%d", i)
			in := events.EventData{Type: "NodeCompleted", SchemaVersion: tc.version, Data: json.RawMessage(`{"x":1}`)}
			if tc.meta != "" {
				in.Metadata = json.RawMessage(tc.meta)
			}
			mustAppend(t, s, stream, events.NoStream, in)
			got, err := s.ReadStream(ctxT(t, 5*time.Second), stream, events.Start, events.Forwards, 0)
			if err != nil || len(got) != 1 {
				t.Fatalf("read back: %v %v", got, err)
			}
			e := got[0]
			if e.SchemaVersion != tc.wantVersion || string(e.Metadata) != tc.meta || e.Type != "NodeCompleted" || string(e.Data) != `{"x":1}` {
				t.Fatalf("got v%d type %s data %s meta %q, want v%d type NodeCompleted data {\"x\":1} meta %q", e.SchemaVersion, e.Type, e.Data, e.Metadata, tc.wantVersion, tc.meta)
			}
		})
	}
}

func TestPositionNeighbours(t *testing.T) {
	// Positions have gaps; a caller's "P+1" (continue after a checkpoint)
	// and "P-1" (from P) must still land on real log offsets.
	srv := esdbtest.StartT(t, esdbtest.Options{})
	s := openStore(t, srv.URL(), esdb.Options{})
	mustAppend(t, s, "run-pos", events.NoStream, numbered("E", 0, 3)...)
	srv.AppendSystemEvent() // between our events: must never show
	mustAppend(t, s, "run-pos", events.Exact(2), numbered("E", 3, 2)...)
	all, err := s.ReadStream(ctxT(t, 5*time.Second), "run-pos", events.Start, events.Forwards, 0)
	if err != nil {
		t.Fatal(err)
	}
	p := all[2].Position
	reads := []struct {
		name string
		from uint64
		want []int
	}{
		{"from P", p, []int{2, 3, 4}},
		{"from P-1", p - 1, []int{2, 3, 4}},
		{"from P+1", p + 1, []int{3, 4}},
		{"from 0", 0, []int{0, 1, 2, 3, 4}},
	}
	for _, tc := range reads {
		t.Run("ReadAll "+tc.name, func(t *testing.T) {
			got, err := s.ReadAll(ctxT(t, 5*time.Second), tc.from, 0)
			if err != nil {
				t.Fatal(err)
			}
			var ns []int
			for _, e := range got {
				ns = append(ns, num(t, e))
			}
			if fmt.Sprint(ns) != fmt.Sprint(tc.want) {
				t.Fatalf("got %v, want %v", ns, tc.want)
			}
		})
	}
	subs := []struct {
		name  string
		after uint64
		first int
	}{
		{"after P", p, 3},
		{"after P-1", p - 1, 2},
		{"after 0", 0, 0},
	}
	for _, tc := range subs {
		t.Run("Subscribe "+tc.name, func(t *testing.T) {
			sub, err := s.Subscribe(ctxT(t, 5*time.Second), events.SubscribeOptions{After: tc.after})
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			for want := tc.first; want < 5; want++ {
				if e := next(t, sub, 5*time.Second); num(t, e) != want {
					t.Fatalf("got event %d, want %d", num(t, e), want)
				}
			}
		})
	}
	// Paging with max counts our events, not the system events between.
	page, err := s.ReadAll(ctxT(t, 5*time.Second), 0, 4)
	if err != nil || len(page) != 4 || num(t, page[3]) != 3 {
		t.Fatalf("ReadAll max 4: %v %v", page, err)
	}
}

func TestSubscriptionSurvivesServerRestart(t *testing.T) {
	srv := esdbtest.StartT(t, esdbtest.Options{})
	s := openStore(t, srv.URL(), esdb.Options{})
	sub, err := s.Subscribe(ctxT(t, 5*time.Second), events.SubscribeOptions{StreamPrefixes: []string{"run-"}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	mustAppend(t, s, "run-r", events.NoStream, numbered("E", 0, 3)...)
	for want := range 3 {
		if e := next(t, sub, 5*time.Second); num(t, e) != want {
			t.Fatalf("got %d, want %d", num(t, e), want)
		}
	}

	srv.Stop()
	// While the server is away, calls fail within their context instead
	// of hanging in the client's reconnection loop.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	start := time.Now()
	_, err = s.Append(ctx, "run-r", events.Exact(2), event("E", 99))
	cancel()
	if err == nil {
		t.Fatal("append to a stopped server succeeded")
	}
	if waited := time.Since(start); waited > 2*time.Second {
		t.Fatalf("append to a stopped server took %v", waited)
	}
	time.Sleep(200 * time.Millisecond) // let the subscription fail a few resubscribes
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}

	// The server is back: appends work again (the adapter replaces a
	// client that gave up), and the subscription resumes after event 2.
	var res events.AppendResult
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, err = s.Append(ctxT(t, 2*time.Second), "run-r", events.Exact(2), numbered("E", 3, 3)...)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("append after the server came back: %v", err)
	}
	if res.NextRevision != 5 {
		t.Fatalf("NextRevision %d, want 5", res.NextRevision)
	}
	for want := 3; want < 6; want++ {
		if e := next(t, sub, 5*time.Second); num(t, e) != want {
			t.Fatalf("after the restart got %d, want %d (lost or duplicated)", num(t, e), want)
		}
	}
	expectNothing(t, sub)
}

func TestSubscriptionDroppedUnderLoad(t *testing.T) {
	// The server drops subscriptions while writers append: every event
	// arrives once, in order.
	srv := esdbtest.StartT(t, esdbtest.Options{})
	s := openStore(t, srv.URL(), esdb.Options{SubscriptionBuffer: 4})
	sub, err := s.Subscribe(ctxT(t, 5*time.Second), events.SubscribeOptions{StreamPrefixes: []string{"run-"}, EventTypes: []string{"Load"}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	const total = 120
	done := make(chan error, 1)
	go func() {
		for i := range total {
			if _, err := s.Append(context.Background(), "run-load", events.Any, event("Load", i), event("Noise", i)); err != nil {
				done <- err
				return
			}
			if i%20 == 10 {
				srv.DropSubscriptions()
			}
		}
		done <- nil
	}()
	for want := range total {
		if e := next(t, sub, 10*time.Second); num(t, e) != want || e.Type != "Load" {
			t.Fatalf("got %s %d, want Load %d", e.Type, num(t, e), want)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	expectNothing(t, sub)
}

func expectNothing(t *testing.T, sub events.Subscription) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if e, err := sub.Next(ctx); err == nil {
		t.Fatalf("unexpected event %s@%d", e.Stream, e.Revision)
	}
}

func TestClientPanicBecomesError(t *testing.T) {
	// Newer servers send read messages the v4.1.0 client does not know; it
	// panics on them. The adapter reports an error and keeps working.
	srv := esdbtest.StartT(t, esdbtest.Options{})
	s := openStore(t, srv.URL(), esdb.Options{})
	mustAppend(t, s, "run-p", events.NoStream, event("E", 0))
	srv.InjectUnknownReadMessage(1)
	_, err := s.ReadStream(ctxT(t, 5*time.Second), "run-p", events.Start, events.Forwards, 0)
	if err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("read that made the client panic: %v, want an error", err)
	}
	got, err := s.ReadStream(ctxT(t, 5*time.Second), "run-p", events.Start, events.Forwards, 0)
	if err != nil || len(got) != 1 {
		t.Fatalf("read after the panic: %v %v", got, err)
	}
}

func TestCloseEndsSubscriptionsAndCalls(t *testing.T) {
	srv := esdbtest.StartT(t, esdbtest.Options{})
	s, err := esdb.New(ctxT(t, 5*time.Second), esdb.Options{URL: srv.URL(), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := s.Subscribe(ctxT(t, 5*time.Second), events.SubscribeOptions{FromEnd: true})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { _, err := sub.Next(context.Background()); errc <- err }()
	time.Sleep(20 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, events.ErrClosed) {
			t.Fatalf("Next after the store closed: %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Next did not return after the store closed")
	}
	if _, err := s.Append(context.Background(), "run-c", events.Any, event("E", 0)); !errors.Is(err, events.ErrClosed) {
		t.Fatalf("append after Close: %v, want ErrClosed", err)
	}
	if _, err := s.Subscribe(context.Background(), events.SubscribeOptions{}); !errors.Is(err, events.ErrClosed) {
		t.Fatalf("subscribe after Close: %v, want ErrClosed", err)
	}
	sub.Close()
	checkNoAdapterGoroutines(t)
}

func TestOpenReportsUnreachableServer(t *testing.T) {
	cases := []struct{ name, url, want string }{
		{"no server", "esdb://127.0.0.1:1?tls=false&maxDiscoverAttempts=1&discoveryInterval=10", "is the server running"},
		{"bad scheme", "http://127.0.0.1:2113", "parse connection string"},
		{"empty", "", esdb.EnvURL},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := esdb.Open(ctxT(t, 5*time.Second), tc.url)
			if err == nil {
				s.Close()
				t.Fatal("open succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
		})
	}
	checkNoAdapterGoroutines(t)
}
