package runs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/events/recorder"
	"github.com/grimoire-run/grimoire/graph"
)

// Resume takes over every unfinished run (RunRequested but no RunCompleted,
// RunFailed or RunCancelled) that is not already running here and does
// not wait for answers (RunPaused: those stay waiting, their deadlines
// scheduled): it loads the
// run's spell version from the log, appends RunResumed, and runs the spell
// again with the run's recording, so that activations that had completed
// are replayed (NodeCacheHit, source "resume") and only the others execute.
//
// Call it at startup, before accepting new runs. With several processes on
// one store, Options.Leases keep it to the runs no live process owns (see
// TakeOver); without them a run still alive in another process is taken
// over (that process's recorder then stops with recorder.ErrRunTakenOver).
// Either way only one of two processes resuming the same run wins: the
// lease's Create, and the recorder's expected revisions behind it.
//
// It returns the runs it resumed; errors of single runs are joined, and
// the other runs still resume.
func (e *Executor) Resume(ctx context.Context) ([]*Run, error) {
	return e.resumeListed(ctx, e.unfinished)
}

func (e *Executor) resumeListed(ctx context.Context, list func(context.Context) ([]string, error)) ([]*Run, error) {
	ids, err := list(ctx)
	if err != nil {
		return nil, fmt.Errorf("resume runs: %w", err)
	}
	var (
		resumed []*Run
		errs    []error
	)
	for _, id := range ids {
		if _, running := e.Get(id); running {
			continue
		}
		r, err := e.resume(ctx, id, "process restarted")
		if err != nil {
			errs = append(errs, err)
			e.log.Error("run not resumed", "run", id, "err", err)
			continue
		}
		if r != nil {
			resumed = append(resumed, r)
		}
	}
	return resumed, errors.Join(errs...)
}

func (e *Executor) unfinished(ctx context.Context) ([]string, error) {
	if e.opts.Unfinished != nil {
		return e.opts.Unfinished(ctx)
	}
	return ScanUnfinished(ctx, e.opts.Store)
}

// ScanUnfinished reads the whole global log for runs that were requested
// and have no terminal event, oldest first. A runs read model answers the
// same question without the scan.
func ScanUnfinished(ctx context.Context, store events.Store) ([]string, error) {
	open := map[string]int{}
	var order []string
	const page = 4096
	for from := uint64(0); ; {
		recs, err := store.ReadAll(ctx, from, page)
		if err != nil {
			return nil, fmt.Errorf("scan the log for unfinished runs: %w", err)
		}
		for _, r := range recs {
			id, ok := strings.CutPrefix(r.Stream, events.RunStreamPrefix)
			if !ok {
				continue
			}
			switch r.Type {
			case events.TypeRunRequested:
				if _, seen := open[id]; !seen {
					open[id] = len(order)
					order = append(order, id)
				}
			case events.TypeRunCompleted, events.TypeRunFailed, events.TypeRunCancelled:
				if i, seen := open[id]; seen {
					order[i] = ""
				}
				open[id] = -1
			}
		}
		if len(recs) < page {
			break
		}
		from = recs[len(recs)-1].Position + 1
	}
	out := order[:0]
	for _, id := range order {
		if id != "" {
			out = append(out, id)
		}
	}
	return out, nil
}

// resume takes one run over; nil, nil when there is nothing to do (with
// Leases: when a live process owns the run).
func (e *Executor) resume(ctx context.Context, runID, reason string) (*Run, error) {
	return e.resumeCancelling(ctx, runID, reason, "")
}

// resumeCancelling is resume; with a cancelReason the run is cancelled
// before anything executes, so that it ends at once with RunCancelled.
func (e *Executor) resumeCancelling(ctx context.Context, runID, reason, cancelReason string) (*Run, error) {
	if free, err := e.unowned(ctx, runID); err != nil || !free {
		return nil, err
	}
	first, err := e.opts.Store.ReadStream(ctx, events.RunStream(runID), 0, events.Forwards, 1)
	if err != nil {
		return nil, fmt.Errorf("resume run %s: %w", runID, err)
	}
	if len(first) == 0 || first[0].Type != events.TypeRunRequested {
		return nil, fmt.Errorf("resume run %s: %w", runID, recorder.ErrNotARun)
	}
	v, err := events.Decode(first[0])
	if err != nil {
		return nil, fmt.Errorf("resume run %s: %w", runID, err)
	}
	requested := v.(events.RunRequested)
	spell, err := e.loadSpell(ctx, requested.SpellID, requested.SpellHash)
	if err != nil {
		return nil, fmt.Errorf("resume run %s: %w", runID, err)
	}
	prog, err := e.opts.Runner.Compile(spell)
	if err != nil {
		return nil, fmt.Errorf("resume run %s: spell %q no longer compiles: %w", runID, spell.ID, err)
	}
	recording, lastSeq, err := recorder.Recorded(ctx, e.opts.Store, runID, recorder.ProgramPorts(prog, e.opts.Runner.Catalog))
	if err != nil {
		return nil, fmt.Errorf("resume run %s: %w", runID, err)
	}
	if recording.Terminal != "" {
		return nil, nil // it ended since the scan
	}
	for _, q := range recording.Pending() {
		if q.Deadline != nil {
			e.deadlines.add(runID, q.NodeRef, *q.Deadline)
		}
	}
	if recording.Paused {
		// It waits for answers and holds nothing: Answer resumes it.
		return nil, nil
	}
	var meta runMeta
	if len(recording.RequestedMetadata) > 0 {
		if err := json.Unmarshal(recording.RequestedMetadata, &meta); err != nil {
			return nil, fmt.Errorf("resume run %s: RunRequested metadata: %w", runID, err)
		}
	}

	run, err := e.reserve(runID)
	if err != nil {
		return nil, err
	}
	if owned, err := e.own(ctx, run); err != nil || !owned {
		e.release(run)
		if err != nil {
			return nil, fmt.Errorf("resume run %s: %w", runID, err)
		}
		return nil, nil // another process took it first
	}
	if cancelReason == "" {
		cancelReason = e.cancelRequested(runID)
	}
	if cancelReason != "" {
		run.Cancel(cancelReason)
	}
	run.trace, run.source = meta.TraceParent, requested.Source
	rec, err := e.newRecorder(runID, prog, requested.CorrelationID, lastSeq, run)
	if err != nil {
		e.disown(run)
		e.release(run)
		return nil, err
	}
	if _, err := rec.Record(&events.RunResumed{AfterSeq: lastSeq, Reason: reason}, nil); err == nil {
		err = rec.Flush(ctx)
	}
	if err != nil {
		rec.Close(ctx)
		e.disown(run)
		e.release(run)
		if errors.Is(err, recorder.ErrRunTakenOver) {
			e.log.Info("run resumed elsewhere first", "run", runID)
			return nil, nil
		}
		return nil, fmt.Errorf("resume run %s: %w", runID, err)
	}
	e.log.Info("run resumed", "run", runID, "spell", spell.ID, "after_seq", lastSeq, "replayable", recording.Completed())
	e.launch(run, prog, graph.RunRequest{
		RunID: runID, User: requested.User, Inputs: requested.Inputs, InputOrder: meta.InputOrder, Entry: meta.Entry,
	}, meta.NoCache, meta.StateSession, rec, requested.Time, recording)
	return run, nil
}
