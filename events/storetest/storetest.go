package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/events"
)

// Options describe the store under test.
type Options struct {
	// MaxEventSize is the store's documented limit for one event; the
	// suite checks that a bigger one fails with events.ErrEventTooLarge
	// and writes nothing. 0 leaves that check out (no limit, or a wrapper
	// that offloads large data).
	MaxEventSize int
	// LargeEventSize is the size of the event that must round-trip
	// intact. Default 512 KiB.
	LargeEventSize int
	// Timeout bounds each wait for a subscription. Default 5s.
	Timeout time.Duration
}

// NewStore returns a fresh store for one test; the suite closes it.
type NewStore func(t *testing.T) events.Store

// Run runs the contract suite with default options.
func Run(t *testing.T, newStore NewStore) { RunWithOptions(t, Options{}, newStore) }

// RunWithOptions runs the contract suite.
func RunWithOptions(t *testing.T, opts Options, newStore NewStore) {
	if opts.LargeEventSize <= 0 {
		opts.LargeEventSize = 512 << 10
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	type contractTest struct {
		name string
		fn   func(t *testing.T, c *suite)
	}
	tests := []contractTest{
		{"ExpectedRevision", testExpectedRevision},
		{"ConcurrentWritersOneWins", testConcurrentWriters},
		{"IdempotentRetry", testIdempotentRetry},
		{"ReadStream", testReadStream},
		{"ReadStreamNotFound", testReadStreamNotFound},
		{"RoundTripFields", testRoundTrip},
		{"AppendRecordedMatchesRead", testAppendRecorded},
		{"ReadAllOrder", testReadAllOrder},
		{"SubscribeCatchUpThenLive", testSubscribeCatchUpThenLive},
		{"SubscribeNoGapUnderLoad", testSubscribeUnderLoad},
		{"SubscribeFilters", testSubscribeFilters},
		{"SubscribeCheckpoint", testSubscribeCheckpoint},
		{"SubscribeFromEnd", testSubscribeFromEnd},
		{"SubscriptionCloseAndCancel", testSubscriptionClose},
		{"LargeEvent", testLargeEvent},
	}
	if opts.MaxEventSize > 0 {
		tests = append(tests, contractTest{"EventTooLarge", testEventTooLarge})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() { s.Close() })
			tc.fn(t, &suite{Store: s, opts: opts, prefix: "st" + randomHex(6) + "-"})
		})
	}
}

type suite struct {
	events.Store
	opts   Options
	prefix string
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (c *suite) stream(name string) string { return c.prefix + name }

func (c *suite) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
	t.Cleanup(cancel)
	return ctx
}

func ev(typ string, n int) events.EventData {
	return events.EventData{Type: typ, Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, n))}
}

func evs(typ string, from, count int) []events.EventData {
	out := make([]events.EventData, count)
	for i := range out {
		out[i] = ev(typ, from+i)
	}
	return out
}

func n(t *testing.T, e events.RecordedEvent) int {
	t.Helper()
	var v struct{ N int }
	if err := json.Unmarshal(e.Data, &v); err != nil {
		t.Fatalf("event %s@%d data %q: %v", e.Stream, e.Revision, e.Data, err)
	}
	return v.N
}

func (c *suite) mustAppend(t *testing.T, stream string, exp events.ExpectedRevision, e ...events.EventData) events.AppendResult {
	t.Helper()
	res, err := c.Append(c.ctx(t), stream, exp, e...)
	if err != nil {
		t.Fatalf("append %d events to %s (expected %v): %v", len(e), stream, exp, err)
	}
	return res
}

