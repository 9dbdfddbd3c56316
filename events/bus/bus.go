package bus

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/grimoire-run/grimoire/events"
)

// Topics. A topic carries every event of one kind of stream, in commit
// order; subscribers pick the runs they care about from the events
// themselves. See TopicOf.
const (
	// TopicRuns carries the events of every run-<runId> stream. Events of
	// one run arrive in the order they were committed.
	TopicRuns = "runs"
	// TopicSpells carries spell-<spellId> events (SpellSaved, SpellDeleted, SpellShared).
	TopicSpells = "spells"
	// TopicOther carries events of any other stream.
	TopicOther = "events"
)

// TopicOf returns the topic an event of stream is published on.
func TopicOf(stream string) string {
	switch {
	case strings.HasPrefix(stream, events.RunStreamPrefix):
		return TopicRuns
	case strings.HasPrefix(stream, events.SpellStreamPrefix):
		return TopicSpells
	}
	return TopicOther
}

// Message metadata keys. A bus message carries one or more committed
// events (NATS headers when the bus is JetStream): its payload is a JSON
// array of RecordedEvent, in commit order, and MetaEvents says how many.
// A message that carries a single event has that event's ID as its UUID
// and MetaStream, MetaPosition, MetaRevision and MetaType set; a message
// that carries several has a UUID derived from all their IDs (see
// EncodeMessage), so a retried publish of the same batch keeps its ID,
// and MetaStream when they all belong to one stream (a run's recorder
// publishes its own events together), so that a subscriber that does not
// want that stream skips the message without decoding it.
const (
	MetaEvents   = "grimoire-events"
	MetaStream   = "grimoire-stream"
	MetaPosition = "grimoire-position"
	MetaRevision = "grimoire-revision"
	MetaType     = "grimoire-type"
)

// EnvURL is the environment variable that selects the bus.
const EnvURL = "GRIMOIRE_BUS_URL"

// ErrClosed is returned by Publish and Subscribe after Close.
var ErrClosed = errors.New("event bus closed")

// Options configures a Bus. The zero value is an in-process bus.
type Options struct {
	// URL selects the transport: "" or "mem://" for the in-process
	// GoChannel, "nats://host:port" for NATS JetStream.
	URL string
	// Logger receives the bus's and Watermill's logs (default slog.Default()).
	Logger *slog.Logger
	// Buffer is the capacity of each subscription's channel (default 256).
	// A subscriber that lets its channel fill up slows publishing down
	// rather than losing events.
	Buffer int
	// MaxBatchBytes caps the payload of one bus message (default 512 KiB).
	// Publish sends the events of one call, and those of calls made at the
	// same time by other goroutines, as one Watermill message up to this
	// size; an event larger than this goes alone. With NATS it is lowered
	// to fit the server's max_payload.
	MaxBatchBytes int

	// NATSStream is the JetStream stream that holds bus messages, created
	// when missing (default "GRIMOIRE_EVENTS").
	NATSStream string
	// NATSSubjectPrefix is put before a topic to make its NATS subject
	// (default "grimoire.events."; the stream holds prefix + ">").
	NATSSubjectPrefix string
	// NATSMaxAge bounds how long JetStream keeps bus messages (default 1
	// hour): the store is the log of record, the stream only a transport.
	NATSMaxAge time.Duration
	// ConnectTimeout bounds connecting to NATS (default 5 seconds).
	ConnectTimeout time.Duration
}

// OptionsFromEnv returns Options with URL taken from GRIMOIRE_BUS_URL.
func OptionsFromEnv() Options { return Options{URL: os.Getenv(EnvURL)} }

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Buffer <= 0 {
		o.Buffer = 256
	}
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = 512 << 10
	}
	if o.NATSStream == "" {
		o.NATSStream = "GRIMOIRE_EVENTS"
	}
	if o.NATSSubjectPrefix == "" {
		o.NATSSubjectPrefix = "grimoire.events."
	}
	if !strings.HasSuffix(o.NATSSubjectPrefix, ".") {
		o.NATSSubjectPrefix += "."
	}
	if o.NATSMaxAge <= 0 {
		o.NATSMaxAge = time.Hour
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 5 * time.Second
	}
}

