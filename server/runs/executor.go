package runs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/events/recorder"
	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/server/spells"
	"github.com/grimoire-run/grimoire/services/tracing"
)

// Publisher is the event bus committed run events go to.
type Publisher interface {
	Publish(ctx context.Context, evs ...events.RecordedEvent) error
}

// Errors a caller may branch on.
var (
	// ErrRunExists: a run with that id already has a stream.
	ErrRunExists = errors.New("run already exists")
	// ErrInputsTooLarge: the run's inputs exceed Options.MaxInputBytes.
	ErrInputsTooLarge = errors.New("run inputs too large")
	// ErrTooManyRuns: Options.MaxRuns runs are already running.
	ErrTooManyRuns = errors.New("too many runs in progress")
	// ErrClosed: the executor is closed.
	ErrClosed = errors.New("run executor closed")
	// ErrSpellNotSaved: a resumed run's spell version is not in its
	// spell-<id> stream.
	ErrSpellNotSaved = errors.New("spell version not found in the log")
)

// Options configures an Executor. Store and Runner are required.
type Options struct {
	Store events.Store
	// Bus receives committed run and spell events; nil for none.
	Bus Publisher
	// Runner executes the graphs; its Catalog also tells the recorder the
	// ports of resumed nodes.
	Runner *graph.Runner
	// Library keeps the spell versions runs use (saved before a run's
	// first event, loaded by hash on resume). Nil means a
	// *spells.Library over Store.
	Library SpellLibrary

	// MaxInputBytes bounds a run's inputs, encoded as JSON (default 1 MiB).
	MaxInputBytes int
	// MaxRuns bounds the runs in progress in this executor (default 1024).
	MaxRuns int
	// ChunkInterval and ChunkBytes tune how streamed tokens are coalesced
	// (see recorder.Options).
	ChunkInterval time.Duration
	ChunkBytes    int
	// Linger is how long a run's events may gather before they are
	// appended (see recorder.Options.Linger): longer costs a run less,
	// shorter shows its events to followers (sockets) sooner. 0 keeps the
	// recorder's default.
	Linger time.Duration

	// Leases, when set, make a run this process's only while it holds the
	// run's lease (several processes on one store): Start takes it,
	// Resume resumes only runs whose lease nobody holds, and cancel
	// requests reach the owner. Nil: one process, no leases.
	Leases Leases

	// Unfinished lists the runs that have RunRequested but no terminal
	// event (the runs read model can answer). Nil scans the global log.
	Unfinished func(ctx context.Context) ([]string, error)

	// OnCommit, if set, is called after each durable append of a run's
	// events with the last Seq made durable.
	OnCommit func(runID string, lastSeq uint64)

	// Cache, when set, serves and fills node results by cache key (the
	// node-output cache read model); nil runs every node.
	Cache OutputCache

	Logger *slog.Logger
	Now    func() time.Time
}

// OutputCache is the node-output cache as the executor uses it.
type OutputCache interface {
	// For returns the cache a run of s uses; nil when disabled (by the run
	// or by the spell).
	For(s *graph.Spell, disabled bool) graph.Cache
	// Scope is the graph.RunRequest.CacheScope of a run of s by user: whose
	// results it may be served.
	Scope(s *graph.Spell, user string) string
	// Observer wraps a run's recorder so that completed results enter the
	// cache as soon as they exist.
	Observer(runID string, next graph.Observer) graph.Observer
}