// testAppendRecorded: events an append hands back (AppendResult.Recorded,
// optional) are the events a read returns.
func testAppendRecorded(t *testing.T, c *suite) {
	s := c.stream("recorded")
	c.mustAppend(t, s, events.NoStream, evs("Before", 0, 2)...)
	batch := evs("Rec", 0, 3)
	batch[1].Metadata = json.RawMessage(`{"m":1}`)
	res := c.mustAppend(t, s, events.Exact(1), batch...)
	if res.Recorded == nil {
		return // the store does not hand events back; readers read them
	}
	got, err := c.ReadStream(c.ctx(t), s, 2, events.Forwards, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Recorded) != len(got) {
		t.Fatalf("append handed back %d events, the stream holds %d after it", len(res.Recorded), len(got))
	}
	for i, r := range res.Recorded {
		g := got[i]
		if r.Stream != g.Stream || r.ID != g.ID || r.Type != g.Type || r.Revision != g.Revision ||
			r.Position != g.Position || r.SchemaVersion != g.SchemaVersion || !r.Time.Equal(g.Time) ||
			string(r.Data) != string(g.Data) || string(r.Metadata) != string(g.Metadata) {
			t.Fatalf("event %d handed back %+v, read %+v", i, r, g)
		}
	}
	if last := res.Recorded[len(res.Recorded)-1]; last.Revision != res.NextRevision || last.Position != res.Position {
		t.Fatalf("last recorded event at %d/%d, result says %d/%d", last.Revision, last.Position, res.NextRevision, res.Position)
	}
}