// Bus publishes committed events and delivers them to subscribers. It is
// safe for concurrent use. Events given to one Publish call, and events of
// successive Publish calls made one after the other, reach every subscriber
// of their topic in that order, each once.
//
// Publishing goes through one sender per topic: concurrent Publish calls
// queue their events and the sender sends everything queued as one
// Watermill message (group commit), so the number of messages, and of
// acknowledgements waited for, falls as the load rises instead of every
// event taking its turn.
type Bus struct {
	pub      message.Publisher
	sub      message.Subscriber
	topic    func(string) string // our topic -> Watermill topic
	log      *slog.Logger
	buffer   int
	maxBatch int
	kind     string
	lanes    [3]*lane // TopicRuns, TopicSpells, TopicOther

	// local: every subscriber is in this process (the GoChannel bus), so
	// Publish sends only the events some subscription wants. interests
	// holds those subscriptions' topics and filters (copied on write).
	local      bool
	interests  atomic.Pointer[[]*interest]
	interestMu sync.Mutex // serializes changes of interests

	mu      sync.RWMutex // Publish holds it shared, Subscribe and Close alone
	closed  bool
	closing chan struct{}
	stop    chan struct{}  // ends the senders, after every Publish returned
	wg      sync.WaitGroup // subscription forwarders
	pubs    sync.WaitGroup // Publish calls in progress
	senders sync.WaitGroup
}

// lane is one topic's publishing queue, drained by its sender in order.
type lane struct {
	topic   string // Watermill topic
	mu      sync.Mutex
	pending []*pubReq
	wake    chan struct{} // capacity 1
}

// pubReq is a run of events of one Publish call for one topic, encoded.
type pubReq struct {
	body
	done chan error // capacity 1: the sender never waits on it
}

// body is the content of one message being built: its events, and their
// JSON array without its closing bracket.
type body struct {
	evs     []events.RecordedEvent // for the message's ID and metadata
	payload []byte                 // "[" then the events' JSON, comma-separated
}

// add appends an event and its JSON.
func (b *body) add(e events.RecordedEvent, data []byte) {
	if len(b.payload) == 0 {
		b.payload = append(b.payload, '[')
	} else {
		b.payload = append(b.payload, ',')
	}
	b.payload = append(b.payload, data...)
	b.evs = append(b.evs, e)
}

// reserve makes room for the events evs (at most maxSize bytes of them),
// so that adding them does not grow the body step by step.
func (b *body) reserve(evs []events.RecordedEvent, maxSize int) {
	size, n := 1, 0
	for _, e := range evs {
		if size >= maxSize {
			break
		}
		size += encodedSizeHint + len(e.Stream) + len(e.ID) + len(e.Type) + len(e.Data) + len(e.Metadata)
		n++
	}
	b.evs = slices.Grow(b.evs, n)
	b.payload = slices.Grow(b.payload, min(size, maxSize))
}

// encodedSizeHint is about what an event's JSON takes besides its
// stream, ID, type, data and metadata (field names, numbers, time).
const encodedSizeHint = 160

// size is the length of the message's payload.
func (b *body) size() int { return len(b.payload) + 1 }

// eventEncoder encodes events to JSON into a buffer it reuses: the bytes
// it returns are valid until the next call.
type eventEncoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

func (e *eventEncoder) encode(ev events.RecordedEvent) ([]byte, error) {
	if e.enc == nil {
		e.enc = json.NewEncoder(&e.buf)
	}
	e.buf.Reset()
	if err := e.enc.Encode(ev); err != nil {
		return nil, fmt.Errorf("encode bus message for %s@%d: %w", ev.Stream, ev.Revision, err)
	}
	return bytes.TrimSuffix(e.buf.Bytes(), []byte{'\n'}), nil
}

