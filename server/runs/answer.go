package runs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/events/recorder"
	"github.com/grimoire-run/grimoire/internal/jsonschema"
)

// StatusWaiting: every branch of the run that could go on has ended and
// some nodes wait for answers (RunPaused). The run holds no goroutine and
// no slot; Answer resumes it, on any process.
const StatusWaiting = "waiting"

// Errors of Answer a caller may branch on.
var (
	// ErrNotWaiting: the run has no unanswered question at that node.
	ErrNotWaiting = errors.New("no question waits at that node")
	// ErrAlreadyAnswered: the question was answered (or timed out) first.
	ErrAlreadyAnswered = errors.New("question already answered")
	// ErrNotAllowed: the user is not among the question's answeredBy.
	ErrNotAllowed = errors.New("user may not answer this question")
	// ErrInvalidAnswer: the value does not satisfy the question's schema.
	ErrInvalidAnswer = errors.New("invalid answer")
	// ErrRunBusy: the run is still running other branches in this
	// process; answer once it waits.
	ErrRunBusy = errors.New("run still running other branches")
	// ErrRunEnded: the run has ended.
	ErrRunEnded = errors.New("run has ended")
)

// AnswerFromAnyone in a question's AnsweredBy lets anyone who may see the
// run answer (the caller checks that).
const AnswerFromAnyone = "*"

// Answer is an answer to a waiting node.
type Answer struct {
	RunID  string
	NodeID string
	Value  any
	// User is who answers (the JWT subject; "" for the CLI).
	User string
	// MayReadRun: the user may read the run, which a question answered
	// by AnswerFromAnyone requires.
	MayReadRun bool
}

// Answered is what Answer recorded.
type Answered struct {
	RunID string `json:"runId"`
	events.NodeRef
	// Seq is the Seq of the RunAnswered event.
	Seq uint64 `json:"seq"`
	// Resumed: the run goes on in this process (now, or once the
	// branches it is still running end).
	Resumed bool `json:"resumed"`
	// Run is the resumed run (nil when it was not resumed here, or will
	// be once its running branches end).
	Run *Run `json:"-"`
}

// Answer checks an answer against the question the run's node waits on
// (who may answer, the schema), records it as RunAnswered at the stream's
// expected revision (of two answers racing, one wins; the other gets
// ErrAlreadyAnswered) and resumes the run, which takes the answer as the
// node's result and goes on downstream of it.
//
// A run still running other branches in this process takes the answer
// into its own recording, and goes on with it once those branches end.
func (e *Executor) Answer(ctx context.Context, a Answer) (*Answered, error) {
	if run, running := e.Get(a.RunID); running {
		return e.answerLive(ctx, run, a)
	}
	rec, q, err := e.question(ctx, a.RunID, a.NodeID)
	if err != nil {
		return nil, err
	}
	if err := checkAnswer(q, a); err != nil {
		return nil, err
	}
	seq, err := e.appendToWaiting(ctx, rec, &events.RunAnswered{NodeRef: q.NodeRef, Value: a.Value, By: a.User})
	if err != nil {
		return nil, fmt.Errorf("answer node %s of run %s: %w", a.NodeID, a.RunID, err)
	}
	e.deadlines.remove(a.RunID, q.NodeRef)
	e.log.Info("question answered", "run", a.RunID, "node", q.NodeID, "user", a.User)
	out := &Answered{RunID: a.RunID, NodeRef: q.NodeRef, Seq: seq}
	run, err := e.resume(ctx, a.RunID, "answered")
	if err != nil {
		// The answer stands: the next Resume (a restart) goes on with it.
		return out, fmt.Errorf("answer node %s of run %s recorded, resume failed: %w", a.NodeID, a.RunID, err)
	}
	out.Resumed, out.Run = run != nil, run
	return out, nil
}

