package bus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"

	"github.com/grimoire-run/grimoire/events"
)

// runEvents makes n committed-looking events for each of runs runs.
func runEvents(runs, n int) [][]events.RecordedEvent {
	out := make([][]events.RecordedEvent, runs)
	pos := uint64(0)
	for r := range runs {
		runID := fmt.Sprintf("r%02d", r)
		for i := range n {
			pos++
			out[r] = append(out[r], events.RecordedEvent{
				Stream:        events.RunStream(runID),
				Revision:      uint64(i),
				Position:      pos,
				ID:            events.RunEventID(runID, uint64(i+1)),
				Type:          events.TypeNodeCompleted,
				SchemaVersion: 1,
				Data:          []byte(fmt.Sprintf(`{"runId":%q,"seq":%d}`, runID, i+1)),
				Time:          time.Unix(1700000000, 0).UTC(),
			})
		}
	}
	return out
}

// publishConcurrently publishes each run's events from its own goroutine,
// in batches of random size, all runs at once.
func publishConcurrently(t *testing.T, b *Bus, runs [][]events.RecordedEvent) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(runs))
	for r, evs := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 7))
			for len(evs) > 0 {
				k := min(1+rng.IntN(8), len(evs))
				if err := b.Publish(context.Background(), evs[:k]...); err != nil {
					errs <- err
					return
				}
				evs = evs[k:]
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// collect reads want events from ch and checks that every run's events
// arrive complete, once each and in revision order.
func collect(ch <-chan events.RecordedEvent, runs [][]events.RecordedEvent, timeout time.Duration) error {
	want := 0
	for _, r := range runs {
		want += len(r)
	}
	next := map[string]uint64{}
	deadline := time.After(timeout)
	for got := 0; got < want; got++ {
		select {
		case e, ok := <-ch:
			if !ok {
				return fmt.Errorf("subscription closed after %d of %d events", got, want)
			}
			if e.Revision != next[e.Stream] {
				return fmt.Errorf("%s: got revision %d, want %d (events of a run out of order, lost or duplicated)", e.Stream, e.Revision, next[e.Stream])
			}
			if e.ID != events.RunEventID(e.Stream[len(events.RunStreamPrefix):], e.Revision+1) {
				return fmt.Errorf("%s@%d: id %s is not the published one", e.Stream, e.Revision, e.ID)
			}
			next[e.Stream]++
		case <-deadline:
			return fmt.Errorf("timed out after %d of %d events", got, want)
		}
	}
	for r, evs := range runs {
		if s := evs[0].Stream; next[s] != uint64(len(evs)) {
			return fmt.Errorf("run %d: got %d events, want %d", r, next[s], len(evs))
		}
	}
	return nil
}

func TestInProcessBusKeepsEachRunInOrderUnderConcurrency(t *testing.T) {
	b, err := New(context.Background(), Options{Buffer: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const subscribers = 3
	subs := make([]<-chan events.RecordedEvent, subscribers)
	for i := range subs {
		if subs[i], err = b.Subscribe(ctx, TopicRuns); err != nil {
			t.Fatal(err)
		}
	}
	spells, err := b.Subscribe(ctx, TopicSpells)
	if err != nil {
		t.Fatal(err)
	}

	runs := runEvents(16, 300)
	var wg sync.WaitGroup
	for _, ch := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := collect(ch, runs, 20*time.Second); err != nil {
				t.Error(err)
			}
		}()
	}
	publishConcurrently(t, b, runs)
	wg.Wait()
	select {
	case e := <-spells:
		t.Fatalf("spells subscriber got run event %s@%d", e.Stream, e.Revision)
	default:
	}
}

func TestSubscriptionEndsWithItsContextAndTheBus(t *testing.T) {
	b, err := New(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := b.Subscribe(ctx, TopicRuns)
	if err != nil {
		t.Fatal(err)
	}
	keep, err := b.Subscribe(context.Background(), TopicRuns)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	waitClosed(t, ch)

	// Publishing with a cancelled subscriber still reaches the others.
	ev := runEvents(1, 1)[0][0]
	if err := b.Publish(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if got := <-keep; got.ID != ev.ID {
		t.Fatalf("got %s, want %s", got.ID, ev.ID)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, keep)
	if err := b.Publish(context.Background(), ev); !errors.Is(err, ErrClosed) {
		t.Fatalf("Publish after Close: %v, want ErrClosed", err)
	}
	if _, err := b.Subscribe(context.Background(), TopicRuns); !errors.Is(err, ErrClosed) {
		t.Fatalf("Subscribe after Close: %v, want ErrClosed", err)
	}
}

func waitClosed(t *testing.T, ch <-chan events.RecordedEvent) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("subscription channel not closed")
		}
	}
}