// interest is what one subscription wants: a topic, and the streams that
// want accepts (nil: all of them).
type interest struct {
	topic string
	want  func(stream string) bool
}

func (i *interest) wants(stream string) bool {
	return TopicOf(stream) == i.topic && (i.want == nil || i.want(stream))
}

// newBus starts the senders of a bus over pub and sub.
func newBus(pub message.Publisher, sub message.Subscriber, topic func(string) string, opts Options, kind string) *Bus {
	b := &Bus{
		pub:      pub,
		sub:      sub,
		topic:    topic,
		log:      opts.Logger,
		buffer:   opts.Buffer,
		maxBatch: opts.MaxBatchBytes,
		kind:     kind,
		closing:  make(chan struct{}),
		stop:     make(chan struct{}),
	}
	for i, t := range []string{TopicRuns, TopicSpells, TopicOther} {
		b.lanes[i] = &lane{topic: topic(t), wake: make(chan struct{}, 1)}
		b.senders.Add(1)
		go b.send(b.lanes[i])
	}
	return b
}

func laneIndex(stream string) int {
	switch TopicOf(stream) {
	case TopicRuns:
		return 0
	case TopicSpells:
		return 1
	}
	return 2
}

// New opens the bus that opts.URL names.
func New(ctx context.Context, opts Options) (*Bus, error) {
	opts.setDefaults()
	wlog := watermill.NewSlogLoggerWithLevelMapping(opts.Logger.With("component", "watermill"), map[slog.Level]slog.Level{
		// Watermill logs every message to a topic nobody follows at Info.
		slog.LevelInfo: slog.LevelDebug,
	})
	switch {
	case opts.URL == "" || opts.URL == "mem://":
		return newGoChannel(opts, wlog), nil
	case strings.HasPrefix(opts.URL, "nats://") || strings.HasPrefix(opts.URL, "tls://"):
		return newNATS(ctx, opts, wlog)
	}
	return nil, fmt.Errorf("event bus %q: unknown scheme (use mem:// or nats://host:4222 in %s)", opts.URL, EnvURL)
}

// Kind says which transport the bus uses: "gochannel" or "nats-jetstream".
func (b *Bus) Kind() string { return b.kind }

// Publish sends events to the subscribers of their topics (TopicOf their
// stream), in the order given, and returns once every subscription of
// their topic has taken them off the transport (NATS: once JetStream has
// stored them). Call it only with committed events. A full subscription
// holds Publish back.
// When ctx ends first Publish returns its error, and the events may still
// be delivered.
func (b *Bus) Publish(ctx context.Context, evs ...events.RecordedEvent) error {
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return ErrClosed
	}
	b.pubs.Add(1)
	b.mu.RUnlock()
	defer b.pubs.Done()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	if b.local {
		// Nobody outside this process can subscribe: what no subscription
		// here wants is neither encoded nor sent.
		if evs = b.wantedHere(evs); len(evs) == 0 {
			return nil
		}
	}

	// Encode here, in the callers' goroutines, and cut each topic's events
	// into requests no larger than a message.
	var perLane [len(b.lanes)][]*pubReq
	var enc eventEncoder
	for k, e := range evs {
		data, err := enc.encode(e)
		if err != nil {
			return err
		}
		i := laneIndex(e.Stream)
		reqs := perLane[i]
		if len(reqs) == 0 || reqs[len(reqs)-1].size()+len(data)+1 > b.maxBatch {
			r := &pubReq{done: make(chan error, 1)}
			r.reserve(evs[k:], b.maxBatch)
			reqs = append(reqs, r)
			perLane[i] = reqs
		}
		reqs[len(reqs)-1].add(e, data)
	}
	for i, reqs := range perLane {
		if len(reqs) == 0 {
			continue
		}
		l := b.lanes[i]
		l.mu.Lock()
		l.pending = append(l.pending, reqs...)
		l.mu.Unlock()
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
	var first error
	for _, reqs := range perLane {
		for _, r := range reqs {
			select {
			case err := <-r.done:
				if err != nil && first == nil {
					first = err
				}
			case <-ctx.Done():
				return fmt.Errorf("publish: %w", ctx.Err())
			}
		}
	}
	return first
}

