package esdb

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/grimoire-run/grimoire/events"
)

// Subscribe implements events.Store with a catch-up subscription to $all.
//
// The server filters by stream prefix (or, without prefixes, by event type
// prefix) and leaves system events out; the adapter then applies the exact
// filters of opts. When the server drops the subscription (restart,
// network, a slow subscriber), the adapter resubscribes after the last
// event it saw, with backoff, and skips anything at or before it: no event
// is lost or delivered twice. ctx bounds the subscribe call only; the
// subscription lives until Close.
func (s *Store) Subscribe(ctx context.Context, opts events.SubscribeOptions) (events.Subscription, error) {
	opts.StreamPrefixes = append([]string(nil), opts.StreamPrefixes...)
	opts.EventTypes = append([]string(nil), opts.EventTypes...)
	sub := &subscription{
		s:    s,
		opts: opts,
		out:  make(chan events.RecordedEvent, s.opts.SubscriptionBuffer),
		done: make(chan struct{}),
	}
	sub.ctx, sub.cancel = context.WithCancel(s.base)

	what := fmt.Sprintf("after %d", opts.After)
	if opts.FromEnd {
		what = "from the end"
	}
	fail := func(err error) (events.Subscription, error) {
		sub.cancel()
		return nil, fmt.Errorf("subscribe to $all %s: %w", what, err)
	}
	if err := sub.start(ctx); err != nil {
		return fail(err)
	}
	es, err := sub.open(ctx)
	if err != nil {
		return fail(err)
	}
	if err := s.track(); err != nil {
		guard(es.Close)
		return fail(err)
	}
	go sub.run(es)
	return sub, nil
}

type subscription struct {
	s      *Store
	opts   events.SubscribeOptions
	ctx    context.Context // ends with Close or the store's Close
	cancel context.CancelFunc
	out    chan events.RecordedEvent
	done   chan struct{} // closed when run returns

	// Owned by run (and by Subscribe before run starts).
	after  uint64           // highest position seen: deliver only above it
	resume esdb.AllPosition // where a new server subscription starts (exclusive)

	err       error // why run stopped, if not Close; set before done closes
	closeOnce sync.Once
}

// start works out where the server subscription starts. The server
// subscribes after a log offset, exclusively, and only at offsets where
// records start; opts.After may be a position next to an event (see
// codec.go) or, for FromEnd, absent.
func (sub *subscription) start(ctx context.Context) error {
	s := sub.s
	if sub.opts.FromEnd {
		off, ok, err := s.lastPosition(ctx)
		if err != nil {
			return err
		}
		sub.resume = esdb.Start{}
		if ok {
			sub.resume, sub.after = offsetPosition(off), toPosition(esdb.Position{Commit: off, Prepare: off})
		}
		return nil
	}
	sub.after = sub.opts.After
	if sub.opts.After == 0 {
		sub.resume = esdb.Start{}
		return nil
	}
	off, inclusive := lowerBound(sub.opts.After + 1)
	if !inclusive {
		sub.resume = offsetPosition(off)
		return nil
	}
	if off == 0 {
		sub.resume = esdb.Start{}
		return nil
	}
	// The first event to deliver is the one at off itself, which an
	// exclusive subscription cannot start with: read it, then subscribe
	// after it.
	batch, err := s.readAllBatch(ctx, offsetPosition(off), 1)
	if err != nil {
		return err
	}
	if len(batch) == 0 {
		// After lies beyond the end of the log: follow from the end.
		last, ok, err := s.lastPosition(ctx)
		if err != nil {
			return err
		}
		sub.resume = esdb.Start{}
		if ok {
			sub.resume = offsetPosition(last)
		}
		return nil
	}
	sub.see(batch[0]) // cannot block: out is empty and buffered
	return nil
}

// see handles one event from the server: skips what was already seen,
// system events and what the filters reject; queues the rest. It returns
// false when the subscription is closing.
func (sub *subscription) see(r *esdb.RecordedEvent) bool {
	p := toPosition(r.Position)
	if p <= sub.after {
		return true // overlap after a resubscription
	}
	sub.after = p
	sub.resume = offsetPosition(max(r.Position.Commit, r.Position.Prepare))
	if isSystem(r.EventType) {
		return true
	}
	ev := fromRecorded(r)
	if !sub.opts.Matches(ev) {
		return true
	}
	select {
	case sub.out <- ev:
		return true
	case <-sub.ctx.Done():
		return false
	}
}