// answerLive records an answer in the recording of a run in progress
// here; the run resumes with it when its other branches have ended (see
// finish). A run that is ending meanwhile is answered through the log.
func (e *Executor) answerLive(ctx context.Context, run *Run, a Answer) (*Answered, error) {
	rec, _, err := recorder.Recorded(ctx, e.opts.Store, a.RunID, anyPorts)
	if err != nil {
		return nil, fmt.Errorf("answer node %s of run %s: %w", a.NodeID, a.RunID, err)
	}
	run.mu.Lock()
	if run.ending {
		run.mu.Unlock()
		select {
		case <-run.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return e.Answer(ctx, a)
	}
	defer run.mu.Unlock()
	var q *events.RunWaiting
	for _, w := range rec.Pending() {
		if w.NodeID == a.NodeID && !slices.ContainsFunc(run.answered, func(r events.NodeRef) bool { return waitKey(r) == waitKey(w.NodeRef) }) {
			q = &w
			break
		}
	}
	switch {
	case q == nil && (rec.Answered(a.NodeID) || slices.ContainsFunc(run.answered, func(r events.NodeRef) bool { return r.NodeID == a.NodeID })):
		return nil, fmt.Errorf("answer node %s of run %s: %w", a.NodeID, a.RunID, ErrAlreadyAnswered)
	case q == nil:
		return nil, fmt.Errorf("answer node %s of run %s: %w", a.NodeID, a.RunID, ErrNotWaiting)
	}
	if err := checkAnswer(*q, a); err != nil {
		return nil, err
	}
	seq, err := run.rec.Record(&events.RunAnswered{NodeRef: q.NodeRef, Value: a.Value, By: a.User}, nil)
	if err != nil {
		return nil, fmt.Errorf("answer node %s of run %s: %w", a.NodeID, a.RunID, err)
	}
	run.answered = append(run.answered, q.NodeRef)
	e.deadlines.remove(a.RunID, q.NodeRef)
	e.log.Info("question answered while the run goes on", "run", a.RunID, "node", q.NodeID, "user", a.User)
	return &Answered{RunID: a.RunID, NodeRef: q.NodeRef, Seq: seq, Resumed: true}, nil
}

// checkAnswer checks who answers and the value against the question.
func checkAnswer(q events.RunWaiting, a Answer) error {
	if !slices.Contains(q.AnsweredBy, a.User) && !(a.MayReadRun && slices.Contains(q.AnsweredBy, AnswerFromAnyone)) {
		return fmt.Errorf("answer node %s of run %s: %w (%q; it waits for %v)", a.NodeID, a.RunID, ErrNotAllowed, a.User, q.AnsweredBy)
	}
	if q.Schema != nil {
		s, err := jsonschema.Compile(q.Schema)
		if err != nil {
			return fmt.Errorf("answer node %s of run %s: the question's %w", a.NodeID, a.RunID, err)
		}
		if err := s.Validate(a.Value); err != nil {
			return fmt.Errorf("answer node %s of run %s: %w: %w", a.NodeID, a.RunID, ErrInvalidAnswer, err)
		}
	}
	return nil
}

// question finds the unanswered question at nodeID (the oldest, if it
// asked several times) in run runID's recording.
func (e *Executor) question(ctx context.Context, runID, nodeID string) (*recorder.Recording, events.RunWaiting, error) {
	if _, running := e.Get(runID); running {
		return nil, events.RunWaiting{}, fmt.Errorf("answer node %s of run %s: %w; answer once its status is %q", nodeID, runID, ErrRunBusy, StatusWaiting)
	}
	rec, _, err := recorder.Recorded(ctx, e.opts.Store, runID, anyPorts)
	if err != nil {
		return nil, events.RunWaiting{}, fmt.Errorf("answer node %s of run %s: %w", nodeID, runID, err)
	}
	if rec.Terminal != "" {
		return nil, events.RunWaiting{}, fmt.Errorf("answer node %s of run %s: %w (%s)", nodeID, runID, ErrRunEnded, rec.Terminal)
	}
	for _, q := range rec.Pending() {
		if q.NodeID == nodeID {
			return rec, q, nil
		}
	}
	if rec.Answered(nodeID) {
		return nil, events.RunWaiting{}, fmt.Errorf("answer node %s of run %s: %w", nodeID, runID, ErrAlreadyAnswered)
	}
	return nil, events.RunWaiting{}, fmt.Errorf("answer node %s of run %s: %w", nodeID, runID, ErrNotWaiting)
}

// anyPorts reads a recording only for its questions.
func anyPorts([]string, string, string) ([]string, bool) { return nil, true }

// appendToWaiting appends evs to a run that holds nothing (waiting), after
// the recording's last event: a concurrent append (another answer, a
// resume) makes it fail with ErrAlreadyAnswered.
func (e *Executor) appendToWaiting(ctx context.Context, rec *recorder.Recording, evs ...any) (uint64, error) {
	var bus recorder.Publisher
	if e.opts.Bus != nil {
		bus = e.opts.Bus
	}
	r, err := recorder.New(recorder.Options{
		Store: e.opts.Store, Bus: bus, RunID: rec.RunID,
		SpellID: rec.Requested.SpellID, SpellHash: rec.Requested.SpellHash, CorrelationID: rec.Requested.CorrelationID,
		AfterSeq: rec.LastSeq, Logger: e.log, Now: e.opts.Now,
	})
	if err != nil {
		return 0, err
	}
	var seq uint64
	for _, ev := range evs {
		if seq, err = r.Record(ev, nil); err != nil {
			break
		}
	}
	if err == nil {
		err = r.Flush(ctx)
	}
	closeCtx, cancel := context.WithTimeout(context.Background(), recorderCloseTimeout)
	defer cancel()
	if cerr := r.Close(closeCtx); err == nil {
		err = cerr
	}
	if errors.Is(err, recorder.ErrRunTakenOver) || errors.Is(err, events.ErrWrongExpectedRevision) {
		return 0, fmt.Errorf("%w (the run changed meanwhile)", ErrAlreadyAnswered)
	}
	return seq, err
}

// expire is called when a question's deadline passes: it answers it with
// its timeout value, or fails the node and the run, as the question says.
func (e *Executor) expire(runID string, ref events.NodeRef) {
	ctx, cancel := context.WithTimeout(e.base, time.Minute)
	defer cancel()
	rec, q, err := e.question(ctx, runID, ref.NodeID)
	switch {
	case errors.Is(err, ErrRunBusy):
		// Another branch is still running here: look again shortly.
		e.deadlines.add(runID, ref, e.opts.Now().Add(time.Second))
		return
	case err != nil:
		e.log.Debug("deadline of a question no longer waiting", "run", runID, "node", ref.NodeID, "err", err)
		return
	}
	if q.OnDeadline == "timeout" {
		if _, err := e.appendToWaiting(ctx, rec, &events.RunAnswered{NodeRef: q.NodeRef, Value: q.TimeoutValue, TimedOut: true}); err != nil {
			e.log.Warn("deadline not recorded", "run", runID, "node", ref.NodeID, "err", err)
			return
		}
		e.log.Info("question timed out", "run", runID, "node", ref.NodeID)
		if _, err := e.resume(ctx, runID, "deadline passed"); err != nil {
			e.log.Error("run not resumed after a deadline", "run", runID, "err", err)
		}
		return
	}
	why := fmt.Sprintf("no answer before the deadline (%s)", q.Deadline.Format(time.RFC3339))
	duration := e.opts.Now().Sub(rec.Requested.Time)
	if _, err := e.appendToWaiting(ctx, rec,
		&events.NodeFailed{NodeRef: q.NodeRef, Error: why},
		&events.RunFailed{Error: fmt.Sprintf("node %s (%s): %s", q.NodeID, q.NodeType, why), NodeID: q.NodeID, Path: q.Path, Duration: duration},
	); err != nil {
		e.log.Warn("deadline not recorded", "run", runID, "node", ref.NodeID, "err", err)
		return
	}
	e.log.Info("run failed at a deadline", "run", runID, "node", ref.NodeID)
}