// wantedHere returns the events that at least one subscription of this
// process wants (evs itself when that is all of them).
func (b *Bus) wantedHere(evs []events.RecordedEvent) []events.RecordedEvent {
	var interests []*interest
	if p := b.interests.Load(); p != nil {
		interests = *p
	}
	wanted := func(e events.RecordedEvent) bool {
		for _, in := range interests {
			if in.wants(e.Stream) {
				return true
			}
		}
		return false
	}
	for i, e := range evs {
		if wanted(e) {
			continue
		}
		kept := slices.Clone(evs[:i])
		for _, e := range evs[i+1:] {
			if wanted(e) {
				kept = append(kept, e)
			}
		}
		return kept
	}
	return evs
}

// addInterest records a subscription's interest; the returned function
// removes it.
func (b *Bus) addInterest(in *interest) (remove func()) {
	b.interestMu.Lock()
	defer b.interestMu.Unlock()
	var cur []*interest
	if p := b.interests.Load(); p != nil {
		cur = *p
	}
	next := append(slices.Clip(cur), in)
	b.interests.Store(&next)
	return func() {
		b.interestMu.Lock()
		defer b.interestMu.Unlock()
		next := slices.DeleteFunc(slices.Clone(*b.interests.Load()), func(x *interest) bool { return x == in })
		b.interests.Store(&next)
	}
}

// send is a lane's sender: it takes everything queued and sends it in as
// few messages as the size cap allows, one after the other, until Close.
func (b *Bus) send(l *lane) {
	defer b.senders.Done()
	var batch []*pubReq
	for {
		select {
		case <-l.wake:
		case <-b.stop:
			// Close waited for every Publish call to return: whatever is
			// left was given up by its caller.
			return
		}
		for {
			l.mu.Lock()
			batch = append(batch[:0], l.pending...)
			clear(l.pending)
			l.pending = l.pending[:0]
			l.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			for lo := 0; lo < len(batch); {
				hi, size := lo+1, batch[lo].size()
				for hi < len(batch) && size+batch[hi].size() <= b.maxBatch {
					size += batch[hi].size()
					hi++
				}
				err := b.sendGroup(l.topic, batch[lo:hi], size)
				for _, r := range batch[lo:hi] {
					r.done <- err
				}
				lo = hi
			}
			clear(batch)
		}
	}
}

// sendGroup publishes the events of reqs as one message.
// size is at least the sum of their bodies' sizes.
func (b *Bus) sendGroup(topic string, reqs []*pubReq, size int) error {
	all := reqs[0].body
	if len(reqs) > 1 {
		n := 0
		for _, r := range reqs {
			n += len(r.evs)
		}
		all = body{evs: make([]events.RecordedEvent, 0, n), payload: make([]byte, 0, size)}
		for _, r := range reqs {
			all.payload = append(append(all.payload, ','), r.payload[1:]...)
			all.evs = append(all.evs, r.evs...)
		}
		all.payload[0] = '['
	}
	n := len(all.evs)
	m := all.message()
	if err := b.pub.Publish(topic, m); err != nil {
		select {
		case <-b.closing:
			return fmt.Errorf("publish %d events to %q: %w (%v)", n, topic, ErrClosed, err)
		default:
		}
		return fmt.Errorf("publish %d events to %q: %w", n, topic, err)
	}
	return nil
}

// Subscribe delivers the events published on topic from now on, until ctx
// is done or the bus is closed; then the channel is closed. Consume the
// channel promptly: a full channel holds publishing back.
func (b *Bus) Subscribe(ctx context.Context, topic string) (<-chan events.RecordedEvent, error) {
	return b.SubscribeWhere(ctx, topic, nil)
}

