package runs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/grimoire-run/grimoire/events/recorder"
)

// Leases hold run ownership across processes (events/bus.Leases, over
// NATS JetStream). Nil in Options: this process is the only one that runs
// spells on its store, and owning a run costs nothing.
type Leases interface {
	// Acquire makes this process the owner of runID: false when a live
	// owner holds it. lost is called if the lease is lost later, cancel
	// when another process asks for the run to be cancelled.
	Acquire(ctx context.Context, runID string, lost func(), cancel func(reason string)) (bool, error)
	// Owned says whether a live owner holds runID.
	Owned(ctx context.Context, runID string) (owner string, live bool, err error)
	// Release drops this process's lease of runID.
	Release(runID string)
	// RequestCancel asks runID's owner to cancel it: false when it has
	// no live owner.
	RequestCancel(ctx context.Context, runID, reason string) (bool, error)
}

// errLeaseLost stops a run whose lease another process took: that
// process goes on with it, so this one records nothing more.
var errLeaseLost = errors.New("run lease lost to another process")

// own takes the lease of a run this executor is about to execute; false
// when another process owns it. Without Leases every run is this
// process's.
func (e *Executor) own(ctx context.Context, run *Run) (bool, error) {
	if e.opts.Leases == nil {
		return true, nil
	}
	ok, err := e.opts.Leases.Acquire(ctx, run.id,
		func() { run.cancel(errLeaseLost) },
		func(reason string) { run.Cancel(reason) })
	if ok {
		run.leased = true
	}
	return ok, err
}

// disown releases the lease of a run that ended here (or never started).
func (e *Executor) disown(run *Run) {
	if run.leased {
		run.leased = false
		e.opts.Leases.Release(run.id)
	}
}

// CancelAnywhere cancels a run in progress in this process or, with
// Leases, asks the process that owns it to. A run that no live process
// owns but that has not ended (its owner died, and no process has taken
// it over yet) is taken over here and cancelled before anything executes,
// so that the cancel is not lost until a takeover (an owner that died
// with its lease still live does not answer: when the lease has lapsed,
// at most its TTL later, the same happens). False when no process
// is running the run and it is not unfinished (or waits for answers).
func (e *Executor) CancelAnywhere(ctx context.Context, runID, reason string) (bool, error) {
	if e.Cancel(runID, reason) {
		return true, nil
	}
	if e.opts.Leases == nil {
		return false, nil
	}
	// Meanwhile, a takeover scan here that wins the run cancels it too.
	e.mu.Lock()
	e.cancelling[runID] = reason
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.cancelling, runID)
		e.mu.Unlock()
	}()
	ok, err := e.opts.Leases.RequestCancel(ctx, runID, reason)
	if ok {
		return true, nil
	}
	if err != nil {
		// The owner did not answer within the lease's TTL: if it died, its
		// lease has lapsed by now and the run is free to take.
		if _, live, ownedErr := e.opts.Leases.Owned(ctx, runID); ownedErr != nil || live {
			return false, err
		}
	}
	run, err := e.resumeCancelling(ctx, runID, "cancel requested", reason)
	if errors.Is(err, ErrRunExists) {
		// This process's takeover scan won the run first: it is active
		// here now, and cancelled here.
		e.Cancel(runID, reason)
		return true, nil
	}
	if err != nil {
		if errors.Is(err, recorder.ErrNotARun) {
			return false, nil
		}
		return false, err
	}
	if run == nil {
		// Ended, waiting, or taken by another process meanwhile: that
		// process may be asked now.
		return e.opts.Leases.RequestCancel(ctx, runID, reason)
	}
	return true, nil
}

// TakeOver resumes, every interval until ctx is done or the executor
// closes, the runs that no live process owns: those of a process that died
// take at most its lease's TTL plus interval to go on here. running lists
// the candidates (unfinished runs not waiting for answers; a runs read
// model answers without reading the log). Every waitingScanEvery rounds
// it looks at unfinished instead (nil: as Resume), which also holds the
// waiting runs, so that the deadlines of questions asked on a process that
// died are scheduled here. It does nothing without Leases (one process
// resumes its runs at start-up only).
func (e *Executor) TakeOver(ctx context.Context, interval time.Duration, running, unfinished func(context.Context) ([]string, error)) {
	if e.opts.Leases == nil {
		return
	}
	if interval <= 0 {
		interval = 2 * time.Second
	}
	if unfinished == nil {
		unfinished = e.unfinished
	}
	if running == nil {
		running = unfinished
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for round := 1; ; round++ {
		select {
		case <-ctx.Done():
			return
		case <-e.base.Done():
			return
		case <-tick.C:
		}
		list := running
		if round%waitingScanEvery == 0 {
			list = unfinished
		}
		if _, err := e.resumeListed(ctx, list); err != nil && ctx.Err() == nil {
			e.log.Warn("takeover scan", "err", err)
		}
	}
}

// cancelRequested is the reason of a cancel CancelAnywhere is sending
// for runID, "" when none.
func (e *Executor) cancelRequested(runID string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cancelling[runID]
}

// waitingScanEvery: how many takeover rounds pass between two looks at
// the waiting runs (each look reads their streams).
const waitingScanEvery = 15

// unowned says whether a run may be resumed here: nobody runs it (no
// live lease). Without Leases every run not running here is.
func (e *Executor) unowned(ctx context.Context, runID string) (bool, error) {
	if e.opts.Leases == nil {
		return true, nil
	}
	_, live, err := e.opts.Leases.Owned(ctx, runID)
	if err != nil {
		return false, fmt.Errorf("resume run %s: %w", runID, err)
	}
	return !live, nil
}
