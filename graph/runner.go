package graph

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Errors a caller may branch on.
var (
	ErrTooManyActivations = errors.New("too many node activations")
	ErrRecursion          = errors.New("sub-spell recursion")
	ErrNoEntry            = errors.New("no entry node")
)

// NodeError reports the node a run failed at.
type NodeError struct {
	Path     []string
	NodeID   string
	NodeType string
	Err      error
}

func (e *NodeError) Error() string {
	where := ""
	for _, p := range e.Path {
		where += "spell node " + p + " › "
	}
	return fmt.Sprintf("%snode %s (%s): %v", where, e.NodeID, e.NodeType, e.Err)
}

func (e *NodeError) Unwrap() error { return e.Err }

// SpellSource finds spells for Spell (sub-spell) nodes, by id or name,
// for a run of user (RunRequest.User: "" is the operator): a source that
// knows owners resolves only spells that user may run.
type SpellSource interface {
	LoadSpell(ctx context.Context, user, ref string) (*Spell, error)
}

// Limiter bounds how many node activations run at once. One Limiter is
// shared by every run of a process to give a global limit.
type Limiter struct{ slots chan struct{} }

// NewLimiter returns a limiter allowing n concurrent activations.
func NewLimiter(n int) *Limiter {
	if n < 1 {
		n = 1
	}
	return &Limiter{slots: make(chan struct{}, n)}
}

