package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/server/protocol"
	"github.com/grimoire-run/grimoire/server/socket"
)

// feeds delivers run events to subscribers (sockets, SSE streams). Each
// subscriber has its own cursor, the last seq it got: an event at or below
// it is a duplicate and dropped, one past a gap first has the gap filled
// from the store. So every subscriber sees every event of its run exactly
// once and in order, however the bus delivered them.
type feeds struct {
	store   events.Store
	log     *slog.Logger
	metrics *metrics

	mu   sync.Mutex
	runs map[string]*runFeed
}

type runFeed struct {
	runID string
	subs  map[*subscription]struct{}

	completedOnce sync.Once
	completed     *runMessage // run:completed with its node results
}

// runMessage is one run message on its way to every subscriber that gets
// it: its JSON and its Socket.IO event are encoded at most once, however
// many sockets and streams receive it.
type runMessage struct {
	protocol.Message

	jsonOnce sync.Once
	json     []byte
	jsonErr  error

	eventOnce sync.Once
	event     *socket.Event
	eventErr  error
}

func newRunMessage(m protocol.Message) *runMessage { return &runMessage{Message: m} }

// encoded is the message as JSON.
func (m *runMessage) encoded() ([]byte, error) {
	m.jsonOnce.Do(func() { m.json, m.jsonErr = json.Marshal(m.Message) })
	return m.json, m.jsonErr
}

// socketEvent is the message as the Socket.IO event named by its type.
func (m *runMessage) socketEvent() (*socket.Event, error) {
	m.eventOnce.Do(func() {
		raw, err := m.encoded()
		if err != nil {
			m.eventErr = err
			return
		}
		m.event, m.eventErr = socket.NewEncodedEvent(m.Type, raw)
	})
	return m.event, m.eventErr
}

// subscription is one subscriber's cursor on one run.
type subscription struct {
	f    *feeds
	feed *runFeed
	send func(*runMessage) error
	// done is closed after the run's terminal message was sent, or when
	// the subscription is cancelled.
	done chan struct{}

	mu     sync.Mutex
	last   uint64
	closed bool
}

func newFeeds(store events.Store, log *slog.Logger, m *metrics) *feeds {
	return &feeds{store: store, log: log, metrics: m, runs: map[string]*runFeed{}}
}

// subscribe follows a run from after seq afterSeq: first what the store
// already holds, then live events. send is called from one goroutine at a
// time, in seq order.
func (f *feeds) subscribe(ctx context.Context, runID string, afterSeq uint64, send func(*runMessage) error) (*subscription, error) {
	f.mu.Lock()
	feed := f.runs[runID]
	if feed == nil {
		feed = &runFeed{runID: runID, subs: map[*subscription]struct{}{}}
		f.runs[runID] = feed
	}
	sub := &subscription{f: f, feed: feed, send: send, done: make(chan struct{}), last: afterSeq}
	// Hold the cursor while catching up: live events wait for it and are
	// then deduplicated, so nothing slips between the two phases.
	sub.mu.Lock()
	feed.subs[sub] = struct{}{}
	f.mu.Unlock()
	err := sub.catchUpLocked(ctx, 0)
	if err == nil && !sub.closed {
		err = sub.endIfFinishedLocked(ctx)
	}
	sub.mu.Unlock()
	if err != nil {
		sub.cancel()
		return nil, err
	}
	return sub, nil
}

// watching reports whether a stream may have subscribers here: a run
// somebody follows, or a stream that is not a run's. Most run events have
// none (REST runs, runs nobody watches): the bus skips them before
// decoding, and the in-process bus does not even encode them. A run
// followed later loses nothing: its subscriber
// reads from the store what was committed before it joined.
func (f *feeds) watching(stream string) bool {
	runID, ok := strings.CutPrefix(stream, events.RunStreamPrefix)
	if !ok {
		return true
	}
	f.mu.Lock()
	_, watched := f.runs[runID]
	f.mu.Unlock()
	return watched
}

// publish hands a committed event from the bus to the run's subscribers,
// decoded once and encoded at most once for all of them. The bus
// subscription asks watching first, so e is of a watched stream.
func (f *feeds) publish(e events.RecordedEvent) {
	pm, ok, err := protocol.FromEvent(e)
	if err != nil {
		f.log.Warn("undecodable run event", "stream", e.Stream, "type", e.Type, "err", err)
		return
	}
	if !ok {
		return
	}
	m := newRunMessage(pm)
	f.mu.Lock()
	feed := f.runs[m.RunID]
	var subs []*subscription
	if feed != nil {
		subs = make([]*subscription, 0, len(feed.subs))
		for s := range feed.subs {
			subs = append(subs, s)
		}
	}
	f.mu.Unlock()
	for _, s := range subs {
		s.deliver(m)
	}
}

