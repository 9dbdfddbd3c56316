package esdb

import (
	"context"
	"errors"
	"fmt"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/grimoire-run/grimoire/events"
)

// tailAttempts bounds how often an Any or StreamExists append of events
// without IDs re-reads the stream's tail after losing a race for it.
const tailAttempts = 8

// Append implements events.Store.
//
// Event IDs become EventStoreDB event IDs, which the server uses to make a
// re-append idempotent. An event without an ID gets
// events.DeterministicID of the revision it lands at; for Exact and
// NoStream that revision is known, for Any and StreamExists the adapter
// reads the stream's tail first and appends at exactly that revision,
// reading again if another writer got there first.
//
// EventStoreDB caps one append at MaxAppendSize (1 MiB by default) summed
// over its events: a larger append fails with events.ErrEventTooLarge
// before anything is sent.
func (s *Store) Append(ctx context.Context, stream string, expected events.ExpectedRevision, evs ...events.EventData) (events.AppendResult, error) {
	if stream == "" {
		return events.AppendResult{}, errors.New("append: stream name is empty")
	}
	if len(evs) == 0 {
		return s.checkExpected(ctx, stream, expected)
	}
	derive := false
	for _, ev := range evs {
		derive = derive || ev.ID == ""
	}
	var tail uint64 // where the last tail read said the events land
	for attempt := 0; ; attempt++ {
		exp, base := toExpected(expected)
		if derive && attempt == tailAttempts {
			base = tail // contended: append with the caller's expectation, IDs from the last tail seen
		}
		if derive && (expected.IsAny() || expected.IsStreamExists()) && attempt < tailAttempts {
			last, exists, err := s.lastRevision(ctx, stream)
			if err != nil {
				return events.AppendResult{}, fmt.Errorf("append to %q: read stream tail: %w", stream, err)
			}
			switch {
			case exists:
				exp, base = esdb.Revision(last), last+1
			case expected.IsStreamExists():
				return events.AppendResult{}, &events.WrongRevisionError{Stream: stream, Expected: expected}
			default:
				exp, base = esdb.NoStream{}, 0
			}
			tail = base
		}
		res, err := s.appendAt(ctx, stream, expected, exp, base, evs)
		if err != nil && errors.Is(err, events.ErrWrongExpectedRevision) && derive && !isExpectedKind(exp, expected) && attempt < tailAttempts {
			continue // another writer moved the tail between our read and our append
		}
		return res, err
	}
}

// isExpectedKind reports whether exp is what the caller asked for (as
// opposed to the exact revision the adapter pinned an Any append to).
func isExpectedKind(exp esdb.ExpectedRevision, expected events.ExpectedRevision) bool {
	switch exp.(type) {
	case esdb.Any:
		return expected.IsAny()
	case esdb.StreamExists:
		return expected.IsStreamExists()
	case esdb.NoStream:
		return expected.IsNoStream()
	}
	_, exact := expected.Revision()
	return exact
}

// toExpected maps an expectation to the client's type and the revision the
// first appended event lands at (0 when unknown).
func toExpected(e events.ExpectedRevision) (esdb.ExpectedRevision, uint64) {
	if rev, ok := e.Revision(); ok {
		return esdb.Revision(rev), rev + 1
	}
	switch {
	case e.IsNoStream():
		return esdb.NoStream{}, 0
	case e.IsStreamExists():
		return esdb.StreamExists{}, 0
	}
	return esdb.Any{}, 0
}

func (s *Store) appendAt(ctx context.Context, stream string, expected events.ExpectedRevision, exp esdb.ExpectedRevision, base uint64, evs []events.EventData) (events.AppendResult, error) {
	data := make([]esdb.EventData, len(evs))
	total := 0
	for i, ev := range evs {
		d, size, err := toEventData(stream, base+uint64(i), ev)
		if err != nil {
			return events.AppendResult{}, fmt.Errorf("append to %q: event %d: %w", stream, i, err)
		}
		if limit := s.opts.MaxAppendSize; limit > 0 {
			if size > limit {
				return events.AppendResult{}, &events.EventTooLargeError{Stream: stream, Index: i, Size: size, Limit: limit}
			}
			if total+size > limit {
				return events.AppendResult{}, fmt.Errorf("append to %q: events 0-%d come to %d bytes, EventStoreDB takes at most %d per append (append fewer at a time): %w",
					stream, i, total+size, limit, events.ErrEventTooLarge)
			}
		}
		total += size
		data[i] = d
	}

	var wr *esdb.WriteResult
	err := s.call(ctx, func(ctx context.Context, c *esdb.Client, _ func()) error {
		r, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: exp}, data...)
		wr = r
		return err
	})
	if err != nil {
		switch {
		case errors.Is(err, events.ErrClosed):
			return events.AppendResult{}, fmt.Errorf("append to %q: %w", stream, err)
		case isWrongVersion(err):
			return events.AppendResult{}, wrongRevision(stream, expected, err)
		case hasCode(err, esdb.ErrorCodeStreamDeleted):
			return events.AppendResult{}, fmt.Errorf("append to %q: the stream was deleted in EventStoreDB: %w", stream, err)
		}
		if limit, ok := tooLargeLimit(err); ok {
			return events.AppendResult{}, fmt.Errorf("append to %q: %d bytes in %d events, the server's MaxAppendSize is %d: %w (%v)",
				stream, total, len(evs), limit, events.ErrEventTooLarge, err)
		}
		return events.AppendResult{}, fmt.Errorf("append to %q: %w", stream, err)
	}
	res := events.AppendResult{NextRevision: wr.NextExpectedVersion}
	if wr.CommitPosition != 0 || wr.PreparePosition != 0 {
		res.Position = toPosition(esdb.Position{Commit: wr.CommitPosition, Prepare: wr.PreparePosition})
		return res, nil
	}
	// An idempotent re-append reports no position: the original append's
	// is that of its last event, which the server just named.
	got, err := s.readStream(ctx, stream, res.NextRevision, events.Backwards, 1)
	if err != nil || len(got) == 0 {
		return events.AppendResult{}, fmt.Errorf("append to %q: find the position of revision %d after an idempotent append: %w", stream, res.NextRevision, errors.Join(err, errIfEmpty(len(got))))
	}
	res.Position = got[0].Position
	return res, nil
}

func errIfEmpty(n int) error {
	if n == 0 {
		return errors.New("event not found")
	}
	return nil
}

// checkExpected is an append of no events: it only checks the expectation
// against the stream's current state.
func (s *Store) checkExpected(ctx context.Context, stream string, expected events.ExpectedRevision) (events.AppendResult, error) {
	got, err := s.readStream(ctx, stream, events.End, events.Backwards, 1)
	exists := err == nil && len(got) > 0
	if err != nil && !errors.Is(err, events.ErrStreamNotFound) {
		return events.AppendResult{}, fmt.Errorf("append to %q: %w", stream, err)
	}
	var res events.AppendResult
	if exists {
		res = events.AppendResult{NextRevision: got[0].Revision, Position: got[0].Position}
	}
	if !expected.Check(res.NextRevision, exists) {
		return events.AppendResult{}, &events.WrongRevisionError{Stream: stream, Expected: expected, ActualExists: exists, Actual: res.NextRevision}
	}
	return res, nil
}

// lastRevision returns the revision of the stream's last event.
func (s *Store) lastRevision(ctx context.Context, stream string) (uint64, bool, error) {
	got, err := s.readStream(ctx, stream, events.End, events.Backwards, 1)
	if errors.Is(err, events.ErrStreamNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	if len(got) == 0 {
		return 0, false, nil
	}
	return got[0].Revision, true, nil
}