func testExpectedRevision(t *testing.T, c *suite) {
	s := c.stream("exp")
	type step struct {
		name       string
		exp        events.ExpectedRevision
		count      int
		wantErr    bool
		wantExists bool
		wantActual uint64
		wantNext   uint64
	}
	steps := []step{
		{name: "stream exists on a new stream", exp: events.StreamExists, count: 1, wantErr: true},
		{name: "exact 0 on a new stream", exp: events.Exact(0), count: 1, wantErr: true},
		{name: "no stream on a new stream", exp: events.NoStream, count: 2, wantNext: 1},
		{name: "no stream again", exp: events.NoStream, count: 1, wantErr: true, wantExists: true, wantActual: 1},
		{name: "exact stale", exp: events.Exact(0), count: 1, wantErr: true, wantExists: true, wantActual: 1},
		{name: "exact ahead", exp: events.Exact(7), count: 1, wantErr: true, wantExists: true, wantActual: 1},
		{name: "exact current", exp: events.Exact(1), count: 1, wantNext: 2},
		{name: "stream exists", exp: events.StreamExists, count: 2, wantNext: 4},
		{name: "any", exp: events.Any, count: 1, wantNext: 5},
		{name: "no events, exact current", exp: events.Exact(5), count: 0, wantNext: 5},
		{name: "no events, exact stale", exp: events.Exact(3), count: 0, wantErr: true, wantExists: true, wantActual: 5},
	}
	var lastPos uint64
	total := 0
	for _, st := range steps {
		res, err := c.Append(c.ctx(t), s, st.exp, evs("Exp", total, st.count)...)
		if st.wantErr {
			if !errors.Is(err, events.ErrWrongExpectedRevision) {
				t.Fatalf("%s: got %v, want ErrWrongExpectedRevision", st.name, err)
			}
			var wre *events.WrongRevisionError
			if !errors.As(err, &wre) {
				t.Fatalf("%s: %v is not a *WrongRevisionError", st.name, err)
			}
			if wre.ActualExists != st.wantExists || (st.wantExists && wre.Actual != st.wantActual) {
				t.Fatalf("%s: actual = (exists %v, %d), want (exists %v, %d)", st.name, wre.ActualExists, wre.Actual, st.wantExists, st.wantActual)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if res.NextRevision != st.wantNext {
			t.Fatalf("%s: NextRevision = %d, want %d", st.name, res.NextRevision, st.wantNext)
		}
		if st.count > 0 {
			if res.Position <= lastPos {
				t.Fatalf("%s: Position %d not after previous %d", st.name, res.Position, lastPos)
			}
			lastPos = res.Position
		}
		total += st.count
	}
	got, err := c.ReadStream(c.ctx(t), s, events.Start, events.Forwards, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != total {
		t.Fatalf("stream has %d events, want %d (failed appends must write nothing)", len(got), total)
	}
	for i, e := range got {
		if e.Revision != uint64(i) || n(t, e) != i {
			t.Fatalf("event %d: revision %d n %d", i, e.Revision, n(t, e))
		}
	}
}

func testConcurrentWriters(t *testing.T, c *suite) {
	s := c.stream("race")
	c.mustAppend(t, s, events.NoStream, ev("Init", 0))
	const writers = 8
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = c.Append(c.ctx(t), s, events.Exact(0), ev("Race", i+1))
		}()
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, events.ErrWrongExpectedRevision):
			t.Fatalf("losing writer got %v, want ErrWrongExpectedRevision", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d writers won revision 1, want exactly 1", wins)
	}
	got, err := c.ReadStream(c.ctx(t), s, events.Start, events.Forwards, 0)
	if err != nil || len(got) != 2 {
		t.Fatalf("stream: %d events, %v; want 2", len(got), err)
	}
}

func testIdempotentRetry(t *testing.T, c *suite) {
	withIDs := func(s string, e []events.EventData) []events.EventData {
		for i := range e {
			e[i].ID = events.NewID(s, fmt.Sprint(i))
		}
		return e
	}
	cases := []struct {
		name  string
		first events.ExpectedRevision
		retry events.ExpectedRevision
		ids   bool
	}{
		{"no stream, supplied ids", events.NoStream, events.NoStream, true},
		{"no stream, derived ids", events.NoStream, events.NoStream, false},
		{"exact, supplied ids", events.Exact(0), events.Exact(0), true},
		{"exact, derived ids", events.Exact(0), events.Exact(0), false},
		{"any, supplied ids", events.Any, events.Any, true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := c.stream(fmt.Sprintf("idem%d", i))
			pre := 0
			if _, exact := tc.first.Revision(); exact {
				c.mustAppend(t, s, events.NoStream, ev("Pre", -1))
				pre = 1
			}
			batch := evs("Idem", 0, 3)
			if tc.ids {
				batch = withIDs(s, batch)
			}
			first := c.mustAppend(t, s, tc.first, batch...)
			again := c.mustAppend(t, s, tc.retry, batch...)
			if again.NextRevision != first.NextRevision || again.Position != first.Position {
				t.Fatalf("retry returned %+v, first append %+v", again, first)
			}
			got, err := c.ReadStream(c.ctx(t), s, events.Start, events.Forwards, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != pre+3 {
				t.Fatalf("stream has %d events after a retry, want %d", len(got), pre+3)
			}
			if tc.ids {
				for i, e := range got[pre:] {
					if e.ID != batch[i].ID {
						t.Fatalf("event %d ID %s, want supplied %s", i, e.ID, batch[i].ID)
					}
				}
			}
			// The retry also holds after later appends, at the same place.
			c.mustAppend(t, s, events.Any, ev("Later", 9))
			if _, exact := tc.first.Revision(); exact || tc.first.IsNoStream() {
				if _, err := c.Append(c.ctx(t), s, tc.retry, batch...); err != nil {
					t.Fatalf("retry after later events: %v", err)
				}
			}
			// Different events at the same place are a conflict.
			if !tc.first.IsAny() {
				_, err := c.Append(c.ctx(t), s, tc.first, evs("Other", 100, 3)...)
				if !errors.Is(err, events.ErrWrongExpectedRevision) {
					t.Fatalf("different events at the same revision: %v, want ErrWrongExpectedRevision", err)
				}
			}
			got, _ = c.ReadStream(c.ctx(t), s, events.Start, events.Forwards, 0)
			if len(got) != pre+4 {
				t.Fatalf("stream has %d events, want %d", len(got), pre+4)
			}
		})
	}
}

func testReadStream(t *testing.T, c *suite) {
	s := c.stream("read")
	c.mustAppend(t, s, events.NoStream, evs("Read", 0, 10)...)
	cases := []struct {
		name string
		from uint64
		dir  events.Direction
		max  int
		want []int
	}{
		{"all forwards", events.Start, events.Forwards, 0, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"forwards from 3, max 4", 3, events.Forwards, 4, []int{3, 4, 5, 6}},
		{"forwards past the end", 10, events.Forwards, 0, nil},
		{"backwards from end, max 3", events.End, events.Backwards, 3, []int{9, 8, 7}},
		{"backwards from 4", 4, events.Backwards, 0, []int{4, 3, 2, 1, 0}},
		{"backwards from beyond the end", 50, events.Backwards, 2, []int{9, 8}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.ReadStream(c.ctx(t), s, tc.from, tc.dir, tc.max)
			if err != nil {
				t.Fatal(err)
			}
			var ns []int
			for _, e := range got {
				if int(e.Revision) != n(t, e) {
					t.Fatalf("revision %d holds event %d", e.Revision, n(t, e))
				}
				ns = append(ns, n(t, e))
			}
			if fmt.Sprint(ns) != fmt.Sprint(tc.want) {
				t.Fatalf("got %v, want %v", ns, tc.want)
			}
		})
	}
}