func (l *Limiter) acquire(ctx context.Context) error {
	if l == nil {
		return nil
	}
	select {
	case l.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *Limiter) release() {
	if l != nil {
		<-l.slots
	}
}

// Runner executes spells. The zero value is not usable: Catalog is required.
// A Runner is safe for concurrent use; runs share nothing but Limiter.
type Runner struct {
	Catalog Catalog
	// Spells resolves sub-spells; nil forbids Spell nodes.
	Spells SpellSource
	// Limiter is the global concurrency limit; nil means none.
	Limiter *Limiter
	// MaxParallel bounds concurrent activations within one run (default 16).
	MaxParallel int
	// NodeTimeout bounds one activation unless its type sets its own
	// (default 5 minutes).
	NodeTimeout time.Duration
	// MaxActivations bounds node activations per run, sub-spells included,
	// so that trigger loops cannot run away (default 10,000).
	MaxActivations int
	// MaxDepth bounds sub-spell nesting (default 16).
	MaxDepth int

	programs sync.Map // spell hash -> *Program
}

func (r *Runner) maxParallel() int {
	if r.MaxParallel > 0 {
		return r.MaxParallel
	}
	return 16
}

func (r *Runner) nodeTimeout() time.Duration {
	if r.NodeTimeout > 0 {
		return r.NodeTimeout
	}
	return 5 * time.Minute
}

func (r *Runner) maxActivations() int64 {
	if r.MaxActivations > 0 {
		return int64(r.MaxActivations)
	}
	return 10_000
}

func (r *Runner) maxDepth() int {
	if r.MaxDepth > 0 {
		return r.MaxDepth
	}
	return 16
}

// RunRequest is one run of a compiled spell.
type RunRequest struct {
	RunID string
	User  string
	// Inputs are keyed by Input node names.
	Inputs map[string]any
	// InputOrder is the order of Inputs' keys as the caller wrote them; its
	// first key picks Magick's entry Input node.
	InputOrder []string
	// Entry names the node to start at (node id, or a Trigger In / Input
	// name or socket key); empty applies Thoth's and Magick's rules.
	Entry    string
	Observer Observer
	Recorded Recorded
	Cache    Cache
	// CacheScope separates the cache keys of runs that must not share
	// results: every activation's key includes it, so a run is never
	// served a result computed in another scope, nor learns from a hit
	// that somebody else ran this input. The server scopes by the run's
	// user unless the spell shares its cache (see projections/cache.Scope).
	CacheScope string
	// State is the spell state the run reads and writes (State Read, State
	// Write, Code); nil keeps a state in memory for this run only, starting
	// at the spell's gameState. Sub-spells share their parent's.
	State SpellState
	// NodeContext, when set, is called as each activation's worker is
	// about to run, with the activation's NodeStarted event: the worker
	// runs under the context it returns, and done is called with the
	// worker's error once it returned (a tracing span per activation, for
	// example). Sub-spells use their parent's.
	NodeContext func(ctx context.Context, e NodeEvent) (_ context.Context, done func(error))
}

// RunResult is what a finished run produced.
type RunResult struct {
	// Outputs are keyed by Output node names.
	Outputs map[string]any
	// Fired lists the Module Trigger Out names that fired (sub-spells).
	Fired       []string
	Activations int
}

// Program is a validated spell with its workers built, ready to run many times.
type Program struct {
	Spell *Spell
	Hash  string
	nodes map[string]*programNode
	order []*programNode // by id
}

type programNode struct {
	node   *Node
	typ    *NodeType
	worker Worker
	// dataSources lists, per data input port in port order, the connected outputs.
	dataInputs []dataInput
	// triggerTargets lists, per trigger output port, the connected inputs.
	triggerOuts []triggerOut
	// triggered: some trigger input is connected, so the node runs only
	// when triggered. Otherwise it is data-only and evaluated once, lazily.
	triggered bool
	configKey string // hash of type and config, for cache keys
	// cached: the node may be served from the node-output cache
	// (NodeType.CachesNode).
	cached bool
}

type dataInput struct {
	port    string
	sources []PortRef
}

type triggerOut struct {
	port    string
	targets []PortRef
}

// Compile validates a spell and builds its workers. Programs are cached by
// content hash.
func (r *Runner) Compile(s *Spell) (*Program, error) {
	key := programKey(s)
	if p, ok := r.programs.Load(key); ok {
		return p.(*Program), nil
	}
	p, err := Compile(s, r.Catalog)
	if err != nil {
		return nil, err
	}
	r.programs.Store(key, p)
	return p, nil
}

// programKey identifies a compiled program: the content hash, plus the
// spell id and the node positions, which the hash ignores but entry
// selection (the top-most Trigger In) depends on.
func programKey(s *Spell) string {
	h := sha256.New()
	h.Write([]byte(Hash(s)))
	h.Write([]byte{0})
	h.Write([]byte(s.ID))
	for i := range s.Nodes {
		if p := s.Nodes[i].Position; p != nil {
			fmt.Fprintf(h, "\x00%s@%g", s.Nodes[i].ID, p.Y)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Compile validates a spell against a catalog and builds its workers.
func Compile(s *Spell, c Catalog) (*Program, error) {
	hash := Hash(s)
	s, err := validate(s, c)
	if err != nil {
		return nil, err
	}
	p := &Program{Spell: s, Hash: hash, nodes: make(map[string]*programNode, len(s.Nodes))}
	for i := range s.Nodes {
		n := &s.Nodes[i]
		t, _ := c.Lookup(n.Type)
		w, err := t.New(n)
		if err != nil {
			return nil, &NodeError{NodeID: n.ID, NodeType: t.Name, Err: err}
		}
		cfg, _ := json.Marshal(contentConfig(n.Config))
		sum := sha256.Sum256(append([]byte(t.Name+"\x00"), cfg...))
		pn := &programNode{node: n, typ: t, worker: w, configKey: hex.EncodeToString(sum[:16]), cached: t.CachesNode(s, n)}
		p.nodes[n.ID] = pn
		p.order = append(p.order, pn)
	}
	sort.Slice(p.order, func(i, j int) bool { return compareNodeIDs(p.order[i].node.ID, p.order[j].node.ID) < 0 })
	for _, pn := range p.order {
		ins := pn.typ.InputPorts(pn.node)
		for _, port := range ins {
			var srcs []PortRef
			for _, e := range s.Edges {
				if e.To.Node == pn.node.ID && e.To.Port == port.Name {
					srcs = append(srcs, e.From)
				}
			}
			if len(srcs) == 0 {
				continue
			}
			if port.Kind == Trigger {
				pn.triggered = true
			} else {
				pn.dataInputs = append(pn.dataInputs, dataInput{port: port.Name, sources: srcs})
			}
		}
		for _, port := range pn.typ.OutputPorts(pn.node) {
			if port.Kind != Trigger {
				continue
			}
			var tgts []PortRef
			for _, e := range s.Edges {
				if e.From.Node == pn.node.ID && e.From.Port == port.Name {
					tgts = append(tgts, e.To)
				}
			}
			pn.triggerOuts = append(pn.triggerOuts, triggerOut{port: port.Name, targets: tgts})
		}
	}
	return p, nil
}

// Run compiles and runs a spell.
func (r *Runner) Run(ctx context.Context, s *Spell, req RunRequest) (*RunResult, error) {
	p, err := r.Compile(s)
	if err != nil {
		return nil, err
	}
	return r.RunProgram(ctx, p, req)
}

// RunProgram runs a compiled spell to completion. It returns when every
// activation has finished; on failure the error is a *NodeError (or wraps
// ErrTooManyActivations, or the context's error when cancelled).
func (r *Runner) RunProgram(ctx context.Context, p *Program, req RunRequest) (*RunResult, error) {
	st := newRunState(ctx, r, p, req)
	st.stack = []string{p.Spell.ID}
	st.obs = &observerGate{obs: req.Observer}
	st.total = new(atomic.Int64)
	return st.execute()
}

// observerGate serializes observer calls for a run and its sub-spells.
type observerGate struct {
	mu  sync.Mutex
	obs Observer
}

type runState struct {
	ctx     context.Context
	cancel  context.CancelCauseFunc
	runner  *Runner
	prog    *Program
	req     RunRequest
	path    []string
	stack   []string
	obs     *observerGate
	total   *atomic.Int64
	qmu     sync.Mutex
	queue   []pendingActivation
	workers int
	wg      sync.WaitGroup

	mu         sync.Mutex
	nodes      map[string]*nodeState
	runOutputs map[string]any
	fired      []string
	err        error
	closedBy   map[string]string // node id -> why it cannot run
	waiting    []string          // activations that wait (see Waiting)

	stateOnce sync.Once // creates req.State when the caller gave none
}

type nodeState struct {
	exec        sync.Mutex // activations of one node run one at a time
	activations int
	outputs     Outputs // latest
	hasOutputs  bool
	key         string // cache key of the latest activation
	state       map[string]any
	pulled      chan struct{} // data-only nodes: closed once evaluated
	pullErr     error
	closed      []string // data-only nodes: trigger outputs their one activation closed
	waiting     bool     // an activation waits (see Waiting): what needs its data waits too
}

func newRunState(ctx context.Context, r *Runner, p *Program, req RunRequest) *runState {
	cctx, cancel := context.WithCancelCause(ctx)
	st := &runState{
		ctx: cctx, cancel: cancel, runner: r, prog: p, req: req,
		nodes:      make(map[string]*nodeState, len(p.order)),
		runOutputs: map[string]any{},
		closedBy:   map[string]string{},
	}
	for _, pn := range p.order {
		st.nodes[pn.node.ID] = &nodeState{}
	}
	return st
}

func (st *runState) observe(e NodeEvent) {
	if st.obs == nil || st.obs.obs == nil {
		return
	}
	e.RunID = st.req.RunID
	e.Path = st.path
	e.SpellID = st.prog.Spell.ID
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	st.obs.mu.Lock()
	defer st.obs.mu.Unlock()
	st.obs.obs.ObserveNode(e)
}

func (st *runState) fail(err error) {
	st.mu.Lock()
	if st.err == nil {
		st.err = err
	}
	st.mu.Unlock()
	st.cancel(err)
}

func (st *runState) execute() (*RunResult, error) {
	defer st.cancel(nil)
	entries, err := st.prog.entries(st.req)
	if err != nil {
		return nil, err
	}
	for _, pn := range entries {
		st.spawn(pn, "", "")
	}
	st.wg.Wait()

	st.mu.Lock()
	runErr := st.err
	st.mu.Unlock()
	if runErr == nil {
		if cause := context.Cause(st.ctx); cause != nil && st.ctx.Err() != nil {
			runErr = cause
		}
	}
	st.mu.Lock()
	waiting := st.waiting
	st.mu.Unlock()
	if runErr == nil && len(waiting) > 0 {
		// Nodes not reached yet may run once the answer comes: they are
		// not skipped.
		return nil, &WaitingError{Nodes: waiting}
	}
	st.reportSkipped()
	if runErr != nil {
		return nil, runErr
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return &RunResult{Outputs: st.runOutputs, Fired: st.fired, Activations: int(st.total.Load())}, nil
}

func (st *runState) reportSkipped() {
	for _, pn := range st.prog.order {
		ns := st.nodes[pn.node.ID]
		st.mu.Lock()
		ran := ns.activations > 0
		reason, closed := st.closedBy[pn.node.ID]
		st.mu.Unlock()
		if ran {
			continue
		}
		if !closed {
			reason = "not reached"
		}
		st.observe(NodeEvent{Kind: NodeSkipped, NodeID: pn.node.ID, NodeType: pn.typ.Name, Reason: reason})
	}
}

// spawn queues an activation. The run keeps at most MaxParallel worker
// goroutines draining its queue, so a fan-out to a thousand nodes costs a
// queue entry each, not a parked goroutine each.
func (st *runState) spawn(pn *programNode, trigger, from string) {
	st.qmu.Lock()
	st.queue = append(st.queue, pendingActivation{pn: pn, trigger: trigger, from: from})
	if st.workers >= st.runner.maxParallel() {
		st.qmu.Unlock()
		return
	}
	st.workers++
	st.qmu.Unlock()
	st.wg.Add(1)
	go st.drain()
}

// drain works through the run's queue. After an activation it continues inline with
// the last activation that one triggered (a chain needs no queueing) and
// queues the others.
func (st *runState) drain() {
	defer st.wg.Done()
	for {
		st.qmu.Lock()
		if len(st.queue) == 0 {
			st.workers--
			st.qmu.Unlock()
			return
		}
		next := st.queue[0]
		st.queue[0] = pendingActivation{}
		st.queue = st.queue[1:]
		st.qmu.Unlock()
		for {
			if st.ctx.Err() != nil || st.runner.Limiter.acquire(st.ctx) != nil {
				break
			}
			targets := st.activate(next.pn, next.trigger, next.from, true)
			st.runner.Limiter.release()
			if len(targets) == 0 {
				break
			}
			for _, t := range targets[:len(targets)-1] {
				st.spawn(t.pn, t.trigger, t.from)
			}
			next = targets[len(targets)-1]
		}
	}
}

type pendingActivation struct {
	pn      *programNode
	trigger string
	from    string
}

// activate runs one activation of pn and returns the activations its
// open trigger outputs cause. push is false when the node is only being
// evaluated for its data.
func (st *runState) activate(pn *programNode, trigger, from string, push bool) []pendingActivation {
	if st.ctx.Err() != nil {
		return nil
	}
	ns := st.nodes[pn.node.ID]
	if !pn.triggered && trigger == "" {
		// Data-only nodes are evaluated once per run, whoever asks first.
		if err := st.evaluateOnce(pn, ns); err != nil {
			return nil
		}
		if !push {
			return nil
		}
		st.mu.Lock()
		res := Result{Outputs: ns.outputs, Closed: ns.closed}
		st.mu.Unlock()
		return st.triggerTargets(pn, res)
	}
	res, ok := st.runActivation(pn, ns, trigger, from)
	if !ok || !push {
		return nil
	}
	return st.triggerTargets(pn, res)
}

func (st *runState) evaluateOnce(pn *programNode, ns *nodeState) error {
	st.mu.Lock()
	if ns.pulled != nil {
		ch := ns.pulled
		st.mu.Unlock()
		select {
		case <-ch:
		case <-st.ctx.Done():
			return st.ctx.Err()
		}
		st.mu.Lock()
		defer st.mu.Unlock()
		return ns.pullErr
	}
	ns.pulled = make(chan struct{})
	st.mu.Unlock()
	res, ok := st.runActivation(pn, ns, "", "")
	st.mu.Lock()
	if !ok {
		ns.pullErr = fmt.Errorf("node %s failed", pn.node.ID)
	} else {
		ns.closed = res.Closed
	}
	close(ns.pulled)
	err := ns.pullErr
	st.mu.Unlock()
	return err
}

func (st *runState) triggerTargets(pn *programNode, res Result) []pendingActivation {
	var out []pendingActivation
	for _, to := range pn.triggerOuts {
		if slices.Contains(res.Closed, to.port) {
			st.mu.Lock()
			for _, t := range to.targets {
				if _, seen := st.closedBy[t.Node]; !seen {
					st.closedBy[t.Node] = "trigger " + pn.node.ID + "." + to.port + " closed"
				}
			}
			st.mu.Unlock()
			continue
		}
		for _, t := range to.targets {
			out = append(out, pendingActivation{pn: st.prog.nodes[t.Node], trigger: t.Port, from: pn.node.ID})
		}
	}
	return out
}

// runActivation resolves inputs, then executes, replays or reuses one
// activation and reports it.
func (st *runState) runActivation(pn *programNode, ns *nodeState, trigger, from string) (Result, bool) {
	inputs, keys, ok := st.resolveInputs(pn, from)
	if !ok {
		return Result{}, false
	}

	ns.exec.Lock()
	defer ns.exec.Unlock()
	if st.total.Add(1) > st.runner.maxActivations() {
		st.fail(&NodeError{Path: st.path, NodeID: pn.node.ID, NodeType: pn.typ.Name,
			Err: fmt.Errorf("%w: more than %d in one run (a trigger loop?)", ErrTooManyActivations, st.runner.maxActivations())})
		return Result{}, false
	}
	st.mu.Lock()
	ns.activations++
	number := ns.activations
	if ns.state == nil {
		ns.state = map[string]any{}
	}
	state := ns.state
	st.mu.Unlock()

	base := NodeEvent{NodeID: pn.node.ID, NodeType: pn.typ.Name, Activation: number, Trigger: trigger}

	if st.req.Recorded != nil {
		if res, source, ok := st.req.Recorded.Recorded(st.path, pn.node.ID, number); ok {
			st.finish(pn, ns, res, st.nodeKey(pn, trigger, keys))
			e := base
			e.Kind, e.Outputs, e.Fired, e.Source = NodeReplayed, res.Outputs, pn.fired(res), source
			st.observe(e)
			return res, true
		}
		if w, ok := st.req.Recorded.(Waits); ok && w.Waits(st.path, pn.node.ID, number) {
			st.wait(pn, ns, number)
			return Result{}, false
		}
	}
	var key string
	recompute := st.recomputes(pn)
	if st.req.Cache != nil && pn.cached && !recompute {
		key = st.nodeKey(pn, trigger, keys)
		if res, ok := st.req.Cache.Get(key); ok {
			st.finish(pn, ns, res, key)
			e := base
			e.Kind, e.Outputs, e.Fired, e.Source, e.CacheKey = NodeReplayed, res.Outputs, pn.fired(res), "cache", key
			st.observe(e)
			return res, true
		}
	}

	started := base
	started.Kind, started.Inputs = NodeStarted, inputs
	st.observe(started)

	a := &Activation{Node: pn.node, Type: pn.typ, Number: number, Trigger: trigger, Inputs: inputs, State: state, run: st}
	begin := time.Now()
	res, err := st.work(pn, a, started)
	dur := time.Since(begin)
	var w *Waiting
	if errors.As(err, &w) && st.ctx.Err() == nil {
		waiting := base
		waiting.Kind, waiting.Question, waiting.Duration = NodeWaiting, &w.Question, dur
		st.observe(waiting)
		st.wait(pn, ns, number)
		return Result{}, false
	}
	if errors.Is(err, ErrWaiting) && st.ctx.Err() == nil {
		// A sub-spell waits: so does the node that runs it (reported by
		// the sub-spell's own node).
		st.wait(pn, ns, number)
		return Result{}, false
	}
	if err != nil {
		failed := base
		failed.Kind, failed.Err, failed.Duration = NodeFailed, err.Error(), dur
		st.observe(failed)
		st.fail(&NodeError{Path: st.path, NodeID: pn.node.ID, NodeType: pn.typ.Name, Err: err})
		return Result{}, false
	}
	if key == "" && st.req.Cache != nil {
		if pn.cached {
			key = st.nodeKey(pn, trigger, keys)
		} else {
			// A node not served from the cache may answer differently
			// for the same inputs (a fresh model sample): what it feeds
			// is keyed by what it answered, so that a downstream node is
			// not served a result computed from an earlier answer.
			key = outputKey(pn, trigger, res.Outputs)
		}
	}
	st.finish(pn, ns, res, key)
	done := base
	done.Kind, done.Outputs, done.Fired, done.Duration, done.Usage = NodeCompleted, res.Outputs, pn.fired(res), dur, a.usage
	if pn.cached {
		done.CacheKey = key
	}
	st.observe(done)
	return res, true
}

// wait records that an activation of pn waits: its branch ends here.
func (st *runState) wait(pn *programNode, ns *nodeState, activation int) {
	st.mu.Lock()
	ns.waiting = true
	st.waiting = append(st.waiting, waitingRef(st.path, pn.node.ID, activation))
	st.mu.Unlock()
}

// recomputes reports whether the run's Recorded asks for pn to run again
// (a fork from it or from upstream of it), bypassing the cache.
func (st *runState) recomputes(pn *programNode) bool {
	rc, ok := st.req.Recorded.(Recomputed)
	return ok && rc.Recomputes(st.path, pn.node.ID)
}

// outputKey identifies an activation by its outputs rather than its inputs
// (see activate); outputs without JSON form get a key no other activation
// shares.
func outputKey(pn *programNode, trigger string, outputs Outputs) string {
	b, err := json.Marshal(outputs)
	if err != nil {
		b = make([]byte, 16)
		_, _ = rand.Read(b)
	}
	sum := sha256.Sum256(append([]byte(pn.configKey+"\x00"+trigger+"\x00out\x00"), b...))
	return hex.EncodeToString(sum[:16])
}

func (st *runState) finish(pn *programNode, ns *nodeState, res Result, key string) {
	st.mu.Lock()
	ns.outputs, ns.hasOutputs, ns.key = res.Outputs, true, key
	st.mu.Unlock()
}

// work calls the worker under the node timeout, turning a panic into an
// error; started is the activation's NodeStarted event.
func (st *runState) work(pn *programNode, a *Activation, started NodeEvent) (res Result, err error) {
	timeout := st.runner.nodeTimeout()
	if pn.typ.Timeout > 0 {
		timeout = pn.typ.Timeout
	}
	ctx, cancel := context.WithTimeout(st.ctx, timeout)
	defer cancel()
	if hook := st.req.NodeContext; hook != nil {
		var done func(error)
		ctx, done = hook(ctx, started)
		defer func() { done(err) }()
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	res, err = pn.worker.Work(ctx, a)
	if ctx.Err() == nil {
		return res, err
	}
	// The activation's context ended: say whether the node ran out of time
	// or the run was stopped, whatever the worker returned.
	if st.ctx.Err() == nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return res, fmt.Errorf("node timed out after %s", timeout)
	}
	return res, context.Cause(st.ctx)
}

// fired lists the trigger outputs an activation's result leaves open.
func (pn *programNode) fired(res Result) []string {
	var out []string
	for _, to := range pn.triggerOuts {
		if !slices.Contains(res.Closed, to.port) {
			out = append(out, to.port)
		}
	}
	return out
}

// resolveInputs pulls every connected data input. When several
// connections feed one input and the node that triggered this activation is
// among them, only its value is used (Thoth: an Output takes the data of the
// branch that triggered it). A source in the trigger flow that has not run
// yields no value; a data-only source is evaluated now, once per run.
func (st *runState) resolveInputs(pn *programNode, from string) (Inputs, []string, bool) {
	if len(pn.dataInputs) == 0 {
		return nil, nil, true
	}
	inputs := make(Inputs, len(pn.dataInputs))
	var keys []string
	if st.req.Cache != nil {
		keys = make([]string, 0, len(pn.dataInputs))
	}
	for _, di := range pn.dataInputs {
		srcs := di.sources
		if len(srcs) > 1 && from != "" {
			for _, s := range srcs {
				if s.Node == from {
					srcs = []PortRef{s}
					break
				}
			}
		}
		for _, src := range srcs {
			v, key, ok := st.pull(src)
			if st.ctx.Err() != nil {
				return nil, nil, false
			}
			if !ok {
				if st.nodeWaits(src.Node) {
					return nil, nil, false // this branch waits with its source
				}
				continue
			}
			inputs[di.port] = append(inputs[di.port], v)
			if keys != nil {
				keys = append(keys, di.port+"="+key+"."+src.Port)
			}
		}
	}
	return inputs, keys, true
}

func (st *runState) nodeWaits(nodeID string) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.nodes[nodeID].waiting
}

func (st *runState) pull(src PortRef) (any, string, bool) {
	pn := st.prog.nodes[src.Node]
	ns := st.nodes[src.Node]
	if !pn.triggered {
		if err := st.evaluateOnce(pn, ns); err != nil {
			return nil, "", false
		}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if !ns.hasOutputs {
		return nil, "", false
	}
	v, ok := ns.outputs[src.Port]
	return v, ns.key, ok
}

// nodeKey is the cache identity of an activation: type and configuration,
// the trigger, the run input an Input node reads, and its producers' keys.
func (st *runState) nodeKey(pn *programNode, trigger string, inputKeys []string) string {
	h := sha256.New()
	if st.req.CacheScope != "" {
		h.Write([]byte(st.req.CacheScope))
		h.Write([]byte{0})
	}
	h.Write([]byte(pn.configKey))
	h.Write([]byte{0})
	h.Write([]byte(trigger))
	if pn.typ.Role == RoleInput {
		v, _ := json.Marshal(st.req.Inputs[pn.typ.PortName(pn.node)])
		h.Write([]byte{0})
		h.Write(v)
	}
	for _, k := range inputKeys {
		h.Write([]byte{0})
		h.Write([]byte(k))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// entries picks where a run starts:
//  1. RunRequest.Entry, by node id or a Trigger In / Input name or socket key;
//  2. Magick: the Input node named by the first input key, if it fires triggers;
//  3. Thoth: the top-most Module Trigger In (smallest y, then id);
//  4. Magick's fallback: the Input named "Input - Default";
//  5. any Input node that fires triggers (top-most);
//  6. a spell without trigger flow: its Output nodes, which pull their data.
func (p *Program) entries(req RunRequest) ([]*programNode, error) {
	if req.Entry != "" {
		for _, pn := range p.order {
			if pn.node.ID == req.Entry {
				return []*programNode{pn}, nil
			}
		}
		for _, pn := range p.order {
			if pn.typ.Role != RoleTriggerIn && pn.typ.Role != RoleInput {
				continue
			}
			if pn.typ.PortName(pn.node) == req.Entry || pn.node.ConfigString("socketKey") == req.Entry {
				return []*programNode{pn}, nil
			}
		}
		return nil, fmt.Errorf("%w: no node, Trigger In or Input named %q", ErrNoEntry, req.Entry)
	}
	fires := func(pn *programNode) bool {
		for _, to := range pn.triggerOuts {
			if len(to.targets) > 0 {
				return true
			}
		}
		return false
	}
	inputs := p.byRole(RoleInput)
	first := ""
	if len(req.InputOrder) > 0 {
		first = req.InputOrder[0]
	} else if len(req.Inputs) == 1 {
		for k := range req.Inputs {
			first = k
		}
	}
	if first != "" {
		for _, pn := range inputs {
			if pn.typ.PortName(pn.node) == first && fires(pn) {
				return []*programNode{pn}, nil
			}
		}
	}
	if tins := p.byRole(RoleTriggerIn); len(tins) > 0 {
		return tins[:1], nil
	}
	for _, pn := range inputs {
		if pn.typ.PortName(pn.node) == "Input - Default" && fires(pn) {
			return []*programNode{pn}, nil
		}
	}
	for _, pn := range inputs {
		if fires(pn) {
			return []*programNode{pn}, nil
		}
	}
	if outs := p.byRole(RoleOutput); len(outs) > 0 {
		return outs, nil
	}
	return nil, fmt.Errorf("%w: the spell has no Trigger In, Input or Output node", ErrNoEntry)
}

// byRole returns the nodes of a role, top-most first.
func (p *Program) byRole(role Role) []*programNode {
	var out []*programNode
	for _, pn := range p.order {
		if pn.typ.Role == role {
			out = append(out, pn)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		yi, yj := y(out[i].node), y(out[j].node)
		if yi != yj {
			return yi < yj
		}
		return compareNodeIDs(out[i].node.ID, out[j].node.ID) < 0
	})
	return out
}

func y(n *Node) float64 {
	if n.Position == nil {
		return 0
	}
	return n.Position.Y
}

// Signature of a compiled program (see Spell.Signature).
func (p *Program) Nodes() []*Node {
	out := make([]*Node, len(p.order))
	for i, pn := range p.order {
		out[i] = pn.node
	}
	return out
}
