package esdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/grimoire-run/grimoire/events"
)

// ReadStream implements events.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, dir events.Direction, limit int) ([]events.RecordedEvent, error) {
	out, err := s.readStream(ctx, stream, from, dir, limit)
	if err != nil {
		return nil, fmt.Errorf("read stream %q %v from %d: %w", stream, dir, from, err)
	}
	return out, nil
}

func (s *Store) readStream(ctx context.Context, stream string, from uint64, dir events.Direction, limit int) ([]events.RecordedEvent, error) {
	opts := esdb.ReadStreamOptions{Direction: esdb.Forwards, From: esdb.Revision(from)}
	if dir == events.Backwards {
		opts.Direction = esdb.Backwards
		if from == events.End {
			opts.From = esdb.End{}
		}
	}
	count := uint64(math.MaxInt64)
	if limit > 0 {
		count = uint64(limit)
	}
	var out []events.RecordedEvent
	err := s.call(ctx, func(ctx context.Context, c *esdb.Client, up func()) error {
		rs, err := c.ReadStream(ctx, stream, opts, count)
		if err != nil {
			return err
		}
		defer rs.Close()
		var got []events.RecordedEvent
		for {
			ev, err := rs.Recv()
			if err == nil || errors.Is(err, io.EOF) || isNotFound(err) {
				up()
			}
			if errors.Is(err, io.EOF) {
				out = got
				return nil
			}
			if err != nil {
				return err
			}
			if r := ev.OriginalEvent(); r != nil {
				got = append(got, fromRecorded(r))
			}
		}
	})
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("%w (%v)", events.ErrStreamNotFound, err)
		}
		return nil, err
	}
	return out, nil
}

// ReadAll implements events.Store. EventStoreDB's own system events are
// left out. from must be a position this store returned, or one next to it
// (see codec.go).
func (s *Store) ReadAll(ctx context.Context, from uint64, limit int) ([]events.RecordedEvent, error) {
	var out []events.RecordedEvent
	offset, _ := lowerBound(from)
	var start esdb.AllPosition = esdb.Start{}
	if from > 0 && offset > 0 {
		start = offsetPosition(offset)
	}
	var last uint64 // highest position seen, to skip the overlap between batches
	for {
		// +1: reads are inclusive, so a batch after the first starts with
		// the last event of the one before.
		n := s.opts.ReadBatch
		if limit > 0 {
			n = min(n, limit-len(out)+1)
		}
		n = max(n, 2)
		batch, err := s.readAllBatch(ctx, start, uint64(n))
		if err != nil {
			return nil, fmt.Errorf("read $all from %d: %w", from, err)
		}
		for _, r := range batch {
			p := toPosition(r.Position)
			if p < from || p <= last {
				continue
			}
			last = p
			if isSystem(r.EventType) {
				continue
			}
			out = append(out, fromRecorded(r))
			if limit > 0 && len(out) == limit {
				return out, nil
			}
		}
		if len(batch) < n {
			return out, nil
		}
		start = offsetPosition(max(batch[len(batch)-1].Position.Commit, batch[len(batch)-1].Position.Prepare))
	}
}

func (s *Store) readAllBatch(ctx context.Context, from esdb.AllPosition, count uint64) ([]*esdb.RecordedEvent, error) {
	var out []*esdb.RecordedEvent
	err := s.call(ctx, func(ctx context.Context, c *esdb.Client, up func()) error {
		rs, err := c.ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Forwards, From: from}, count)
		if err != nil {
			return err
		}
		defer rs.Close()
		var got []*esdb.RecordedEvent
		for {
			ev, err := rs.Recv()
			if err == nil || errors.Is(err, io.EOF) || isNotFound(err) {
				up()
			}
			if errors.Is(err, io.EOF) {
				out = got
				return nil
			}
			if err != nil {
				return err
			}
			if r := ev.OriginalEvent(); r != nil {
				got = append(got, r)
			}
		}
	})
	return out, err
}

// lastPosition is the log offset of the last record in $all, system events
// included, and false when the log is empty.
func (s *Store) lastPosition(ctx context.Context) (uint64, bool, error) {
	var offset uint64
	var ok bool
	err := s.call(ctx, func(ctx context.Context, c *esdb.Client, up func()) error {
		rs, err := c.ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
		if err != nil {
			return err
		}
		defer rs.Close()
		ev, err := rs.Recv()
		if err == nil || errors.Is(err, io.EOF) {
			up()
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if r := ev.OriginalEvent(); r != nil {
			offset, ok = max(r.Position.Commit, r.Position.Prepare), true
		}
		return nil
	})
	if err != nil {
		return 0, false, err
	}
	return offset, ok, nil
}