func (o *Options) setDefaults() {
	if o.MaxInputBytes <= 0 {
		o.MaxInputBytes = 1 << 20
	}
	if o.MaxRuns <= 0 {
		o.MaxRuns = 1024
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Library == nil {
		now := o.Now
		o.Library = &spells.Library{Store: o.Store, Now: func() time.Time { return now().UTC() }}
	}
}

// RunSpec is a request to run a spell.
type RunSpec struct {
	// RunID names the run; empty generates a time-sortable one.
	RunID string
	// Spell is the spell to run, or Program a compiled one.
	Spell   *graph.Spell
	Program *graph.Program
	// Inputs are keyed by Input node names; InputOrder is their order as
	// the caller wrote them (it picks Magick's entry Input).
	Inputs     map[string]any
	InputOrder []string
	// Entry names the node to start at (see graph.RunRequest).
	Entry string
	// User is the caller's JWT subject ("" for the CLI).
	User string
	// Source is where the request came from: "cli", "rest", "socket", "mcp".
	Source        string
	CorrelationID string
	// ParentRunID is set for a re-run from history or a fork.
	ParentRunID string
	// NoCache runs every node even where the node-output cache holds its
	// result for the same configuration and inputs.
	NoCache bool
	// Recorded supplies results to reuse instead of executing the nodes
	// (a fork's upstream, from its parent run); ForkOf is recorded with
	// the run so that it says where it came from.
	Recorded graph.Recorded
	ForkOf   *ForkOrigin
	// StateSession, when set, gives the run the spell state of that editor
	// session (a playtest: it starts from the spell's gameState and only
	// the session's runs share it) instead of the spell's state for User.
	StateSession string
	// Awaited: the caller holds its request open until the run ends (REST
	// mode=sync) and learns the outcome only then. RunRequested is then
	// made durable with the run's first append instead of before the run
	// starts, which saves one sync per short run. A crash before that
	// append loses the request; the caller sees its call fail, and nothing
	// it was told is lost.
	Awaited bool
	// AllowExtraInputs accepts inputs that no Input node reads (editors
	// that send extra keys; forks and re-runs, whose inputs were checked
	// when first given). Required inputs are checked either way.
	AllowExtraInputs bool
}

// Status of a finished run.
const (
	StatusCompleted = "completed"
	StatusFailed    = "failed"
	StatusCancelled = "cancelled"
	// StatusInterrupted: the executor was closed while the run was in
	// progress; it has no terminal event and resumes at the next Resume.
	StatusInterrupted = "interrupted"
)

// Outcome is how a run ended.
type Outcome struct {
	RunID  string
	Status string
	// Outputs are the spell's outputs (completed runs).
	Outputs map[string]any
	// Error and NodeID say why a run failed, Reason why it was cancelled.
	Error  string
	NodeID string
	Path   []string
	Reason string
	// Duration is from RunRequested to the end, resumes included.
	Duration time.Duration
	Usage    *events.Usage
	// LastSeq is the Seq of the run's last recorded event.
	LastSeq uint64
	// RecordErr is set when the run could not be recorded to the end.
	RecordErr error
}

// Run is a run in progress.
type Run struct {
	id      string
	ctx     context.Context
	cancel  context.CancelCauseFunc
	done    chan struct{}
	outcome Outcome
	// namedByCaller: the caller chose the run id, so the log may hold
	// what an earlier try of it wrote (its state writes are counted).
	namedByCaller bool
	// trace is the traceparent of the request that started the run (kept
	// in runMeta), which the run's span continues; source is where that
	// request came from.
	trace, source string
	// waiting lists the activations that began to wait in this run (its
	// observer's goroutine writes it, finish reads it after the run).
	waiting []events.NodeRef

	// rec records the run; Answer adds answers to it while the run goes
	// on (answered), until finish sets ending.
	rec      *recorder.Recorder
	mu       sync.Mutex
	answered []events.NodeRef
	ending   bool
	// resumeAfter: the run ended waiting with answers recorded meanwhile:
	// it resumes at once.
	resumeAfter bool
	// leased: this process holds the run's lease (Options.Leases).
	leased bool
}

// ID is the run's id.
func (r *Run) ID() string { return r.id }

// Done is closed when the run has ended and its last event is durable.
func (r *Run) Done() <-chan struct{} { return r.done }

// Wait waits for the run to end.
func (r *Run) Wait(ctx context.Context) (*Outcome, error) {
	select {
	case <-r.done:
		o := r.outcome
		return &o, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for run %s: %w", r.id, ctx.Err())
	}
}

// Cancel stops the run; it ends with RunCancelled and the reason.
func (r *Run) Cancel(reason string) {
	if reason == "" {
		reason = "cancelled by the caller"
	}
	r.cancel(&cancelled{reason: reason})
}

type cancelled struct{ reason string }

func (c *cancelled) Error() string { return "run cancelled: " + c.reason }

var errShutdown = errors.New("run executor shutting down")

// Executor starts, tracks, cancels and resumes recorded runs. It is safe
// for concurrent use.
type Executor struct {
	opts Options
	log  *slog.Logger

	base   context.Context
	stop   context.CancelCauseFunc
	mu     sync.Mutex
	closed bool
	active map[string]*Run
	wg     sync.WaitGroup
	// cancelling: runs CancelAnywhere is cancelling elsewhere (reason).
	cancelling map[string]string

	folds stateFolds // spell states as last read

	spellsMu sync.Mutex
	saved    map[string]bool // spellID + "\x00" + hash known to be in the log

	deadlines *deadlineQueue // of the questions waiting runs ask
}

// New returns an executor.
func New(opts Options) (*Executor, error) {
	if opts.Store == nil {
		return nil, errors.New("run executor: Options.Store is required")
	}
	if opts.Runner == nil || opts.Runner.Catalog == nil {
		return nil, errors.New("run executor: Options.Runner with a Catalog is required")
	}
	opts.setDefaults()
	base, stop := context.WithCancelCause(context.Background())
	e := &Executor{
		opts:       opts,
		log:        opts.Logger,
		base:       base,
		stop:       stop,
		active:     map[string]*Run{},
		saved:      map[string]bool{},
		cancelling: map[string]string{},
	}
	e.deadlines = newDeadlineQueue(opts.Now, e.expire)
	return e, nil
}

// runMeta is kept in RunRequested's metadata: what a resumed run needs
// that the event's schema has no field for.
type runMeta struct {
	InputOrder []string `json:"inputOrder,omitempty"`
	Entry      string   `json:"entry,omitempty"`
	NoCache    bool     `json:"noCache,omitempty"`
	// StateSession is RunSpec.StateSession, so that a resumed run keeps
	// its playtest state.
	StateSession string `json:"stateSession,omitempty"`
	// ForkOf says which run and node a fork was started from.
	ForkOf *ForkOrigin `json:"forkOf,omitempty"`
	// TraceParent is the W3C traceparent of the request that started the
	// run, so that a resumed run joins the same trace.
	TraceParent string `json:"traceParent,omitempty"`
}

// ForkOrigin is where a fork came from: the parent run (also in
// RunRequested.ParentRunID) and the node it recomputes from.
type ForkOrigin struct {
	RunID  string `json:"runId"`
	NodeID string `json:"nodeId"`
}

// Start records RunRequested (durably: when Start returns, the run exists
// and would be resumed after a crash) and runs the spell in the
// background. ctx bounds only the start; the run goes on until it ends,
// is cancelled, or the executor closes.
func (e *Executor) Start(ctx context.Context, spec RunSpec) (*Run, error) {
	prog := spec.Program
	if prog == nil {
		if spec.Spell == nil {
			return nil, errors.New("start run: RunSpec needs a Spell or a Program")
		}
		var err error
		if prog, err = e.opts.Runner.Compile(spec.Spell); err != nil {
			return nil, fmt.Errorf("start run of spell %q: %w", spec.Spell.ID, err)
		}
	}
	if spec.Inputs != nil {
		b, err := json.Marshal(spec.Inputs)
		if err != nil {
			return nil, fmt.Errorf("start run of spell %q: inputs have no JSON form: %w", prog.Spell.ID, err)
		}
		if len(b) > e.opts.MaxInputBytes {
			return nil, fmt.Errorf("start run of spell %q: %w: %d bytes, the limit is %d", prog.Spell.ID, ErrInputsTooLarge, len(b), e.opts.MaxInputBytes)
		}
	}
	if err := prog.Spell.CheckInputs(e.opts.Runner.Catalog, spec.Inputs, spec.AllowExtraInputs); err != nil {
		return nil, fmt.Errorf("start run: %w", err)
	}
	runID := spec.RunID
	if runID == "" {
		runID = NewRunID(e.opts.Now())
	} else if err := checkRunID(runID); err != nil {
		return nil, err
	}
	run, err := e.reserve(runID)
	if err != nil {
		return nil, err
	}
	run.namedByCaller = spec.RunID != ""
	run.trace, run.source = tracing.Parent(ctx), spec.Source
	started := false
	defer func() {
		if !started {
			e.disown(run)
			e.release(run)
		}
	}()
	if owned, err := e.own(ctx, run); err != nil {
		return nil, fmt.Errorf("start run %s: %w", runID, err)
	} else if !owned {
		return nil, fmt.Errorf("start run %s: %w (another process runs it)", runID, ErrRunExists)
	}

	if err := e.ensureSpellSaved(ctx, prog, spec.User); err != nil {
		return nil, fmt.Errorf("start run %s: %w", runID, err)
	}
	if spec.Awaited && spec.RunID != "" {
		// RunRequested is not flushed before the run starts (Awaited), so a
		// run id that already has a stream would only be refused at the
		// run's first append: refuse it now.
		_, err := e.opts.Store.ReadStream(ctx, events.RunStream(runID), events.End, events.Backwards, 1)
		if err == nil {
			return nil, fmt.Errorf("start run %s: %w", runID, ErrRunExists)
		}
		if !errors.Is(err, events.ErrStreamNotFound) {
			return nil, fmt.Errorf("start run %s: %w", runID, err)
		}
	}
	rec, err := e.newRecorder(runID, prog, spec.CorrelationID, 0, run)
	if err != nil {
		return nil, err
	}
	requestedAt := e.opts.Now()
	meta, _ := json.Marshal(runMeta{InputOrder: spec.InputOrder, Entry: spec.Entry, NoCache: spec.NoCache, StateSession: spec.StateSession, ForkOf: spec.ForkOf, TraceParent: run.trace})
	req := &events.RunRequested{
		RunHeader:   events.RunHeader{Time: requestedAt},
		Inputs:      spec.Inputs,
		User:        spec.User,
		Source:      spec.Source,
		ParentRunID: spec.ParentRunID,
	}
	if _, err := rec.Record(req, meta); err != nil {
		rec.Close(ctx)
		return nil, fmt.Errorf("start run %s: %w", runID, err)
	}
	if !spec.Awaited {
		err = rec.Flush(ctx)
	}
	if err != nil {
		rec.Close(ctx)
		if errors.Is(err, recorder.ErrRunTakenOver) {
			return nil, fmt.Errorf("start run %s: %w", runID, ErrRunExists)
		}
		return nil, fmt.Errorf("start run %s: %w", runID, err)
	}
	started = true
	e.log.Info("run started", "run", runID, "spell", prog.Spell.ID, "user", spec.User, "source", spec.Source)
	e.launch(run, prog, graph.RunRequest{
		RunID: runID, User: spec.User, Inputs: spec.Inputs, InputOrder: spec.InputOrder, Entry: spec.Entry, Recorded: spec.Recorded,
	}, spec.NoCache, spec.StateSession, rec, requestedAt, nil)
	return run, nil
}

// reserve registers a run id as in progress.
func (e *Executor) reserve(runID string) (*Run, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, ErrClosed
	}
	if _, dup := e.active[runID]; dup {
		return nil, fmt.Errorf("start run %s: %w", runID, ErrRunExists)
	}
	if len(e.active) >= e.opts.MaxRuns {
		return nil, fmt.Errorf("start run %s: %w (%d)", runID, ErrTooManyRuns, e.opts.MaxRuns)
	}
	ctx, cancel := context.WithCancelCause(e.base)
	r := &Run{id: runID, ctx: ctx, cancel: cancel, done: make(chan struct{})}
	e.active[runID] = r
	e.wg.Add(1)
	return r, nil
}