func testReadStreamNotFound(t *testing.T, c *suite) {
	for _, dir := range []events.Direction{events.Forwards, events.Backwards} {
		_, err := c.ReadStream(c.ctx(t), c.stream("missing"), events.Start, dir, 0)
		if !errors.Is(err, events.ErrStreamNotFound) {
			t.Fatalf("%v read of a missing stream: %v, want ErrStreamNotFound", dir, err)
		}
	}
}

func testRoundTrip(t *testing.T, c *suite) {
	s := c.stream("fields")
	before := time.Now().Add(-time.Minute)
	in := events.MustEncode(events.NodeCompleted{
		RunHeader: events.RunHeader{RunID: "r1", Seq: 4, SpellID: "sp", SpellHash: "h", CorrelationID: "c", Time: time.Now().UTC()},
		NodeRef:   events.NodeRef{NodeID: "n1", NodeType: "text/template", Activation: 1},
		Outputs:   map[string]any{"text": "héllo \u2603 \"quoted\""},
		Duration:  1500 * time.Microsecond,
	})
	in.Metadata = json.RawMessage(`{"causationId":"x"}`)
	res := c.mustAppend(t, s, events.NoStream, in)
	got, err := c.ReadStream(c.ctx(t), s, events.Start, events.Forwards, 0)
	if err != nil || len(got) != 1 {
		t.Fatalf("read back: %d events, %v", len(got), err)
	}
	e := got[0]
	switch {
	case e.Stream != s, e.Revision != 0, e.Position != res.Position:
		t.Fatalf("placement: %s@%d pos %d, want %s@0 pos %d", e.Stream, e.Revision, e.Position, s, res.Position)
	case e.ID != in.ID || e.Type != events.TypeNodeCompleted || e.SchemaVersion != events.SchemaVersion:
		t.Fatalf("identity: id %s type %s v%d, want id %s type %s v%d", e.ID, e.Type, e.SchemaVersion, in.ID, events.TypeNodeCompleted, events.SchemaVersion)
	case !jsonEqual(e.Data, in.Data):
		t.Fatalf("data %s, want %s", e.Data, in.Data)
	case !jsonEqual(e.Metadata, in.Metadata):
		t.Fatalf("metadata %s, want %s", e.Metadata, in.Metadata)
	case e.Time.Before(before) || e.Time.After(time.Now().Add(time.Minute)):
		t.Fatalf("commit time %v is not now", e.Time)
	}
	p, err := events.Decode(e)
	if err != nil {
		t.Fatal(err)
	}
	if nc := p.(events.NodeCompleted); nc.NodeID != "n1" || nc.Seq != 4 || nc.Outputs["text"] != "héllo \u2603 \"quoted\"" {
		t.Fatalf("decoded %+v", nc)
	}
	// An event appended without an ID gets one.
	c.mustAppend(t, s, events.Exact(0), ev("NoID", 1))
	got, _ = c.ReadStream(c.ctx(t), s, 1, events.Forwards, 1)
	if len(got) != 1 || got[0].ID == "" {
		t.Fatalf("event appended without an ID: %+v", got)
	}
}