func (f *feeds) close() {
	f.mu.Lock()
	var all []*subscription
	for _, feed := range f.runs {
		for s := range feed.subs {
			all = append(all, s)
		}
	}
	f.mu.Unlock()
	for _, s := range all {
		s.cancel()
	}
}

// deliver sends m unless the subscriber already has it, filling any gap
// before it from the store.
func (s *subscription) deliver(m *runMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || m.Seq <= s.last {
		return
	}
	if m.Seq > s.last+1 {
		s.f.metrics.gapsFilled.Inc()
		if err := s.catchUpLocked(context.Background(), m.Seq-1); err != nil {
			s.f.log.Warn("fill event gap", "run", m.RunID, "after", s.last, "err", err)
		}
		if s.closed || m.Seq <= s.last {
			return
		}
	}
	s.sendLocked(m)
}

// catchUpLocked sends what the store holds after s.last, up to seq until
// (0: everything).
func (s *subscription) catchUpLocked(ctx context.Context, until uint64) error {
	// Run events are numbered from 1 in stream order: seq n is revision n-1.
	evs, err := s.f.store.ReadStream(ctx, events.RunStream(s.feed.runID), s.last, events.Forwards, 0)
	if errors.Is(err, events.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range evs {
		m, ok, err := protocol.FromEvent(e)
		if err != nil {
			return err
		}
		if !ok || m.Seq <= s.last {
			continue
		}
		if until > 0 && m.Seq > until {
			break
		}
		s.sendLocked(newRunMessage(m))
		if s.closed {
			return nil
		}
	}
	return nil
}

// endIfFinishedLocked closes a caught-up subscription whose run already
// ended at or before its cursor (a follow from after the terminal message):
// no more events will come, so waiting for them would never end.
func (s *subscription) endIfFinishedLocked(ctx context.Context) error {
	evs, err := s.f.store.ReadStream(ctx, events.RunStream(s.feed.runID), events.End, events.Backwards, 1)
	if errors.Is(err, events.ErrStreamNotFound) || (err == nil && len(evs) == 0) {
		return nil
	}
	if err != nil {
		return err
	}
	last, ok, err := protocol.FromEvent(evs[0])
	if err != nil || !ok || !last.Terminal() {
		return err
	}
	if last.Seq > s.last {
		// It was appended after the catch-up read: send what is missing
		// (the terminal message closes the subscription).
		return s.catchUpLocked(ctx, 0)
	}
	s.closeLocked()
	return nil
}

func (s *subscription) sendLocked(m *runMessage) {
	if m.Type == protocol.RunCompleted {
		m = s.feed.completedMessage(s.f.store, m)
	}
	if err := s.send(m); err != nil {
		s.closeLocked()
		return
	}
	s.last = m.Seq
	s.f.metrics.eventsDelivered.Inc()
	if m.Terminal() {
		s.closeLocked()
	}
}

// completedMessage adds the run's node-output cache to run:completed, read
// once from the store (and encoded once) for every subscriber.
func (feed *runFeed) completedMessage(store events.Store, m *runMessage) *runMessage {
	feed.completedOnce.Do(func() {
		evs, err := store.ReadStream(context.Background(), events.RunStream(feed.runID), events.Start, events.Forwards, 0)
		if err == nil {
			c := m.Message
			if c.Nodes, err = protocol.NodeResults(evs); err == nil {
				feed.completed = newRunMessage(c)
			}
		}
	})
	if feed.completed == nil {
		return m
	}
	return feed.completed
}

// drain sends, in order, what the store holds past the subscriber's cursor:
// once a run has ended (its events are durable), what the bus has not
// delivered yet, without waiting for it.
func (s *subscription) drain(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	return s.catchUpLocked(ctx, 0)
}

// cancel ends the subscription.
func (s *subscription) cancel() {
	s.mu.Lock()
	s.closeLocked()
	s.mu.Unlock()
}

func (s *subscription) closeLocked() {
	if s.closed {
		return
	}
	s.closed = true
	close(s.done)
	f := s.f
	f.mu.Lock()
	delete(s.feed.subs, s)
	if len(s.feed.subs) == 0 && f.runs[s.feed.runID] == s.feed {
		delete(f.runs, s.feed.runID)
	}
	f.mu.Unlock()
}