// release undoes reserve, for a run that ended or never started.
func (e *Executor) release(r *Run) {
	e.leave(r)
	e.wg.Done()
}

// leave takes a run off the active list; Close still waits for it until
// wg.Done.
func (e *Executor) leave(r *Run) {
	e.mu.Lock()
	if e.active[r.id] == r {
		delete(e.active, r.id)
	}
	e.mu.Unlock()
	r.cancel(nil)
}

func (e *Executor) newRecorder(runID string, prog *graph.Program, correlationID string, afterSeq uint64, run *Run) (*recorder.Recorder, error) {
	var onCommit func(uint64)
	if e.opts.OnCommit != nil {
		onCommit = func(seq uint64) { e.opts.OnCommit(runID, seq) }
	}
	var bus recorder.Publisher
	if e.opts.Bus != nil {
		bus = e.opts.Bus
	}
	return recorder.New(recorder.Options{
		Store:         e.opts.Store,
		Bus:           bus,
		RunID:         runID,
		SpellID:       prog.Spell.ID,
		SpellHash:     prog.Hash,
		CorrelationID: correlationID,
		AfterSeq:      afterSeq,
		ChunkInterval: e.opts.ChunkInterval,
		ChunkBytes:    e.opts.ChunkBytes,
		Linger:        e.opts.Linger,
		OnCommit:      onCommit,
		// Nothing the run does is recorded any more: stop it.
		OnError: func(err error) { run.cancel(err) },
		Logger:  e.log,
		Now:     e.opts.Now,
	})
}