func TestUnknownBusURLSaysWhatToUse(t *testing.T) {
	_, err := New(context.Background(), Options{URL: "kafka://x"})
	if err == nil {
		t.Fatal("want an error")
	}
}

func TestTopicOf(t *testing.T) {
	for stream, want := range map[string]string{
		"run-01H":     TopicRuns,
		"spell-greet": TopicSpells,
		"users":       TopicOther,
	} {
		if got := TopicOf(stream); got != want {
			t.Errorf("TopicOf(%q) = %q, want %q", stream, got, want)
		}
	}
}

const testNATSURL = "nats://127.0.0.1:4222"

// natsURL returns the NATS to test against, failing in CI when it is not
// there and skipping elsewhere.
func natsURL(t testing.TB) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:4222", time.Second)
	if err == nil {
		c.Close()
		return testNATSURL
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("NATS JetStream is not running at 127.0.0.1:4222 (start nats-server -js): %v", err)
	}
	t.Skipf("NATS JetStream is not running at 127.0.0.1:4222 (start nats-server -js to run this test): %v", err)
	return ""
}

func TestNATSBusDeliversEachRunInOrderToAnotherInstance(t *testing.T) {
	url := natsURL(t)
	suffix := fmt.Sprintf("%d%d", time.Now().UnixNano(), rand.IntN(1000))
	opts := Options{
		URL:               url,
		NATSStream:        "GRIMOIRE_TEST_" + suffix,
		NATSSubjectPrefix: "grimoiretest." + suffix + ".",
		NATSMaxAge:        time.Minute,
	}
	t.Cleanup(func() {
		nc, err := nats.Connect(url)
		if err != nil {
			return
		}
		defer nc.Close()
		if js, err := nc.JetStream(); err == nil {
			_ = js.DeleteStream(opts.NATSStream)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	publisher, err := New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer publisher.Close()
	follower, err := New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer follower.Close()
	if follower.Kind() != "nats-jetstream" {
		t.Fatalf("kind %q", follower.Kind())
	}

	ch, err := follower.Subscribe(ctx, TopicRuns)
	if err != nil {
		t.Fatal(err)
	}
	runs := runEvents(8, 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := collect(ch, runs, 20*time.Second); err != nil {
			t.Error(err)
		}
	}()
	publishConcurrently(t, publisher, runs)
	// A retried publish of events already sent is dropped by JetStream's
	// duplicate window: the follower sees each event once.
	if err := publisher.Publish(ctx, runs[0][:5]...); err != nil {
		t.Fatal(err)
	}
	<-done
	select {
	case e := <-ch:
		t.Fatalf("duplicate delivery of %s@%d after a retried publish", e.Stream, e.Revision)
	case <-time.After(200 * time.Millisecond):
	}
}

func FuzzDecodeMessage(f *testing.F) {
	evs := runEvents(2, 2)
	one, _ := EncodeMessage(evs[0][0])
	f.Add(one.UUID, []byte(one.Payload))
	many, _ := EncodeMessage(evs[0][0], evs[1][0], evs[0][1])
	f.Add(many.UUID, []byte(many.Payload))
	f.Add("", []byte(`{"stream":"run-x","type":"T"}`))
	f.Add("", []byte(`[{"stream":"run-x","type":"T"},{"stream":"run-y","type":"T","revision":3}]`))
	f.Add("x", []byte(`not json`))
	f.Add("x", []byte(`[]`))
	f.Fuzz(func(t *testing.T, id string, payload []byte) {
		got, err := DecodeMessage(message.NewMessage(id, payload))
		if err != nil {
			return
		}
		m, err := EncodeMessage(got...)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		again, err := DecodeMessage(m)
		if err != nil {
			t.Fatalf("decode of re-encoded message: %v", err)
		}
		if len(again) != len(got) {
			t.Fatalf("round trip changed the number of events: %d vs %d", len(got), len(again))
		}
		for i, e := range got {
			a := again[i]
			if a.Stream != e.Stream || a.ID != e.ID || a.Position != e.Position || a.Revision != e.Revision || a.Type != e.Type {
				t.Fatalf("round trip changed event %d: %+v vs %+v", i, e, a)
			}
		}
	})
}

func TestMessagesCarryBatchesAndOlderSingleEventMessagesStillDecode(t *testing.T) {
	evs := runEvents(2, 3)
	batch := []events.RecordedEvent{evs[0][0], evs[1][0], evs[0][1]}
	m, err := EncodeMessage(batch...)
	if err != nil {
		t.Fatal(err)
	}
	if m.Metadata.Get(MetaEvents) != "3" {
		t.Fatalf("%s = %q, want 3", MetaEvents, m.Metadata.Get(MetaEvents))
	}
	again, err := EncodeMessage(batch...)
	if err != nil {
		t.Fatal(err)
	}
	if m.UUID != again.UUID {
		t.Fatalf("the same batch got two message ids %s and %s: a retried publish would not be deduplicated", m.UUID, again.UUID)
	}
	got, err := DecodeMessage(m)
	if err != nil {
		t.Fatal(err)
	}
	for i := range batch {
		if got[i].ID != batch[i].ID {
			t.Fatalf("event %d: %s, want %s", i, got[i].ID, batch[i].ID)
		}
	}
	single, _ := EncodeMessage(evs[0][2])
	if single.UUID != evs[0][2].ID || single.Metadata.Get(MetaStream) != evs[0][2].Stream {
		t.Fatalf("single-event message: id %s, stream %q", single.UUID, single.Metadata.Get(MetaStream))
	}

	// A message from a publisher of the previous format: one event as an object.
	legacy := message.NewMessage(evs[1][1].ID, []byte(`{"stream":"run-r01","revision":1,"id":"`+evs[1][1].ID+`","type":"NodeCompleted"}`))
	got, err = DecodeMessage(legacy)
	if err != nil || len(got) != 1 || got[0].Revision != 1 {
		t.Fatalf("legacy message: %+v, %v", got, err)
	}

	for name, m := range map[string]*message.Message{
		"tampered id":    message.NewMessage("batch-0000", m.Payload),
		"empty batch":    message.NewMessage("", []byte(`[]`)),
		"not an event":   message.NewMessage("", []byte(`[{"stream":"run-x"}]`)),
		"count differs":  func() *message.Message { c := m.Copy(); c.Metadata.Set(MetaEvents, "2"); return c }(),
		"stream differs": func() *message.Message { c := m.Copy(); c.Metadata.Set(MetaStream, evs[0][0].Stream); return c }(),
	} {
		if _, err := DecodeMessage(m); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

func TestRepublishedEventsReachASubscriptionOnce(t *testing.T) {
	b, ctx := openMemBus(t)
	ch, err := b.Subscribe(ctx, TopicRuns)
	if err != nil {
		t.Fatal(err)
	}
	evs := runEvents(1, 6)[0]
	for _, batch := range [][]events.RecordedEvent{evs[:3], evs[1:4], evs[:6]} {
		if err := b.Publish(ctx, batch...); err != nil {
			t.Fatal(err)
		}
	}
	receiveStream(ctx, t, ch, evs[0].Stream, 6)
	select {
	case e := <-ch:
		t.Fatalf("event %s@%d delivered twice", e.Stream, e.Revision)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestPublishCutsLargeBatchesAndKeepsOrder(t *testing.T) {
	b, err := New(context.Background(), Options{MaxBatchBytes: 600, Buffer: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ch, err := b.Subscribe(ctx, TopicRuns)
	if err != nil {
		t.Fatal(err)
	}
	runs := runEvents(1, 50)
	done := make(chan error, 1)
	go func() { done <- collect(ch, runs, 10*time.Second) }()
	if err := b.Publish(ctx, runs[0]...); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestSlowSubscriberHoldsPublishBack(t *testing.T) {
	b, err := New(context.Background(), Options{Buffer: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ch, err := b.Subscribe(ctx, TopicRuns)
	if err != nil {
		t.Fatal(err)
	}
	evs := runEvents(1, 20)[0]
	// Nobody reads: after a buffer's worth and a message in hand, Publish waits.
	published := make(chan int, len(evs))
	go func() {
		for i := range evs {
			if err := b.Publish(ctx, evs[i]); err != nil {
				return
			}
			published <- i
		}
	}()
	time.Sleep(200 * time.Millisecond)
	if n := len(published); n >= len(evs) {
		t.Fatalf("all %d publishes returned while the subscriber read nothing: events would be lost", n)
	}
	receiveStream(ctx, t, ch, evs[0].Stream, uint64(len(evs)))
}

func TestCloseReleasesAPublishHeldBackByASubscriberThatStoppedReading(t *testing.T) {
	b, err := New(context.Background(), Options{Buffer: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Subscribe(context.Background(), TopicRuns); err != nil {
		t.Fatal(err)
	}
	evs := runEvents(1, 10)[0]
	returned := make(chan error, 1)
	go func() {
		for i := range evs {
			if err := b.Publish(context.Background(), evs[i]); err != nil {
				returned <- err
				return
			}
		}
		returned <- nil
	}()
	time.Sleep(100 * time.Millisecond)
	closed := make(chan error, 1)
	go func() { closed <- b.Close() }()
	for name, ch := range map[string]chan error{"Close": closed, "Publish": returned} {
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s still blocked 5s after Close", name)
		}
	}
	if err := b.Publish(context.Background(), evs[0]); !errors.Is(err, ErrClosed) {
		t.Fatalf("Publish after Close: %v, want ErrClosed", err)
	}
}

// A subscription that wants some streams gets all of their events, none of
// the others, and does not decode a message of a stream it does not want:
// here such a message is undecodable, and nothing warns about it.
func TestSubscribeWhereSkipsUnwantedStreamsBeforeDecoding(t *testing.T) {
	var logs strings.Builder
	var logMu sync.Mutex
	b, err := New(context.Background(), Options{Logger: slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	evs := runEvents(3, 4)
	wanted := evs[1][0].Stream
	ch, err := b.SubscribeWhere(ctx, TopicRuns, func(stream string) bool { return stream == wanted })
	if err != nil {
		t.Fatal(err)
	}
	all, err := b.Subscribe(ctx, TopicRuns)
	if err != nil {
		t.Fatal(err)
	}

	garbage := message.NewMessage("batch-garbage", []byte(`not json`))
	garbage.Metadata.Set(MetaStream, evs[0][0].Stream)
	if err := b.pub.Publish(b.topic(TopicRuns), garbage); err != nil {
		t.Fatal(err)
	}
	for _, batch := range [][]events.RecordedEvent{
		evs[0],                            // one unwanted stream
		evs[1][:2],                        // the wanted one
		{evs[2][0], evs[1][2], evs[2][1]}, // mixed: only the wanted event passes
		{evs[1][3]},                       // a single event
	} {
		if err := b.Publish(ctx, batch...); err != nil {
			t.Fatal(err)
		}
	}
	receiveStream(ctx, t, ch, wanted, 4)
	// The unfiltered subscription saw (and warned about) the garbage and
	// got every event; by then the filtered one has read all messages.
	for range 4 + 2 + 3 + 1 - 1 {
		select {
		case <-all:
		case <-ctx.Done():
			t.Fatal("the unfiltered subscription lost events")
		}
	}
	select {
	case e := <-ch:
		t.Fatalf("an unwanted event got through: %s@%d", e.Stream, e.Revision)
	case <-time.After(100 * time.Millisecond):
	}
	logMu.Lock()
	defer logMu.Unlock()
	if n := strings.Count(logs.String(), "dropping undecodable bus message"); n != 1 {
		t.Fatalf("%d warnings about the undecodable message, want 1 (from the unfiltered subscription only):\n%s", n, logs.String())
	}
}

// openMemBus opens an in-process bus closed at the end of the test, and
// a context for the test's calls.
func openMemBus(t *testing.T) (*Bus, context.Context) {
	t.Helper()
	b, err := New(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return b, ctx
}

// receiveStream expects the next n events on ch to be revisions 0..n-1 of
// stream.
func receiveStream(ctx context.Context, t *testing.T, ch <-chan events.RecordedEvent, stream string, n uint64) {
	t.Helper()
	for want := range n {
		select {
		case e := <-ch:
			if e.Stream != stream || e.Revision != want {
				t.Fatalf("got %s@%d, want %s@%d", e.Stream, e.Revision, stream, want)
			}
		case <-ctx.Done():
			t.Fatalf("event %d of %s never arrived", want, stream)
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// The in-process bus has no subscriber outside this process, so Publish
// sends only the events that a subscription here wants: none at all when
// nobody wants them, the wanted ones out of a mixed call.
func TestInProcessBusSendsOnlyWhatASubscriptionWants(t *testing.T) {
	b, ctx := openMemBus(t)
	// Watch the transport itself, below the bus's own subscriptions.
	raw, err := b.sub.Subscribe(ctx, b.topic(TopicRuns))
	if err != nil {
		t.Fatal(err)
	}
	evs := runEvents(2, 3)
	wanted := evs[1][0].Stream
	ch, err := b.SubscribeWhere(ctx, TopicRuns, func(stream string) bool { return stream == wanted })
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, evs[0]...); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-raw:
		t.Fatalf("events nobody wants were sent: %s", m.Payload)
	case <-time.After(100 * time.Millisecond):
	}
	mixed := []events.RecordedEvent{evs[0][0], evs[1][0], evs[0][1], evs[1][1]}
	published := make(chan error, 1)
	go func() { published <- b.Publish(ctx, mixed...) }() // waits for raw's ack
	select {
	case m := <-raw:
		m.Ack()
		got, err := DecodeMessage(m)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].ID != evs[1][0].ID || got[1].ID != evs[1][1].ID {
			t.Fatalf("sent %d events %v, want the 2 of %s", len(got), got, wanted)
		}
	case <-ctx.Done():
		t.Fatal("the wanted events were not sent")
	}
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	receiveStream(ctx, t, ch, wanted, 2)
}
