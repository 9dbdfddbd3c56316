package embedded

import (
	"context"
	"fmt"
	"sync"

	"github.com/grimoire-run/grimoire/events"
)

// window keeps the most recently committed events in memory so that live
// subscribers do not go back to the engine for what was just written.
// Positions are contiguous, so slot p%len holds position p if it has not
// been overwritten yet.
type window struct {
	mu  sync.RWMutex
	buf []events.RecordedEvent
}

func newWindow(n int) *window { return &window{buf: make([]events.RecordedEvent, n)} }

func (w *window) push(recs []events.RecordedEvent) {
	w.mu.Lock()
	for _, r := range recs {
		w.buf[r.Position%uint64(len(w.buf))] = r
	}
	w.mu.Unlock()
}

// get appends to dst the events from position from to upto (inclusive),
// at most max, and reports false if from is no longer (or not yet) in the
// window.
func (w *window) get(dst []events.RecordedEvent, from, upto uint64, max int) ([]events.RecordedEvent, bool) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	n := uint64(len(w.buf))
	if w.buf[from%n].Position != from {
		return dst, false
	}
	for p, end := from, len(dst)+max; p <= upto && len(dst) < end; p++ {
		r := w.buf[p%n]
		if r.Position != p {
			break
		}
		dst = append(dst, r)
	}
	return dst, true
}

// subscribeBatch is how many events one fetch reads.
const subscribeBatch = 512

type subscription struct {
	s     *Store
	opts  events.SubscribeOptions
	after uint64 // last position fetched (delivered or filtered out)
	// buf[next:] are fetched events not delivered yet. buf and scratch
	// (what a fetch takes from the window) are reused from fetch to
	// fetch: a live subscriber allocates nothing per event.
	buf     []events.RecordedEvent
	next    int
	scratch []events.RecordedEvent

	closeOnce sync.Once
	closed    chan struct{}
}

// Subscribe implements events.Store. The subscription runs no goroutine:
// Next does the reading in the caller's goroutine. Delivered events share
// their Data with other subscribers: do not modify it.
func (s *Store) Subscribe(ctx context.Context, opts events.SubscribeOptions) (events.Subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case <-s.closing:
		return nil, events.ErrClosed
	default:
	}
	sub := &subscription{s: s, opts: opts, after: opts.After, closed: make(chan struct{})}
	if opts.FromEnd {
		sub.after = s.committed.Load()
	}
	return sub, nil
}

func (sub *subscription) Close() error {
	sub.closeOnce.Do(func() { close(sub.closed) })
	return nil
}

func (sub *subscription) Next(ctx context.Context) (events.RecordedEvent, error) {
	s := sub.s
	for {
		if sub.next < len(sub.buf) {
			e := sub.buf[sub.next]
			sub.buf[sub.next] = events.RecordedEvent{}
			sub.next++
			return e, nil
		}
		sub.buf, sub.next = sub.buf[:0], 0
		select {
		case <-sub.closed:
			return events.RecordedEvent{}, events.ErrClosed
		case <-s.closing:
			return events.RecordedEvent{}, events.ErrClosed
		default:
		}
		// Take the notification channel before looking at the committed
		// position: a commit after the check closes this channel, so no
		// wake-up is missed.
		s.notifyMu.Lock()
		wake := s.notify
		s.notifyMu.Unlock()
		committed := s.committed.Load()
		if sub.after < committed {
			before := sub.after
			if err := sub.fetch(committed); err != nil {
				return events.RecordedEvent{}, err
			}
			if sub.after != before {
				continue
			}
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return events.RecordedEvent{}, ctx.Err()
		case <-sub.closed:
			return events.RecordedEvent{}, events.ErrClosed
		case <-s.closing:
			return events.RecordedEvent{}, events.ErrClosed
		}
	}
}

// fetch reads the next events after sub.after up to committed, from the
// live window when they are still there, else from the engine.
func (sub *subscription) fetch(committed uint64) error {
	from := sub.after + 1
	got, ok := sub.s.window.get(sub.scratch[:0], from, committed, subscribeBatch)
	if ok {
		sub.scratch = got
		defer clear(got) // the window keeps the events; the scratch need not
	} else {
		err := sub.s.read(func() error {
			var err error
			got, err = sub.s.engine.ReadAll(from, subscribeBatch)
			return err
		})
		if err != nil {
			return fmt.Errorf("subscription catch-up from %d: %w", from, err)
		}
	}
	for _, e := range got {
		if e.Position > committed {
			break
		}
		sub.after = e.Position
		if sub.opts.Matches(e) {
			sub.buf = append(sub.buf, e)
		}
	}
	return nil
}