// launch runs the program in the background and records how it ended.
// prior is the recording of a resumed run (nil for a new one).
func (e *Executor) launch(run *Run, prog *graph.Program, req graph.RunRequest, noCache bool, stateSession string, rec *recorder.Recorder, requestedAt time.Time, prior *recorder.Recording) {
	ctx, endSpan := tracing.StartRun(tracing.WithParent(run.ctx, run.trace), tracing.Run{
		ID: run.id, Spell: prog.Spell.ID, User: req.User, Source: run.source, Resumed: prior != nil,
	})
	if tracing.Enabled() {
		req.NodeContext = nodeSpan
	}
	req.Observer = rec
	if req.State == nil {
		req.State = newLogState(e.opts.Store, &e.folds, prog.Spell, req.User, stateSession, req.RunID, prior != nil || run.namedByCaller, e.opts.Now)
	}
	if c := e.opts.Cache; c != nil {
		if req.Cache = c.For(prog.Spell, noCache); req.Cache != nil {
			req.CacheScope = c.Scope(prog.Spell, req.User)
			req.Observer = c.Observer(run.id, rec)
		}
	}
	if prior != nil {
		req.Recorded = prior
	}
	req.Observer = e.watchQuestions(run, req.Observer)
	run.rec = rec
	go func() {
		res, err := e.opts.Runner.RunProgram(ctx, prog, req)
		run.outcome = e.finish(ctx, run, res, err, rec, requestedAt, prior)
		endSpan(run.outcome.Status, run.outcome.Error)
		// Done is closed once the run's end is durable and the run has
		// left the active list (a caller woken by Wait never finds it still
		// listed), without waiting for the bus: the recorder's Close below
		// publishes the rest, and Executor.Close waits for it.
		e.leave(run)
		close(run.done)
		closeCtx, cancel := context.WithTimeout(context.Background(), recorderCloseTimeout)
		if err := rec.Close(closeCtx); err != nil && run.outcome.RecordErr == nil {
			e.log.Error("run's events not all published", "run", run.id, "err", err)
		}
		cancel()
		e.disown(run)
		if run.resumeAfter {
			if _, err := e.resume(context.Background(), run.id, "answered"); err != nil {
				// The answers stand: the next Resume goes on with them.
				e.log.Error("run not resumed after its answers", "run", run.id, "err", err)
			}
		}
		e.wg.Done()
	}()
}

