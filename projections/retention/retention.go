// Package retention applies the log's retention policy: the streamed
// token chunks (NodeOutputChunk) of runs that ended more than N days ago
// are deleted, while everything a run's meaning depends on stays: its
// request, every node's start, result (NodeCompleted with its outputs),
// failure, skip and cache hit, and its terminal event. See
// docs/retention.md.
//
// Deleting single events is not part of events.Store (an append-only log
// does not need it): a store that can do it implements Pruner. Revisions
// and positions of the events that stay do not change; reads skip the
// gaps.
//
// retention imports events and projections/runs (to find the runs that
// ended before the cutoff); it must not import server or a store
// implementation.
package retention

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/projections/runs"
)

// Pruner is a store that can delete single events.
type Pruner interface {
	// Prune deletes the events of stream at the given revisions and
	// returns how many it deleted. Deleting an event that is already gone
	// is not an error. The other events keep their revisions and
	// positions.
	Prune(ctx context.Context, stream string, revisions []uint64) (int, error)
}

// ErrCannotPrune: the store does not implement Pruner.
var ErrCannotPrune = errors.New("this event store cannot delete events (it does not implement retention.Pruner)")

// Policy says what to drop.
type Policy struct {
	// ChunksOlderThan: runs that ended before now minus this lose their
	// token chunks. Required (> 0).
	ChunksOlderThan time.Duration
	// DryRun counts what would go without deleting anything.
	DryRun bool
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Report says what Apply did (or, in a dry run, would do).
type Report struct {
	Cutoff time.Time `json:"cutoff"`
	// Runs are the finished runs that ended before the cutoff; Pruned those
	// that had chunks to drop.
	Runs    int  `json:"runs"`
	Pruned  int  `json:"pruned"`
	Dropped int  `json:"dropped"`
	DryRun  bool `json:"dryRun,omitempty"`
}

// droppable are the event types the policy deletes.
var droppable = []string{events.TypeNodeOutputChunk}

// Apply finds the finished runs that ended before the cutoff (from the
// runs read model, which must have caught up) and deletes their token
// chunks.
func Apply(ctx context.Context, store events.Store, model *runs.Model, p Policy) (Report, error) {
	if p.ChunksOlderThan <= 0 {
		return Report{}, errors.New("retention: Policy.ChunksOlderThan must be positive")
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	rep := Report{Cutoff: now().Add(-p.ChunksOlderThan), DryRun: p.DryRun}
	pruner, canPrune := store.(Pruner)
	// A run that ended before the cutoff started before it.
	f := runs.Filter{Until: rep.Cutoff, Limit: 1000}
	for {
		page, err := model.List(f)
		if err != nil {
			return rep, fmt.Errorf("retention: list runs: %w", err)
		}
		for _, r := range page.Runs {
			if !runs.Finished(r.Status) || r.Finished.IsZero() || !r.Finished.Before(rep.Cutoff) {
				continue
			}
			rep.Runs++
			revs, err := chunkRevisions(ctx, store, r.RunID)
			if err != nil {
				return rep, err
			}
			if len(revs) == 0 {
				continue
			}
			rep.Pruned++
			if p.DryRun {
				rep.Dropped += len(revs)
				continue
			}
			if !canPrune {
				return rep, ErrCannotPrune
			}
			n, err := pruner.Prune(ctx, events.RunStream(r.RunID), revs)
			rep.Dropped += n
			if err != nil {
				return rep, fmt.Errorf("retention: prune run %s: %w", r.RunID, err)
			}
		}
		if page.Next == "" {
			return rep, nil
		}
		f.Cursor = page.Next
	}
}

// chunkRevisions lists the revisions of a finished run's droppable events.
// A run whose stream does not end with a terminal event is left alone.
func chunkRevisions(ctx context.Context, store events.Store, runID string) ([]uint64, error) {
	var revs []uint64
	last := ""
	const page = 1024
	for from := uint64(0); ; {
		evs, err := store.ReadStream(ctx, events.RunStream(runID), from, events.Forwards, page)
		if errors.Is(err, events.ErrStreamNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("retention: read run %s: %w", runID, err)
		}
		for _, e := range evs {
			if slices.Contains(droppable, e.Type) {
				revs = append(revs, e.Revision)
			}
			last = e.Type
		}
		if len(evs) < page {
			break
		}
		from = evs[len(evs)-1].Revision + 1
	}
	switch last {
	case events.TypeRunCompleted, events.TypeRunFailed, events.TypeRunCancelled:
		return revs, nil
	}
	return nil, nil
}