// SubscribeWhere is Subscribe for the events of the streams that want
// accepts (nil accepts all). want is asked as each message arrives, before
// the message is decoded: a message of one stream that want refuses costs
// no decoding. On the in-process bus it is also asked by Publish, which
// does not even encode what no subscription wants. want may be called
// from several goroutines at once.
func (b *Bus) SubscribeWhere(ctx context.Context, topic string, want func(stream string) bool) (<-chan events.RecordedEvent, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, ErrClosed
	}
	b.wg.Add(1)
	b.mu.Unlock()

	removeInterest := b.addInterest(&interest{topic: topic, want: want})
	subCtx, cancel := context.WithCancel(ctx)
	in, err := b.sub.Subscribe(subCtx, b.topic(topic))
	if err != nil {
		cancel()
		removeInterest()
		b.wg.Done()
		return nil, fmt.Errorf("subscribe to %q: %w", topic, err)
	}
	out := make(chan events.RecordedEvent, b.buffer)
	go func() {
		defer b.wg.Done()
		defer close(out)
		defer cancel()
		defer removeInterest()
		var seen dedup
		for {
			select {
			case <-subCtx.Done():
				return
			case <-b.closing:
				return
			case m, ok := <-in:
				if !ok {
					return
				}
				// Ack as soon as the message is read, before decoding it
				// and handing its events over, so that the publisher sends
				// the next message while this one is decoded. Order holds:
				// the transport hands this forwarder the next message only
				// after this ack (the GoChannel publisher waits for it, the
				// NATS consumer delivers one at a time), and this goroutine
				// forwards in the order it reads. Back-pressure holds too:
				// while out is full this loop reads nothing, so the next
				// message waits, unacked, and so does its publisher.
				m.Ack()
				// A message of one stream is judged once, before decoding;
				// the events of a mixed one each.
				judge := want
				if stream := m.Metadata.Get(MetaStream); want != nil && stream != "" {
					if !want(stream) {
						continue
					}
					judge = nil
				}
				evs, err := DecodeMessage(m)
				if err != nil {
					b.log.Warn("dropping undecodable bus message", "topic", topic, "message", m.UUID, "err", err)
					continue
				}
				for _, ev := range evs {
					if seen.again(ev) || judge != nil && !judge(ev.Stream) {
						continue
					}
					select {
					case out <- ev:
					case <-subCtx.Done():
						return
					case <-b.closing:
						return
					}
				}
			}
		}
	}()
	return out, nil
}

// dedup drops events a subscription has already delivered: a publish
// retried with different batching (JetStream's duplicate window only
// knows message IDs), a JetStream redelivery, a resumed run publishing
// again what its previous recorder had. A stream's events arrive in
// revision order, so it remembers the next revision of each recent stream,
// in two generations of dedupStreams streams.
type dedup struct {
	cur, old map[string]uint64
}

const dedupStreams = 4096

// again reports whether e was delivered already, and notes it otherwise.
func (d *dedup) again(e events.RecordedEvent) bool {
	if d.cur == nil {
		d.cur = make(map[string]uint64)
	}
	next, inCur := d.cur[e.Stream]
	ok := inCur
	if !ok {
		next, ok = d.old[e.Stream]
	}
	if ok && e.Revision < next {
		return true
	}
	if !inCur && len(d.cur) >= dedupStreams {
		d.old, d.cur = d.cur, make(map[string]uint64, dedupStreams)
	}
	d.cur[e.Stream] = e.Revision + 1
	return false
}

// Close stops the bus: subscriptions' channels are closed, Publish and
// Subscribe fail with ErrClosed. No goroutine of the bus outlives Close.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	close(b.closing)
	b.mu.Unlock()

	// Subscriptions first: their forwarders stop reading, and closing the
	// subscriber releases a GoChannel publish waiting for them. The
	// senders keep serving until every Publish call has returned.
	errSub := b.sub.Close()
	b.wg.Wait()
	b.pubs.Wait()
	close(b.stop)
	b.senders.Wait()
	errPub := b.pub.Close()
	if err := errors.Join(errSub, errPub); err != nil {
		return fmt.Errorf("close %s bus: %w", b.kind, err)
	}
	return nil
}

