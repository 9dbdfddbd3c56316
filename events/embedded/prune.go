package embedded

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble"

	"github.com/grimoire-run/grimoire/events"
)

// pruner is an Engine that can delete single records.
type pruner interface {
	Prune(stream string, revisions []uint64) (int, error)
}

// ErrPruneHead is events.ErrPruneHead, kept for callers of this package.
var ErrPruneHead = events.ErrPruneHead

// Prune deletes the events of stream at the given revisions (the retention
// policy, docs/retention.md) in one synced batch and returns how many it
// deleted. Events already gone are not an error. Every other event keeps
// its revision and global position; reads skip the gaps.
func (s *Store) Prune(ctx context.Context, stream string, revisions []uint64) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if len(revisions) == 0 {
		return 0, nil
	}
	var n int
	err := s.read(func() error {
		p, ok := s.engine.(pruner)
		if !ok {
			return fmt.Errorf("engine %T cannot delete events", s.engine)
		}
		head, exists, err := s.engine.Head(stream)
		if err != nil {
			return err
		}
		if !exists {
			return nil
		}
		for _, rev := range revisions {
			if rev == head.Revision {
				return fmt.Errorf("revision %d: %w (head is %d)", rev, ErrPruneHead, head.Revision)
			}
		}
		n, err = p.Prune(stream, revisions)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("prune stream %q: %w", stream, err)
	}
	return n, nil
}

// Prune deletes both keys of each record: the stream index entry and the
// record under its global position.
func (e *pebbleEngine) Prune(stream string, revisions []uint64) (int, error) {
	b := e.db.NewBatch()
	defer b.Close()
	n := 0
	for _, rev := range revisions {
		skey := streamKey(stream, rev)
		v, ok, err := e.get(skey)
		if err != nil {
			return 0, err
		}
		if !ok {
			continue
		}
		if err := b.Delete(skey, nil); err != nil {
			return 0, err
		}
		if err := b.Delete(allKey(binary.BigEndian.Uint64(v)), nil); err != nil {
			return 0, err
		}
		n++
	}
	if n == 0 {
		return 0, nil
	}
	return n, b.Commit(pebble.Sync)
}
