package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/grimoire-run/grimoire/events"
)

// Subscribe implements events.Store: the subscription reads pages of the
// log after its cursor (catch-up), and when it has read everything, waits
// for a NOTIFY or the poll interval and reads again (live). Both phases are
// the same query, so there is no switch-over to get wrong.
func (s *Store) Subscribe(ctx context.Context, opts events.SubscribeOptions) (events.Subscription, error) {
	if s.isClosed() {
		return nil, fmt.Errorf("subscribe: %w", events.ErrClosed)
	}
	sub := &subscription{s: s, opts: opts, cursor: opts.After}
	if opts.FromEnd {
		last, err := s.LastPosition(ctx)
		if err != nil {
			return nil, fmt.Errorf("subscribe from the end: %w", err)
		}
		sub.cursor = last
	}
	// The subscription's context ends when it or the store closes.
	sub.ctx, sub.cancel = context.WithCancel(s.ctx)
	if sub.opts.StreamPrefixes == nil {
		sub.opts.StreamPrefixes = []string{}
	}
	if sub.opts.EventTypes == nil {
		sub.opts.EventTypes = []string{}
	}
	return sub, nil
}

type subscription struct {
	s    *Store
	opts events.SubscribeOptions
	// cursor: every event at or before it was delivered or filtered out.
	cursor  uint64
	pending []events.RecordedEvent

	ctx    context.Context
	cancel context.CancelFunc
}

func (sub *subscription) Close() error {
	sub.cancel()
	return nil
}

func (sub *subscription) closed() bool { return sub.ctx.Err() != nil }

// Next implements events.Subscription.
func (sub *subscription) Next(ctx context.Context) (events.RecordedEvent, error) {
	for {
		if sub.closed() {
			return events.RecordedEvent{}, events.ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return events.RecordedEvent{}, err
		}
		if len(sub.pending) > 0 {
			e := sub.pending[0]
			sub.pending = sub.pending[1:]
			return e, nil
		}
		// Take the wake-up channel before reading, so that a NOTIFY for a
		// commit the read does not see still wakes the wait below.
		wake := sub.s.wakeup()
		got, err := sub.fetch(ctx)
		if err != nil {
			if sub.closed() {
				return events.RecordedEvent{}, events.ErrClosed
			}
			if ctx.Err() != nil {
				return events.RecordedEvent{}, ctx.Err()
			}
			return events.RecordedEvent{}, fmt.Errorf("subscription after position %d: %w", sub.cursor, err)
		}
		if got {
			continue
		}
		timer := time.NewTimer(sub.s.opts.PollInterval)
		select {
		case <-wake:
		case <-timer.C:
		case <-ctx.Done():
		case <-sub.ctx.Done():
		}
		timer.Stop()
	}
}

// fetch reads the next page of matching events after the cursor. The
// head and the page come from one statement, hence one snapshot: when the
// page is not full, every event up to that head has been seen, matching
// or not, and the cursor moves to the head (filtered-out events are not
// read again).
func (sub *subscription) fetch(ctx context.Context) (bool, error) {
	qctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopOnClose := context.AfterFunc(sub.ctx, cancel)
	defer stopOnClose()
	s := sub.s
	rows, err := s.db.Query(qctx, `
		WITH h AS (SELECT last_position AS head FROM `+s.head+`)
		SELECT h.head, e.position, e.stream, e.revision, e.id, e.type, e.schema_version, e.data, e.metadata, e.created
		FROM h LEFT JOIN LATERAL (
			SELECT * FROM `+s.events+`
			WHERE position > $1 AND position <= h.head
			  AND (cardinality($2::text[]) = 0 OR EXISTS (SELECT 1 FROM unnest($2::text[]) AS p WHERE starts_with(stream, p)))
			  AND (cardinality($3::text[]) = 0 OR type = ANY($3::text[]))
			ORDER BY position
			LIMIT $4) e ON true`,
		clamp(sub.cursor), sub.opts.StreamPrefixes, sub.opts.EventTypes, s.opts.ReadBatch)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	var head int64
	var page []events.RecordedEvent
	for rows.Next() {
		var (
			pos, rev        *int64
			stream, id, typ *string
			version         *int32
			data, meta      []byte
			created         *time.Time
		)
		if err := rows.Scan(&head, &pos, &stream, &rev, &id, &typ, &version, &data, &meta, &created); err != nil {
			return false, err
		}
		if pos == nil {
			break // no event after the cursor: the one row of h alone
		}
		e := events.RecordedEvent{
			Stream: *stream, Revision: uint64(*rev), Position: uint64(*pos), ID: *id, Type: *typ,
			SchemaVersion: int(*version), Data: data, Time: *created,
		}
		if len(meta) > 0 {
			e.Metadata = meta
		}
		page = append(page, e)
	}
	if err := rows.Err(); err != nil {
		return false, err
	}
	if len(page) == s.opts.ReadBatch {
		sub.cursor = page[len(page)-1].Position
	} else if uint64(head) > sub.cursor {
		sub.cursor = uint64(head)
	}
	sub.pending = page
	return len(page) > 0, nil
}