// EncodeMessage turns committed events into one Watermill message, the
// form Publish sends: see MetaEvents.
func EncodeMessage(evs ...events.RecordedEvent) (*message.Message, error) {
	if len(evs) == 0 {
		return nil, errors.New("encode bus message: no events")
	}
	var (
		all body
		enc eventEncoder
	)
	for _, e := range evs {
		data, err := enc.encode(e)
		if err != nil {
			return nil, err
		}
		all.add(e, data)
	}
	return all.message(), nil
}

// message closes the body's JSON array and builds the message carrying it.
func (b *body) message() *message.Message {
	payload := append(b.payload, ']')
	evs := b.evs
	if len(evs) == 1 {
		e := evs[0]
		m := message.NewMessage(e.ID, payload)
		m.Metadata.Set(MetaEvents, "1")
		m.Metadata.Set(MetaStream, e.Stream)
		m.Metadata.Set(MetaPosition, strconv.FormatUint(e.Position, 10))
		m.Metadata.Set(MetaRevision, strconv.FormatUint(e.Revision, 10))
		m.Metadata.Set(MetaType, e.Type)
		return m
	}
	ids := make([]string, len(evs))
	oneStream := true
	for i, e := range evs {
		ids[i] = e.ID
		oneStream = oneStream && e.Stream == evs[0].Stream
	}
	m := message.NewMessage(batchID(ids), payload)
	m.Metadata.Set(MetaEvents, strconv.Itoa(len(evs)))
	if oneStream {
		m.Metadata.Set(MetaStream, evs[0].Stream)
	}
	return m
}

// batchID is the message ID of a message carrying events with these IDs:
// the same events batched the same way get the same ID, which is what
// JetStream's duplicate window needs.
func batchID(ids []string) string {
	h := sha256.New()
	for _, id := range ids {
		h.Write([]byte(id))
		h.Write([]byte{'\n'})
	}
	return "batch-" + hex.EncodeToString(h.Sum(nil)[:16])
}

// DecodeMessage reads the events of a message written by EncodeMessage
// (or, from an older publisher, one event as a JSON object).
func DecodeMessage(m *message.Message) ([]events.RecordedEvent, error) {
	body := bytes.TrimLeft(m.Payload, " \t\r\n")
	var evs []events.RecordedEvent
	if len(body) > 0 && body[0] == '{' {
		var e events.RecordedEvent
		if err := json.Unmarshal(body, &e); err != nil {
			return nil, fmt.Errorf("decode bus message %s: %w", m.UUID, err)
		}
		evs = []events.RecordedEvent{e}
	} else if err := json.Unmarshal(body, &evs); err != nil {
		return nil, fmt.Errorf("decode bus message %s: %w", m.UUID, err)
	}
	if len(evs) == 0 {
		return nil, fmt.Errorf("decode bus message %s: no events", m.UUID)
	}
	if n := m.Metadata.Get(MetaEvents); n != "" && n != strconv.Itoa(len(evs)) {
		return nil, fmt.Errorf("decode bus message %s: %d events, its %s header says %s", m.UUID, len(evs), MetaEvents, n)
	}
	ids := make([]string, len(evs))
	stream := m.Metadata.Get(MetaStream)
	for i, e := range evs {
		if e.Stream == "" || e.Type == "" {
			return nil, fmt.Errorf("decode bus message %s: event %d has no stream or type: not a Grimoire event", m.UUID, i)
		}
		if stream != "" && e.Stream != stream {
			// Subscribers skip messages by this header: it must not lie.
			return nil, fmt.Errorf("decode bus message %s: event %d is of stream %q, its %s header says %q", m.UUID, i, e.Stream, MetaStream, stream)
		}
		ids[i] = e.ID
	}
	if m.UUID != "" {
		want := evs[0].ID
		if len(evs) > 1 {
			want = batchID(ids)
		}
		if m.UUID != want {
			return nil, fmt.Errorf("decode bus message %s: its events' ids do not match the message id", m.UUID)
		}
	}
	return evs, nil
}