// nodeSpan is graph.RunRequest.NodeContext when tracing is on: a span per
// node activation, under the run's.
func nodeSpan(ctx context.Context, e graph.NodeEvent) (context.Context, func(error)) {
	return tracing.StartNode(ctx, tracing.Node{ID: e.NodeID, Type: e.NodeType, Path: e.Path, Activation: e.Activation})
}

// recorderCloseTimeout bounds how long a run's end waits for its recording
// (when cancelled, say): the end must be recorded, but not forever.
const recorderCloseTimeout = 30 * time.Second

func (e *Executor) finish(ctx context.Context, run *Run, res *graph.RunResult, runErr error, rec *recorder.Recorder, requestedAt time.Time, prior *recorder.Recording) Outcome {
	runID := run.id
	out := Outcome{RunID: runID, Duration: e.opts.Now().Sub(requestedAt)}
	usage := rec.Usage()
	if prior != nil && prior.Usage != nil {
		u := *prior.Usage
		if usage != nil {
			u.PromptTokens += usage.PromptTokens
			u.CompletionTokens += usage.CompletionTokens
			u.TotalTokens += usage.TotalTokens
			u.Calls += usage.Calls
		}
		usage = &u
	}
	out.Usage = usage

	run.mu.Lock()
	run.ending = true // answers go to the log from now on
	answered := len(run.answered) > 0
	run.mu.Unlock()

	cause := context.Cause(ctx)
	var c *cancelled
	var terminal any
	switch {
	case runErr == nil:
		out.Status, out.Outputs = StatusCompleted, res.Outputs
		terminal = &events.RunCompleted{Outputs: res.Outputs, Duration: out.Duration, Usage: usage}
	case errors.Is(cause, errShutdown):
		out.Status, out.Reason = StatusInterrupted, "executor closed"
	case errors.Is(cause, errLeaseLost):
		out.Status, out.Reason = StatusInterrupted, errLeaseLost.Error()
	case cause == nil && errors.Is(runErr, graph.ErrWaiting) && answered:
		out.Status, run.resumeAfter = StatusWaiting, true
	case cause == nil && errors.Is(runErr, graph.ErrWaiting):
		out.Status = StatusWaiting
		terminal = &events.RunPaused{Waiting: waitingRefs(prior, run.waiting)}
	case errors.As(cause, &c):
		out.Status, out.Reason = StatusCancelled, c.reason
		terminal = &events.RunCancelled{Reason: c.reason, Duration: out.Duration}
	case rec.Err() != nil:
		out.Status, out.Error = StatusFailed, rec.Err().Error()
	default:
		out.Status, out.Error = StatusFailed, runErr.Error()
		f := &events.RunFailed{Error: runErr.Error(), Duration: out.Duration}
		var ne *graph.NodeError
		if errors.As(runErr, &ne) {
			f.NodeID, f.Path = ne.NodeID, ne.Path
			out.NodeID, out.Path = ne.NodeID, ne.Path
		}
		terminal = f
	}
	if terminal != nil {
		if _, err := rec.Record(terminal, nil); err != nil {
			out.RecordErr = err
		}
	}
	// The run's end must be recorded even when it was cancelled; bound
	// the wait instead.
	syncCtx, cancel := context.WithTimeout(context.Background(), recorderCloseTimeout)
	defer cancel()
	if err := rec.Sync(syncCtx); err != nil && out.RecordErr == nil {
		out.RecordErr = err
	}
	out.LastSeq = rec.LastSeq()
	if out.RecordErr != nil {
		e.log.Error("run not fully recorded", "run", runID, "err", out.RecordErr)
	}
	e.log.Info("run ended", "run", runID, "status", out.Status, "duration", out.Duration, "error", out.Error)
	return out
}