func jsonEqual(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	return fmt.Sprint(x) == fmt.Sprint(y)
}

func testReadAllOrder(t *testing.T, c *suite) {
	names := []string{c.stream("a"), c.stream("b"), c.stream("c")}
	var want []string
	var firstPos uint64
	for i := range 12 {
		s := names[i%3]
		res := c.mustAppend(t, s, events.Any, ev("All", i))
		if i == 0 {
			firstPos = res.Position
		}
		want = append(want, fmt.Sprintf("%s/%d", s, i))
	}
	mine := func(es []events.RecordedEvent) []events.RecordedEvent {
		var out []events.RecordedEvent
		for _, e := range es {
			if strings.HasPrefix(e.Stream, c.prefix) {
				out = append(out, e)
			}
		}
		return out
	}
	all, err := c.ReadAll(c.ctx(t), firstPos, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := mine(all)
	var names2 []string
	var last uint64
	for _, e := range got {
		if e.Position <= last {
			t.Fatalf("positions not increasing: %d after %d", e.Position, last)
		}
		last = e.Position
		names2 = append(names2, fmt.Sprintf("%s/%d", e.Stream, n(t, e)))
	}
	if fmt.Sprint(names2) != fmt.Sprint(want) {
		t.Fatalf("$all order\n got %v\nwant %v", names2, want)
	}
	// from is inclusive; max limits.
	page, err := c.ReadAll(c.ctx(t), got[5].Position, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 3 || page[0].Position != got[5].Position {
		t.Fatalf("page from %d: %d events starting at %v", got[5].Position, len(page), page)
	}
	// Continue after a checkpoint.
	rest, err := c.ReadAll(c.ctx(t), got[10].Position+1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r := mine(rest); len(r) != 1 || r[0].Position != got[11].Position {
		t.Fatalf("after checkpoint %d: %v", got[10].Position, r)
	}
}

// collect reads n events from sub within the suite's timeout.
func (c *suite) collect(t *testing.T, sub events.Subscription, count int) []events.RecordedEvent {
	t.Helper()
	ctx := c.ctx(t)
	out := make([]events.RecordedEvent, 0, count)
	for len(out) < count {
		e, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("after %d of %d events: %v", len(out), count, err)
		}
		out = append(out, e)
	}
	return out
}

// expectNothing checks that sub delivers nothing more for a moment.
func (c *suite) expectNothing(t *testing.T, sub events.Subscription) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if e, err := sub.Next(ctx); err == nil {
		t.Fatalf("unexpected event %s@%d type %s", e.Stream, e.Revision, e.Type)
	}
}

func (c *suite) subscribe(t *testing.T, opts events.SubscribeOptions) events.Subscription {
	t.Helper()
	sub, err := c.Subscribe(c.ctx(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	return sub
}

func testSubscribeCatchUpThenLive(t *testing.T, c *suite) {
	s := c.stream("sub")
	c.mustAppend(t, s, events.NoStream, evs("Sub", 0, 5)...)
	// Positions need not be contiguous (only strictly increasing), so the
	// checkpoint just before the stream's first event is that event's
	// position minus one, not the append's last position minus the count.
	stored, err := c.ReadStream(c.ctx(t), s, events.Start, events.Forwards, 1)
	if err != nil || len(stored) != 1 {
		t.Fatalf("read first event of %s: %d events, %v", s, len(stored), err)
	}
	sub := c.subscribe(t, events.SubscribeOptions{After: stored[0].Position - 1, StreamPrefixes: []string{c.prefix}})
	got := c.collect(t, sub, 5)
	c.mustAppend(t, s, events.Exact(4), evs("Sub", 5, 3)...)
	got = append(got, c.collect(t, sub, 3)...)
	for i, e := range got {
		if n(t, e) != i || e.Revision != uint64(i) {
			t.Fatalf("delivery %d is event %d (rev %d)", i, n(t, e), e.Revision)
		}
	}
	c.expectNothing(t, sub)
}

func testSubscribeUnderLoad(t *testing.T, c *suite) {
	const writers, each = 4, 100
	start := c.mustAppend(t, c.stream("load-start"), events.NoStream, ev("Start", 0))
	// Writers run while the subscription catches up, so the switch to
	// live happens under load.
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := c.Append(context.Background(), c.stream(fmt.Sprintf("load%d", w)), events.Any, ev("Load", i)); err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
			}
		}()
	}
	sub := c.subscribe(t, events.SubscribeOptions{After: start.Position, StreamPrefixes: []string{c.stream("load")}, EventTypes: []string{"Load"}})
	got := c.collect(t, sub, writers*each)
	wg.Wait()
	next := make([]int, writers)
	var last uint64
	for _, e := range got {
		if e.Position <= last {
			t.Fatalf("position %d delivered after %d", e.Position, last)
		}
		last = e.Position
		var w int
		fmt.Sscanf(strings.TrimPrefix(e.Stream, c.stream("load")), "%d", &w)
		if n(t, e) != next[w] {
			t.Fatalf("stream %s: got event %d, want %d (gap or duplicate)", e.Stream, n(t, e), next[w])
		}
		next[w]++
	}
	c.expectNothing(t, sub)
}

