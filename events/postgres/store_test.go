package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/events"
	pgstore "github.com/grimoire-run/grimoire/events/postgres"
	"github.com/grimoire-run/grimoire/events/storetest"
	"github.com/grimoire-run/grimoire/services/postgres"
	"github.com/grimoire-run/grimoire/services/postgres/pgtest"
)

// openStore opens a store on its own pool (as a separate process would)
// in schema, closed when the test ends.
func openStore(t testing.TB, schema string, opts pgstore.Options) *pgstore.Store {
	t.Helper()
	pgtest.Open(t, postgres.Options{}) // fails in CI, skips elsewhere, when PostgreSQL is missing
	opts.URL, opts.Schema = pgtest.URL(), schema
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := pgstore.Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		checkNoStoreGoroutines(t, s)
	})
	return s
}

// checkNoStoreGoroutines fails if a goroutine of s (a method of s's on its
// stack) still runs after Close.
func checkNoStoreGoroutines(t testing.TB, s *pgstore.Store) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "grimoire/events/postgres.(*Store)") && strings.Contains(g, fmt.Sprintf("(%p", s)) {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines of the store outlived Close:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// newStore is one store in a fresh schema.
func newStore(t testing.TB, opts pgstore.Options) *pgstore.Store {
	t.Helper()
	db := pgtest.Open(t, postgres.Options{})
	return openStore(t, pgtest.FreshSchema(t, db), opts)
}

func TestContract(t *testing.T) {
	storetest.RunWithOptions(t, storetest.Options{MaxEventSize: 1 << 20}, func(t *testing.T) events.Store {
		return newStore(t, pgstore.Options{MaxEventSize: 1 << 20})
	})
}

// With every event's data offloaded to the blobs table, the contract
// still holds, and an event bigger than the store's own limit round-trips.
func TestContractWithBlobs(t *testing.T) {
	storetest.RunWithOptions(t, storetest.Options{LargeEventSize: 2 << 20}, func(t *testing.T) events.Store {
		s := newStore(t, pgstore.Options{MaxEventSize: 1 << 20})
		return events.WithBlobs(s, s.Blobs(), events.BlobOptions{Threshold: 8})
	})
}

func payload(n int) json.RawMessage { return json.RawMessage(fmt.Sprintf(`{"n":%d}`, n)) }

// Many writers appending to one stream with Any: every append lands, the
// stream's revisions are contiguous and its positions grow with them.
func TestConcurrentAppendsToOneStream(t *testing.T) {
	s := newStore(t, pgstore.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const writers, each = 16, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := s.Append(ctx, "run-shared", events.Any, events.EventData{Type: "W", Data: payload(w*1000 + i)}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, err := s.ReadStream(ctx, "run-shared", events.Start, events.Forwards, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != writers*each {
		t.Fatalf("stream holds %d events, want %d", len(got), writers*each)
	}
	seen := map[string]bool{}
	for i, e := range got {
		if e.Revision != uint64(i) {
			t.Fatalf("event %d has revision %d", i, e.Revision)
		}
		if i > 0 && e.Position <= got[i-1].Position {
			t.Fatalf("revision %d at position %d, not after revision %d at %d", i, e.Position, i-1, got[i-1].Position)
		}
		if seen[string(e.Data)] {
			t.Fatalf("event %s stored twice", e.Data)
		}
		seen[string(e.Data)] = true
	}
}

// The known trap of a log on a SQL database: transaction A takes its
// global position first, transaction B takes a later one and commits
// first. A reader that has seen B and checkpoints on B's position would
// never see A. Here A (process 1) is held inside its transaction right
// after taking its position while a live subscriber keeps polling and B
// (process 2, its own pool and transaction) appends: B must not become
// visible before A, and the subscriber receives A, then B.
func TestSubscriptionNeverSkipsAnEventCommittedOutOfOrder(t *testing.T) {
	db := pgtest.Open(t, postgres.Options{})
	schema := pgtest.FreshSchema(t, db)
	p1 := openStore(t, schema, pgstore.Options{PollInterval: 5 * time.Millisecond})
	p2 := openStore(t, schema, pgstore.Options{PollInterval: 5 * time.Millisecond})
	allocated, release := make(chan struct{}), make(chan struct{})
	pgstore.SetTestHook(p1, func(point, stream string) {
		if point == "allocated" && stream == "run-a" {
			close(allocated)
			<-release
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var subs []events.Subscription
	for _, s := range []*pgstore.Store{p1, p2} {
		sub, err := s.Subscribe(ctx, events.SubscribeOptions{FromEnd: true})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		subs = append(subs, sub)
	}

	type result struct {
		res events.AppendResult
		err error
	}
	aDone, bDone := make(chan result, 1), make(chan result, 1)
	go func() {
		r, err := p1.Append(ctx, "run-a", events.NoStream, events.EventData{Type: "A", Data: payload(1)})
		aDone <- result{r, err}
	}()
	<-allocated
	go func() {
		r, err := p2.Append(ctx, "run-b", events.NoStream, events.EventData{Type: "B", Data: payload(2)})
		bDone <- result{r, err}
	}()
	// While A is uncommitted, the subscribers (polling every 5 ms) must see
	// nothing, and B cannot have committed.
	for i, sub := range subs {
		waitCtx, waitCancel := context.WithTimeout(ctx, 300*time.Millisecond)
		e, err := sub.Next(waitCtx)
		waitCancel()
		if err == nil {
			t.Fatalf("subscriber %d received %s at %d while the transaction holding an earlier position was open", i, e.Stream, e.Position)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Next: %v", err)
		}
	}
	select {
	case r := <-bDone:
		t.Fatalf("B committed (%+v, %v) while A, holding an earlier position, was open", r.res, r.err)
	default:
	}
	close(release)
	a, b := <-aDone, <-bDone
	if a.err != nil || b.err != nil {
		t.Fatalf("appends: A %v, B %v", a.err, b.err)
	}
	if b.res.Position <= a.res.Position {
		t.Fatalf("B at position %d, A at %d: B should come after A", b.res.Position, a.res.Position)
	}
	for i, sub := range subs {
		first, err := sub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		second, err := sub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if first.Stream != "run-a" || first.Position != a.res.Position || second.Stream != "run-b" || second.Position != b.res.Position {
			t.Fatalf("subscriber %d: delivered %s@%d then %s@%d, want run-a@%d then run-b@%d", i, first.Stream, first.Position, second.Stream, second.Position, a.res.Position, b.res.Position)
		}
	}
}

// Two stores on one schema, as two grimoire serve processes: both append
// concurrently, and a subscription on each receives every event of both,
// in the same order.
func TestTwoProcessesShareTheLog(t *testing.T) {
	db := pgtest.Open(t, postgres.Options{})
	schema := pgtest.FreshSchema(t, db)
	p1 := openStore(t, schema, pgstore.Options{})
	p2 := openStore(t, schema, pgstore.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var subs []events.Subscription
	for _, s := range []*pgstore.Store{p1, p2} {
		sub, err := s.Subscribe(ctx, events.SubscribeOptions{StreamPrefixes: []string{"run-"}})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		subs = append(subs, sub)
	}
	const each = 100
	var wg sync.WaitGroup
	for p, s := range []*pgstore.Store{p1, p2} {
		for w := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				stream := fmt.Sprintf("run-p%d-w%d", p, w)
				for i := range each {
					exp := events.NoStream
					if i > 0 {
						exp = events.Exact(uint64(i - 1))
					}
					if _, err := s.Append(ctx, stream, exp, events.EventData{Type: "E", Data: payload(i)}); err != nil {
						t.Errorf("%s: %v", stream, err)
						return
					}
				}
			}()
		}
	}
	var orders [2][]uint64
	for i, sub := range subs {
		next := map[string]uint64{}
		for range 4 * each {
			e, err := sub.Next(ctx)
			if err != nil {
				t.Fatalf("subscriber %d after %d events: %v", i, len(orders[i]), err)
			}
			if e.Revision != next[e.Stream] {
				t.Fatalf("subscriber %d: %s revision %d, want %d", i, e.Stream, e.Revision, next[e.Stream])
			}
			next[e.Stream]++
			orders[i] = append(orders[i], e.Position)
		}
	}
	wg.Wait()
	if fmt.Sprint(orders[0]) != fmt.Sprint(orders[1]) {
		t.Fatal("the two processes' subscriptions delivered different orders")
	}
	// A blob written by one process is read by the other.
	ref, err := p1.Blobs().Put(ctx, []byte("shared blob"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := p2.Blobs().Get(ctx, ref); err != nil || string(got) != "shared blob" {
		t.Fatalf("blob on the other process: %q, %v", got, err)
	}
	if _, err := p2.Blobs().Get(ctx, events.BlobRef{SHA256: "00" + ref.SHA256[2:]}); !errors.Is(err, events.ErrBlobNotFound) {
		t.Fatalf("unknown blob: %v, want ErrBlobNotFound", err)
	}
}

func TestPrune(t *testing.T) {
	s := newStore(t, pgstore.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 5 {
		if _, err := s.Append(ctx, "run-p", events.Any, events.EventData{Type: "E", Data: payload(i)}); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := s.ReadStream(ctx, "run-p", events.Start, events.Forwards, 0)
	if _, err := s.Prune(ctx, "run-p", []uint64{1, 4}); !errors.Is(err, events.ErrPruneHead) {
		t.Fatalf("pruning the head: %v, want ErrPruneHead", err)
	}
	n, err := s.Prune(ctx, "run-p", []uint64{1, 2, 9})
	if err != nil || n != 2 {
		t.Fatalf("prune: %d, %v; want 2 deleted", n, err)
	}
	if n, err := s.Prune(ctx, "run-p", []uint64{1, 2}); err != nil || n != 0 {
		t.Fatalf("prune again: %d, %v; want 0", n, err)
	}
	after, _ := s.ReadStream(ctx, "run-p", events.Start, events.Forwards, 0)
	if len(after) != 3 || after[0].Revision != 0 || after[1].Revision != 3 || after[1].Position != before[3].Position {
		t.Fatalf("after prune: %+v", after)
	}
	if _, err := s.Append(ctx, "run-p", events.Exact(4), events.EventData{Type: "E", Data: payload(5)}); err != nil {
		t.Fatalf("append after prune: %v", err)
	}
}

func TestOpenRejectsBadSchemaName(t *testing.T) {
	_, err := pgstore.Open(context.Background(), pgstore.Options{URL: pgtest.URL(), Schema: `x"; drop table y`})
	if err == nil {
		t.Fatal("want an error for a schema name with quotes")
	}
}

// The same append sent by many goroutines at once (a client retrying
// while its first try is still in flight) lands once, whether the copies
// meet in one group commit or in successive ones, and every copy gets the
// same result.
func TestConcurrentRetriesWriteOnce(t *testing.T) {
	s := newStore(t, pgstore.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	batch := []events.EventData{
		{ID: events.NewID("retry", "0"), Type: "R", Data: payload(0)},
		{ID: events.NewID("retry", "1"), Type: "R", Data: payload(1)},
	}
	for _, exp := range []events.ExpectedRevision{events.NoStream, events.Exact(1)} {
		if exp != events.NoStream {
			batch = []events.EventData{{Type: "R", Data: payload(2)}, {Type: "R", Data: payload(3)}} // derived IDs
		}
		const copies = 16
		results := make([]events.AppendResult, copies)
		errs := make([]error, copies)
		var wg sync.WaitGroup
		for i := range copies {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i], errs[i] = s.Append(ctx, "run-retry", exp, batch...)
			}()
		}
		wg.Wait()
		for i := range copies {
			if errs[i] != nil {
				t.Fatalf("expected %v: copy %d: %v", exp, i, errs[i])
			}
			if results[i].NextRevision != results[0].NextRevision || results[i].Position != results[0].Position {
				t.Fatalf("expected %v: copy %d got %+v, copy 0 %+v", exp, i, results[i], results[0])
			}
		}
	}
	got, err := s.ReadStream(ctx, "run-retry", events.Start, events.Forwards, 0)
	if err != nil || len(got) != 4 {
		t.Fatalf("stream holds %d events (%v), want 4", len(got), err)
	}
}

// NOTIFY is only a wake-up: when the LISTEN connections are killed, the
// stores listen again and wake their subscriptions, so another process's
// events are still delivered, here with a poll interval far longer than
// the test.
func TestSubscriptionSurvivesALostListenConnection(t *testing.T) {
	db := pgtest.Open(t, postgres.Options{})
	schema := pgtest.FreshSchema(t, db)
	writer := openStore(t, schema, pgstore.Options{PollInterval: time.Hour})
	reader := openStore(t, schema, pgstore.Options{PollInterval: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sub, err := reader.Subscribe(ctx, events.SubscribeOptions{FromEnd: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	next := func(want int) {
		t.Helper()
		// The reader waits first (for a wake-up: it has read everything),
		// then the writer appends.
		type delivery struct {
			e   events.RecordedEvent
			err error
		}
		delivered := make(chan delivery, 1)
		go func() {
			e, err := sub.Next(ctx)
			delivered <- delivery{e, err}
		}()
		time.Sleep(50 * time.Millisecond)
		if _, err := writer.Append(ctx, "run-listen", events.Any, events.EventData{Type: "E", Data: payload(want)}); err != nil {
			t.Fatal(err)
		}
		d := <-delivered
		e, err := d.e, d.err
		if err != nil {
			t.Fatalf("event %d: %v", want, err)
		}
		var got struct{ N int }
		if json.Unmarshal(e.Data, &got); got.N != want {
			t.Fatalf("got event %s, want %d", e.Data, want)
		}
	}
	next(1)
	var pids []int32
	if err := db.QueryRow(ctx, `SELECT array_agg(pid) FROM pg_stat_activity WHERE query = $1`,
		"LISTEN "+postgres.Ident("grimoire_events_"+schema)).Scan(&pids); err != nil || len(pids) != 2 {
		t.Fatalf("LISTEN connections: %v (%v), want the two stores'", pids, err)
	}
	if _, err := db.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid`, pids); err != nil {
		t.Fatal(err)
	}
	// Once they are gone, an event appended now can only reach the reader
	// through its new LISTEN connection or the wake-up that comes with it.
	for {
		var alive int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)`, pids).Scan(&alive); err != nil {
			t.Fatal(err)
		}
		if alive == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	next(2)
	next(3)
}