// open starts a server subscription at sub.resume. ctx bounds the call;
// the subscription itself lives in sub.ctx.
func (sub *subscription) open(ctx context.Context) (*esdb.Subscription, error) {
	o := esdb.SubscribeToAllOptions{From: sub.resume, Filter: serverFilter(sub.opts)}
	var es *esdb.Subscription
	err := sub.s.call(ctx, func(_ context.Context, c *esdb.Client, _ func()) error {
		if err := sub.ctx.Err(); err != nil {
			return err
		}
		var err error
		es, err = c.SubscribeToAll(sub.ctx, o)
		return err
	})
	if err != nil {
		return nil, err
	}
	return es, nil
}

// serverFilter is the part of opts the server can apply: one filter, on
// stream names or on event types, by prefix. The adapter re-checks opts
// exactly (a type prefix "Node" also matches "NodeStarted").
func serverFilter(o events.SubscribeOptions) *esdb.SubscriptionFilter {
	switch {
	case len(o.StreamPrefixes) > 0:
		return &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: o.StreamPrefixes}
	case len(o.EventTypes) > 0:
		return &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Prefixes: o.EventTypes}
	}
	return esdb.ExcludeSystemEventsFilter()
}

// run feeds out from the server subscription and resubscribes when the
// server drops it, until Close.
func (sub *subscription) run(es *esdb.Subscription) {
	s := sub.s
	defer s.wg.Done()
	defer close(sub.done)
	defer sub.cancel()
	backoff := s.opts.ResubscribeMin
	for {
		err := guard(func() error { return sub.consume(es) })
		guard(es.Close)
		if sub.ctx.Err() != nil {
			return
		}
		if errors.Is(err, errClientPanic) {
			sub.err = fmt.Errorf("subscription to $all after %d: %w", sub.after, err)
			s.log.Error("EventStoreDB subscription failed", "after", sub.after, "err", err)
			return
		}
		s.log.Warn("EventStoreDB dropped a subscription; resubscribing", "after", sub.after, "err", err)
		for {
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-sub.ctx.Done():
				t.Stop()
				return
			}
			es, err = sub.open(sub.ctx)
			if err == nil {
				backoff = s.opts.ResubscribeMin
				s.log.Info("EventStoreDB subscription resumed", "after", sub.after)
				break
			}
			if sub.ctx.Err() != nil {
				return
			}
			backoff = min(2*backoff, s.opts.ResubscribeMax)
			s.log.Debug("resubscribe to EventStoreDB failed", "after", sub.after, "retry_in", backoff, "err", err)
		}
	}
}

// consume reads es until the server drops it or the subscription closes.
func (sub *subscription) consume(es *esdb.Subscription) error {
	for {
		m := es.Recv()
		switch {
		case m == nil:
			return errors.New("subscription returned nothing")
		case m.SubscriptionDropped != nil:
			return m.SubscriptionDropped.Error
		case m.EventAppeared != nil:
			if r := m.EventAppeared.OriginalEvent(); r != nil && !sub.see(r) {
				return sub.ctx.Err()
			}
		}
	}
}

// Next implements events.Subscription.
func (sub *subscription) Next(ctx context.Context) (events.RecordedEvent, error) {
	select {
	case <-sub.done:
		return sub.final()
	default:
	}
	select {
	case ev := <-sub.out:
		return ev, nil
	case <-ctx.Done():
		return events.RecordedEvent{}, ctx.Err()
	case <-sub.done:
		return sub.final()
	}
}

// final is what Next returns once run has stopped: ErrClosed after Close,
// else the events that arrived before the failure, then the failure.
func (sub *subscription) final() (events.RecordedEvent, error) {
	if sub.err == nil {
		return events.RecordedEvent{}, events.ErrClosed
	}
	select {
	case ev := <-sub.out:
		return ev, nil
	default:
		return events.RecordedEvent{}, sub.err
	}
}

// Close implements events.Subscription.
func (sub *subscription) Close() error {
	sub.closeOnce.Do(func() {
		sub.cancel()
		<-sub.done
	})
	return nil
}