func testSubscribeFilters(t *testing.T, c *suite) {
	start := c.mustAppend(t, c.stream("x-start"), events.NoStream, ev("Start", 0))
	c.mustAppend(t, c.stream("run-1"), events.Any, ev("Keep", 1), ev("Drop", 2))
	c.mustAppend(t, c.stream("spell-1"), events.Any, ev("Keep", 3))
	c.mustAppend(t, c.stream("other-1"), events.Any, ev("Keep", 4))
	c.mustAppend(t, c.stream("run-2"), events.Any, ev("Keep", 5), ev("Other", 6))
	cases := []struct {
		name string
		opts events.SubscribeOptions
		want []int
	}{
		{"one prefix", events.SubscribeOptions{StreamPrefixes: []string{c.stream("run-")}}, []int{1, 2, 5, 6}},
		{"two prefixes", events.SubscribeOptions{StreamPrefixes: []string{c.stream("run-"), c.stream("spell-")}}, []int{1, 2, 3, 5, 6}},
		{"types", events.SubscribeOptions{StreamPrefixes: []string{c.prefix}, EventTypes: []string{"Drop", "Other"}}, []int{2, 6}},
		{"prefix and type", events.SubscribeOptions{StreamPrefixes: []string{c.stream("run-")}, EventTypes: []string{"Keep"}}, []int{1, 5}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.After = start.Position
			sub := c.subscribe(t, tc.opts)
			var ns []int
			for _, e := range c.collect(t, sub, len(tc.want)) {
				ns = append(ns, n(t, e))
			}
			if fmt.Sprint(ns) != fmt.Sprint(tc.want) {
				t.Fatalf("got %v, want %v", ns, tc.want)
			}
			c.expectNothing(t, sub)
		})
	}
}