// watchQuestions passes a run's node events on to next, and keeps the
// questions its nodes begin to ask: their deadlines are scheduled, and
// finish lists them in RunPaused.
func (e *Executor) watchQuestions(run *Run, next graph.Observer) graph.Observer {
	return graph.ObserverFunc(func(ev graph.NodeEvent) {
		if ev.Kind == graph.NodeWaiting {
			ref := events.NodeRef{NodeID: ev.NodeID, NodeType: ev.NodeType, Activation: ev.Activation, Path: ev.Path}
			run.waiting = append(run.waiting, ref)
			if q := ev.Question; q != nil && !q.Deadline.IsZero() {
				e.deadlines.add(run.id, ref, q.Deadline)
			}
		}
		next.ObserveNode(ev)
	})
}

// waitingRefs lists the questions a run that ends waiting waits on: those
// it asked before (still unanswered) and those it asked now.
func waitingRefs(prior *recorder.Recording, asked []events.NodeRef) []events.NodeRef {
	var out []events.NodeRef
	if prior != nil {
		for _, q := range prior.Pending() {
			out = append(out, q.NodeRef)
		}
	}
	return append(out, asked...)
}

// Get returns a run in progress in this executor.
func (e *Executor) Get(runID string) (*Run, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, ok := e.active[runID]
	return r, ok
}

// Cancel cancels a run in progress; false if this executor has no such run.
func (e *Executor) Cancel(runID, reason string) bool {
	r, ok := e.Get(runID)
	if ok {
		r.Cancel(reason)
	}
	return ok
}

// Wait waits for a run in progress to end; an unknown run is an error.
func (e *Executor) Wait(ctx context.Context, runID string) (*Outcome, error) {
	r, ok := e.Get(runID)
	if !ok {
		return nil, fmt.Errorf("wait for run %s: not running in this process", runID)
	}
	return r.Wait(ctx)
}

// Active lists the ids of the runs in progress.
func (e *Executor) Active() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	ids := make([]string, 0, len(e.active))
	for id := range e.active {
		ids = append(ids, id)
	}
	return ids
}

// Close stops accepting runs and waits for those in progress to end until
// ctx is done; the ones still running then are interrupted without a
// terminal event, so the next Resume (in this or another process) takes
// them over. Every goroutine of the executor has ended when Close returns.
func (e *Executor) Close(ctx context.Context) error {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	done := make(chan struct{})
	go func() {
		e.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		e.stop(errShutdown)
		<-done
	}
	e.stop(errShutdown)
	e.deadlines.stop()
	return nil
}

func checkRunID(id string) error {
	if len(id) > 128 || strings.ContainsAny(id, " /\\\x00\n") {
		return fmt.Errorf("run id %q: use at most 128 characters, no spaces or slashes", id)
	}
	return nil
}