func testSubscribeCheckpoint(t *testing.T, c *suite) {
	s := c.stream("ckpt")
	c.mustAppend(t, s, events.NoStream, evs("Ck", 0, 6)...)
	all, err := c.ReadStream(c.ctx(t), s, events.Start, events.Forwards, 0)
	if err != nil {
		t.Fatal(err)
	}
	// A projection that handled event 3 resumes after its position.
	sub := c.subscribe(t, events.SubscribeOptions{After: all[3].Position, StreamPrefixes: []string{c.prefix}})
	got := c.collect(t, sub, 2)
	if n(t, got[0]) != 4 || n(t, got[1]) != 5 {
		t.Fatalf("after checkpoint of event 3: got %d, %d; want 4, 5", n(t, got[0]), n(t, got[1]))
	}
	c.expectNothing(t, sub)
}

func testSubscribeFromEnd(t *testing.T, c *suite) {
	s := c.stream("end")
	c.mustAppend(t, s, events.NoStream, evs("End", 0, 3)...)
	sub := c.subscribe(t, events.SubscribeOptions{FromEnd: true, StreamPrefixes: []string{c.prefix}})
	c.mustAppend(t, s, events.Exact(2), ev("End", 3))
	got := c.collect(t, sub, 1)
	if n(t, got[0]) != 3 {
		t.Fatalf("FromEnd delivered event %d first, want 3", n(t, got[0]))
	}
}

func testSubscriptionClose(t *testing.T, c *suite) {
	sub := c.subscribe(t, events.SubscribeOptions{FromEnd: true, StreamPrefixes: []string{c.prefix}})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := sub.Next(ctx); errc <- err }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Next after cancel: %v, want context.Canceled", err)
		}
	case <-time.After(c.opts.Timeout):
		t.Fatal("Next did not return after its context was cancelled")
	}
	go func() { _, err := sub.Next(context.Background()); errc <- err }()
	time.Sleep(20 * time.Millisecond)
	sub.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, events.ErrClosed) {
			t.Fatalf("Next after Close: %v, want ErrClosed", err)
		}
	case <-time.After(c.opts.Timeout):
		t.Fatal("Next did not return after Close")
	}
}

func largeData(size int) json.RawMessage {
	// JSON string of pseudo-random-looking but valid text.
	b := make([]byte, 0, size)
	b = append(b, `{"blob":"`...)
	for len(b) < size-2 {
		b = append(b, "abcdefghijklmnopqrstuvwxyz0123456789"[len(b)%36])
	}
	return append(b, `"}`...)
}

func testLargeEvent(t *testing.T, c *suite) {
	s := c.stream("large")
	data := largeData(c.opts.LargeEventSize)
	c.mustAppend(t, s, events.NoStream, events.EventData{Type: "Large", Data: data}, ev("Small", 1))
	got, err := c.ReadStream(c.ctx(t), s, events.Start, events.Forwards, 0)
	if err != nil || len(got) != 2 {
		t.Fatalf("read back: %d events, %v", len(got), err)
	}
	if !bytes.Equal(got[0].Data, data) {
		t.Fatalf("large event came back as %d bytes, want %d identical bytes", len(got[0].Data), len(data))
	}
	sub := c.subscribe(t, events.SubscribeOptions{After: got[0].Position - 1, StreamPrefixes: []string{s}})
	if e := c.collect(t, sub, 1)[0]; !bytes.Equal(e.Data, data) {
		t.Fatalf("subscription delivered %d bytes, want %d identical bytes", len(e.Data), len(data))
	}
}

func testEventTooLarge(t *testing.T, c *suite) {
	s := c.stream("toolarge")
	_, err := c.Append(c.ctx(t), s, events.NoStream, ev("Small", 0), events.EventData{Type: "Huge", Data: largeData(c.opts.MaxEventSize + 1)})
	if !errors.Is(err, events.ErrEventTooLarge) {
		t.Fatalf("append of a %d-byte event: %v, want ErrEventTooLarge", c.opts.MaxEventSize+1, err)
	}
	if _, err := c.ReadStream(c.ctx(t), s, events.Start, events.Forwards, 0); !errors.Is(err, events.ErrStreamNotFound) {
		t.Fatalf("after a rejected append the stream must not exist: %v", err)
	}
}
