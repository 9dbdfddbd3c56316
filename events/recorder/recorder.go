package recorder

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/graph"
)

// Publisher is where committed events go after the commit (the event bus).
type Publisher interface {
	Publish(ctx context.Context, evs ...events.RecordedEvent) error
}

// Errors a caller may branch on.
var (
	// ErrRunTakenOver: the run's stream moved on without this recorder
	// (another process resumed the run). Nothing more is recorded.
	ErrRunTakenOver = errors.New("run taken over by another writer")
	// ErrClosed is returned by Record after Close.
	ErrClosed = errors.New("recorder closed")
)

// Options configures a Recorder. Store and RunID are required.
type Options struct {
	Store events.Store
	// Bus receives the events after they are committed; nil for none.
	Bus Publisher

	RunID         string
	SpellID       string
	SpellHash     string
	CorrelationID string
	// AfterSeq is the last Seq already in the run's stream: 0 for a new
	// run, the stream's last Seq for a resumed one. Seq n sits at stream
	// revision n-1.
	AfterSeq uint64

	// ChunkInterval is how long streamed tokens may wait to be coalesced
	// into one NodeOutputChunk (default 20ms).
	ChunkInterval time.Duration
	// ChunkBytes writes a NodeOutputChunk as soon as this much text has
	// gathered (default 4 KiB).
	ChunkBytes int
	// Linger is how long the writer lets a run's events gather before it
	// appends them, so that the events of several nodes share one append
	// and one sync instead of each node paying for its own (default 20ms,
	// the default ChunkInterval; negative appends at once). Flush and
	// Close do not wait for it. A crash loses at most the events of the
	// last Linger, which were not acknowledged (OnCommit) yet; followers
	// (bus, subscriptions) see a node's events up to Linger after it
	// reported them. Each append costs a run of 1 ms nodes about 0.2 ms of
	// wall time on the development VM, so 5ms made recording cost 7% of
	// such a run and 20ms 4% (docs/decisions/0001-embedded-event-store.md).
	Linger time.Duration
	// MaxBatch caps the events of one append (default 256); MaxBatchBytes
	// their encoded size (default 2 MiB; a single larger event goes alone).
	MaxBatch      int
	MaxBatchBytes int
	// Retries is how many times a failed append is retried before the
	// recording fails (default 5). Retries are idempotent.
	Retries int
	// AppendTimeout bounds one append attempt (default 30 seconds).
	AppendTimeout time.Duration

	// OnCommit, if set, is called by the writer after each durable append
	// with the last Seq it made durable.
	OnCommit func(lastSeq uint64)
	// OnError, if set, is called once when recording fails for good: the
	// run should stop, since nothing it does is recorded any more.
	OnError func(error)

	Logger *slog.Logger
	// Now is the clock for events' Time (default time.Now).
	Now func() time.Time
}

func (o *Options) setDefaults() {
	if o.ChunkInterval <= 0 {
		o.ChunkInterval = 20 * time.Millisecond
	}
	if o.ChunkBytes <= 0 {
		o.ChunkBytes = 4 << 10
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 256
	}
	if o.Linger == 0 {
		o.Linger = 20 * time.Millisecond
	}
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = 2 << 20
	}
	if o.Retries < 0 {
		o.Retries = 0
	} else if o.Retries == 0 {
		o.Retries = 5
	}
	if o.AppendTimeout <= 0 {
		o.AppendTimeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Recorder records one run. It implements graph.Observer; Record adds the
// run-level events (RunRequested, RunCompleted, …). Close it to wait for
// everything to be committed and published.
type Recorder struct {
	opts   Options
	stream string
	log    *slog.Logger

	mu      sync.Mutex
	queue   []queued
	seq     uint64 // last Seq handed out
	chunks  map[chunkKey]*chunkBuf
	commit  uint64 // last Seq committed
	publish uint64 // last Seq published (or given up on)
	urgent  uint64 // highest Seq a Flush waits for: no lingering until committed
	err     error
	closed  bool
	changed chan struct{} // closed and replaced on every progress
	usage   events.Usage
	hasUse  bool
	notify  error // an error for OnError, delivered by unlock

	// sleepUntil is when the writer looks at the queue and the token
	// buffers again without being woken (zero: not before it is woken).
	sleepUntil time.Time

	nonce string        // makes this writer's claim event ID its own
	wake  chan struct{} // writer: work queued
	kick  chan struct{} // writer: a Flush is waiting
	stop  chan struct{} // writer: finish up
	// pubQueue: committed batches for the publisher. A bus slower than
	// the store fills it, and then holds the writer back.
	pubQueue chan committed
	ctx      context.Context // cancels store and bus calls at a forced stop
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

type queued struct {
	seq uint64
	ev  events.EventData
	// node is a node event not encoded yet: the writer encodes it, off
	// the run's path (nil once encoded, and for run-level events).
	node any
	at   time.Time // when it was queued
}

// pubQueueLen is how many committed batches may wait for the publisher. A
// recorder exists per run, so the queue is kept small (one of 1,024 was
// 40 KB, most of what a short run allocated).
const pubQueueLen = 32

// initialQueue is the queue's first capacity: a short run's events fit
// without growing it step by step.
const initialQueue = 16

type committed struct {
	firstSeq, lastSeq uint64
	// recs are the committed events when the store returned them (see
	// events.AppendResult.Recorded); otherwise the publisher reads them.
	recs []events.RecordedEvent
}

type chunkBuf struct {
	ref   events.NodeRef
	text  strings.Builder
	first time.Time // when the oldest buffered token arrived
	at    time.Time // NodeEvent time of the oldest buffered token
	index int       // next chunk index
}

// New starts a recorder for one run.
func New(opts Options) (*Recorder, error) {
	if opts.Store == nil {
		return nil, errors.New("recorder: Options.Store is required")
	}
	if opts.RunID == "" {
		return nil, errors.New("recorder: Options.RunID is required")
	}
	opts.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	var nonce [16]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		cancel()
		return nil, fmt.Errorf("recorder: %w", err)
	}
	r := &Recorder{
		nonce:    hex.EncodeToString(nonce[:]),
		opts:     opts,
		stream:   events.RunStream(opts.RunID),
		log:      opts.Logger.With("run", opts.RunID),
		seq:      opts.AfterSeq,
		commit:   opts.AfterSeq,
		publish:  opts.AfterSeq,
		chunks:   map[chunkKey]*chunkBuf{},
		queue:    make([]queued, 0, initialQueue),
		changed:  make(chan struct{}),
		wake:     make(chan struct{}, 1),
		kick:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		pubQueue: make(chan committed, pubQueueLen),
		ctx:      ctx,
		cancel:   cancel,
	}
	r.wg.Add(1)
	go r.writer()
	if opts.Bus != nil {
		r.wg.Add(1)
		go r.publisher()
	}
	return r, nil
}

// RunID is the run being recorded.
func (r *Recorder) RunID() string { return r.opts.RunID }

// LastSeq is the Seq of the last event handed to the recorder.
func (r *Recorder) LastSeq() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seq
}

// Err is the error that stopped the recording, if any.
func (r *Recorder) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Usage is the total of the usage reported by the activations this
// recorder saw complete; nil when none reported any.
func (r *Recorder) Usage() *events.Usage {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.hasUse {
		return nil
	}
	u := r.usage
	return &u
}

func (r *Recorder) header(seq uint64, at time.Time) events.RunHeader {
	if at.IsZero() {
		at = r.opts.Now()
	}
	return events.RunHeader{
		RunID:         r.opts.RunID,
		Seq:           seq,
		SpellID:       r.opts.SpellID,
		SpellHash:     r.opts.SpellHash,
		CorrelationID: r.opts.CorrelationID,
		Time:          at.UTC(),
	}
}

// Record enqueues a run-level event (a pointer to events.RunRequested,
// RunResumed, RunCompleted, RunFailed, RunCancelled, or any run event):
// its header is filled in (a Time already set is kept) and it gets the next
// Seq, which Record returns. metadata is stored with the event (nil for
// none). Record does not wait for the commit: call Flush for that.
func (r *Recorder) Record(payload any, metadata json.RawMessage) (uint64, error) {
	r.mu.Lock()
	defer r.unlock()
	if r.closed {
		return 0, ErrClosed
	}
	if r.err != nil {
		return 0, r.err
	}
	var at time.Time
	if h, ok := events.Header(payload); ok {
		at = h.Time
	}
	seq := r.seq + 1
	if !setHeader(payload, r.header(seq, at)) {
		return 0, fmt.Errorf("record %T: not a run event (want a pointer to a type of package events that has a RunHeader)", payload)
	}
	ev, err := events.Encode(payload)
	if err != nil {
		return 0, fmt.Errorf("record %s for run %s: %w", events.TypeOf(payload), r.opts.RunID, err)
	}
	ev.Metadata = metadata
	r.enqueueLocked(seq, ev)
	return seq, nil
}

// ObserveNode implements graph.Observer: it encodes the step and queues it.
func (r *Recorder) ObserveNode(e graph.NodeEvent) {
	r.mu.Lock()
	defer r.unlock()
	if r.closed || r.err != nil {
		return
	}
	ref := events.NodeRef{NodeID: e.NodeID, NodeType: e.NodeType, Activation: e.Activation, Path: e.Path}
	switch e.Kind {
	case graph.NodeStarted:
		r.addLocked(&events.NodeStarted{NodeRef: ref, Trigger: e.Trigger, Inputs: e.Inputs}, e.Time)
	case graph.NodeChunk:
		r.chunkLocked(ref, e)
	case graph.NodeCompleted:
		r.flushChunkLocked(chunkKeyOf(ref), true)
		if e.Usage != nil {
			u := toUsage(e.Usage)
			r.addUsageLocked(u)
			r.addLocked(&events.NodeCompleted{NodeRef: ref, Outputs: e.Outputs, Fired: e.Fired, Duration: e.Duration, CacheKey: e.CacheKey, Usage: &u}, e.Time)
		} else {
			r.addLocked(&events.NodeCompleted{NodeRef: ref, Outputs: e.Outputs, Fired: e.Fired, Duration: e.Duration, CacheKey: e.CacheKey}, e.Time)
		}
	case graph.NodeFailed:
		r.flushChunkLocked(chunkKeyOf(ref), true)
		r.addLocked(&events.NodeFailed{NodeRef: ref, Error: e.Err, Duration: e.Duration}, e.Time)
	case graph.NodeSkipped:
		r.addLocked(&events.NodeSkipped{NodeRef: ref, Reason: e.Reason}, e.Time)
	case graph.NodeReplayed:
		hit := &events.NodeCacheHit{NodeRef: ref, Outputs: e.Outputs, Fired: e.Fired, Source: e.Source, CacheKey: e.CacheKey}
		if e.Source == SourceResume {
			hit.FromRunID = r.opts.RunID
		}
		r.addLocked(hit, e.Time)
	case graph.NodeWaiting:
		r.flushChunkLocked(chunkKeyOf(ref), true)
		w := &events.RunWaiting{NodeRef: ref}
		if q := e.Question; q != nil {
			w.Prompt, w.Schema, w.AnsweredBy, w.OnDeadline, w.TimeoutValue = q.Prompt, q.Schema, q.AnsweredBy, q.OnDeadline, q.TimeoutValue
			if !q.Deadline.IsZero() {
				d := q.Deadline.UTC()
				w.Deadline = &d
			}
		}
		r.addLocked(w, e.Time)
	}
}

// Sources of replayed results, as the runner reports them.
const (
	SourceResume = "resume"
	SourceCache  = "cache"
	SourceReplay = "replay"
)

// unrecordable replaces outputs that have no JSON form, so the step is
// still recorded; Recorded never replays such an activation.
const unrecordable = "$unrecordable"

// addLocked queues a node event. It is encoded later, on the writer
// goroutine, so that the node's goroutine does not pay for the JSON: the
// payload keeps references to the activation's inputs and outputs, which
// the runner and nodes do not modify once reported.
func (r *Recorder) addLocked(payload any, at time.Time) {
	seq := r.seq + 1
	setHeader(payload, r.header(seq, at))
	r.seq = seq
	r.queue = append(r.queue, queued{seq: seq, node: payload, at: time.Now()})
	r.wakeLocked()
}

// encodeNode encodes a node event. Outputs that cannot be encoded (NaN,
// channels) are replaced by a note rather than losing the event or the
// run.
func (r *Recorder) encodeNode(payload any) (events.EventData, error) {
	ev, err := events.Encode(payload)
	if err == nil {
		return ev, nil
	}
	note := map[string]any{unrecordable: err.Error()}
	switch p := payload.(type) {
	case *events.NodeCompleted:
		p.Outputs = note
	case *events.NodeCacheHit:
		p.Outputs = note
	case *events.NodeStarted:
		p.Inputs = map[string][]any{unrecordable: {err.Error()}}
	}
	ev, err2 := events.Encode(payload)
	if err2 != nil {
		return ev, fmt.Errorf("encode %s for run %s: %w", events.TypeOf(payload), r.opts.RunID, err2)
	}
	r.log.Warn("node data has no JSON form; recorded a note instead", "type", ev.Type, "err", err)
	return ev, nil
}

// encodeBatch encodes the node events of a batch taken from the queue
// and gives the first event of this writer its claim ID.
func (r *Recorder) encodeBatch(batch []queued) error {
	for i := range batch {
		q := &batch[i]
		if q.node != nil {
			ev, err := r.encodeNode(q.node)
			if err != nil {
				return err
			}
			q.ev, q.node = ev, nil
			if q.seq == r.opts.AfterSeq+1 {
				q.ev.ID = claimID(r.opts.RunID, q.seq, r.nonce)
			}
		}
	}
	return nil
}

func (r *Recorder) enqueueLocked(seq uint64, ev events.EventData) {
	if seq == r.opts.AfterSeq+1 {
		ev.ID = claimID(r.opts.RunID, seq, r.nonce)
	}
	r.seq = seq
	r.queue = append(r.queue, queued{seq: seq, ev: ev, at: time.Now()})
	r.wakeLocked()
}

func (r *Recorder) wakeLocked() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *Recorder) addUsageLocked(u events.Usage) {
	r.hasUse = true
	addUsage(&r.usage, u)
}

func toUsage(u *graph.Usage) events.Usage {
	return events.Usage{Model: u.Model, PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, TotalTokens: u.TotalTokens, Calls: u.Calls}
}

// chunkKey names an activation whose tokens are being gathered (cheaper
// than activationKey on the path of every token).
type chunkKey struct {
	path, node string
	activation int
}

func chunkKeyOf(ref events.NodeRef) chunkKey {
	k := chunkKey{node: ref.NodeID, activation: ref.Activation}
	if len(ref.Path) > 0 {
		k.path = strings.Join(ref.Path, "\x01")
	}
	return k
}

func activationKey(ref events.NodeRef) string {
	return fmt.Sprintf("%s\x00%s\x00%d", strings.Join(ref.Path, "\x01"), ref.NodeID, ref.Activation)
}

func (r *Recorder) chunkLocked(ref events.NodeRef, e graph.NodeEvent) {
	key := chunkKeyOf(ref)
	b := r.chunks[key]
	if b == nil {
		b = &chunkBuf{ref: ref}
		r.chunks[key] = b
	}
	if b.text.Len() == 0 {
		b.first = time.Now()
		b.at = e.Time
		// The writer needs to wake up when this buffer is due, unless it
		// looks again by then anyway.
		if r.sleepUntil.IsZero() || r.sleepUntil.After(b.first.Add(r.opts.ChunkInterval)) {
			r.wakeLocked()
		}
	}
	b.text.WriteString(e.Chunk)
	if b.text.Len() >= r.opts.ChunkBytes {
		r.flushChunkLocked(key, false)
	}
}

// flushChunkLocked queues an activation's buffered text as one
// NodeOutputChunk; done forgets the activation (it completed or failed).
func (r *Recorder) flushChunkLocked(key chunkKey, done bool) {
	b := r.chunks[key]
	if b == nil {
		return
	}
	if b.text.Len() > 0 {
		r.addLocked(&events.NodeOutputChunk{NodeRef: b.ref, Index: b.index, Text: b.text.String()}, b.at)
		b.index++
		b.text.Reset()
	}
	if done {
		delete(r.chunks, key)
	}
}

// dueChunksLocked queues the buffers older than ChunkInterval (all of them
// when all is set) and returns when the next one is due.
func (r *Recorder) dueChunksLocked(now time.Time, all bool) (next time.Time) {
	if len(r.chunks) == 0 {
		return next
	}
	keys := make([]chunkKey, 0, len(r.chunks))
	for k := range r.chunks {
		keys = append(keys, k)
	}
	// Map order is random; queue due chunks in arrival order.
	slices.SortFunc(keys, func(a, b chunkKey) int { return r.chunks[a].first.Compare(r.chunks[b].first) })
	for _, k := range keys {
		b := r.chunks[k]
		if b.text.Len() == 0 {
			continue
		}
		due := b.first.Add(r.opts.ChunkInterval)
		if all || !due.After(now) {
			r.flushChunkLocked(k, false)
			continue
		}
		if next.IsZero() || due.Before(next) {
			next = due
		}
	}
	return next
}

func (r *Recorder) failLocked(err error) {
	if r.err != nil {
		return
	}
	r.err = err
	r.queue = nil
	r.chunks = map[chunkKey]*chunkBuf{}
	r.signalLocked()
	r.notify = err
}

// unlock releases mu and then tells OnError about a failure that happened
// while it was held, so that OnError may call back into the recorder.
func (r *Recorder) unlock() {
	err := r.notify
	r.notify = nil
	r.mu.Unlock()
	if err != nil && r.opts.OnError != nil {
		r.opts.OnError(err)
	}
}

func (r *Recorder) signalLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// Flush queues buffered tokens and waits until every event handed to the
// recorder so far is committed and, with a bus, published.
func (r *Recorder) Flush(ctx context.Context) error {
	return r.waitFor(ctx, r.hurry(), true)
}

// Sync queues buffered tokens and waits until every event handed to the
// recorder so far is committed (durable); publishing them may still be
// under way. A caller that answers once the run's end is durable (the
// REST sync mode) does not wait for the bus; Close still does.
func (r *Recorder) Sync(ctx context.Context) error {
	return r.waitFor(ctx, r.hurry(), false)
}

// hurry queues buffered tokens and has the writer append everything up to
// the current Seq at once; it returns that Seq.
func (r *Recorder) hurry() uint64 {
	r.mu.Lock()
	r.dueChunksLocked(time.Time{}, true)
	target := r.seq
	r.urgent = max(r.urgent, target)
	r.unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
	return target
}

// waitFor waits until target is committed and, when published is set and
// there is a bus, published.
func (r *Recorder) waitFor(ctx context.Context, target uint64, published bool) error {
	for {
		r.mu.Lock()
		if r.err != nil {
			err := r.err
			r.mu.Unlock()
			return err
		}
		done := r.commit >= target && (!published || r.opts.Bus == nil || r.publish >= target)
		ch := r.changed
		r.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("flush run %s: %w", r.opts.RunID, ctx.Err())
		}
	}
}

// Close flushes (waiting at most until ctx is done) and stops the
// recorder's goroutines; events still queued when ctx ends are not
// recorded. It returns the flush's or the recording's error.
func (r *Recorder) Close(ctx context.Context) error {
	err := r.Flush(ctx)
	r.mu.Lock()
	already := r.closed
	r.closed = true
	r.mu.Unlock()
	if !already {
		close(r.stop)
	}
	if err != nil {
		r.cancel()
	}
	r.wg.Wait()
	r.cancel()
	return err
}

// writer appends queued events in batches until stopped.
func (r *Recorder) writer() {
	defer r.wg.Done()
	if r.opts.Bus != nil {
		defer close(r.pubQueue)
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	stopping := false
	for {
		r.mu.Lock()
		now := time.Now()
		next := r.dueChunksLocked(now, stopping)
		// Let the events gather for Linger unless someone waits for them.
		var hold time.Time
		if len(r.queue) > 0 && r.opts.Linger > 0 && !stopping && r.urgent <= r.commit {
			if due := r.queue[0].at.Add(r.opts.Linger); due.After(now) {
				hold = due
			}
		}
		var batch []queued
		if hold.IsZero() {
			batch = r.takeBatchLocked()
		}
		// Tell the observer when the writer looks again by itself, so that
		// a token does not wake it for nothing.
		switch {
		case len(batch) > 0:
			r.sleepUntil = now // it comes back right after the append
		case hold.IsZero():
			r.sleepUntil = next
		case next.IsZero() || hold.Before(next):
			r.sleepUntil = hold
		default:
			r.sleepUntil = next
		}
		failed := r.err != nil
		r.unlock()

		if len(batch) > 0 && !failed {
			r.write(batch)
			continue
		}
		if stopping || failed {
			return
		}
		wake := r.wake
		if !hold.IsZero() {
			wake = nil // what arrives meanwhile joins the lingering batch
			if next.IsZero() || hold.Before(next) {
				next = hold
			}
		}
		var due <-chan time.Time
		if !next.IsZero() {
			timer.Reset(time.Until(next))
			due = timer.C
		}
		select {
		case <-wake:
		case <-r.kick:
		case <-due:
		case <-r.stop:
			stopping = true
		}
		if due != nil && !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

func (r *Recorder) takeBatchLocked() []queued {
	n := min(len(r.queue), r.opts.MaxBatch)
	if n == 0 {
		return nil
	}
	batch := slices.Clone(r.queue[:n])
	r.queue = slices.Delete(r.queue, 0, n)
	return batch
}

// write encodes a batch taken from the queue and appends it, in as many
// appends as MaxBatchBytes asks for.
func (r *Recorder) write(batch []queued) {
	if err := r.encodeBatch(batch); err != nil {
		r.mu.Lock()
		r.failLocked(err)
		r.unlock()
		return
	}
	for len(batch) > 0 {
		n, size := 0, 0
		for n < len(batch) {
			s := len(batch[n].ev.Data) + len(batch[n].ev.Metadata)
			if n > 0 && size+s > r.opts.MaxBatchBytes {
				break
			}
			size += s
			n++
		}
		if !r.append(batch[:n]) {
			return
		}
		batch = batch[n:]
	}
}

// append writes one batch, retrying failures that may be transient; false
// when the recording failed.
func (r *Recorder) append(batch []queued) bool {
	first := batch[0].seq
	evs := make([]events.EventData, len(batch))
	for i, q := range batch {
		evs[i] = q.ev
	}
	recs, err := r.appendEvents(first, evs)
	last := batch[len(batch)-1].seq
	r.mu.Lock()
	if err != nil {
		r.failLocked(fmt.Errorf("record run %s events %d..%d: %w", r.opts.RunID, first, last, err))
		r.unlock()
		return false
	}
	r.commit = last
	r.signalLocked()
	r.mu.Unlock()
	if r.opts.Bus != nil {
		r.pubQueue <- committed{firstSeq: first, lastSeq: last, recs: recs}
	}
	if r.opts.OnCommit != nil {
		r.opts.OnCommit(last)
	}
	return true
}

// appendEvents appends evs, the events from Seq first on, retrying
// failures that may be transient. A batch the store finds too large as a
// whole (EventStoreDB caps one append at 1 MiB, however small each event)
// is appended in halves; only a single event too large fails.
//
// It returns the events as recorded when the store handed them back for
// every part (nil otherwise: the publisher reads them).
func (r *Recorder) appendEvents(first uint64, evs []events.EventData) ([]events.RecordedEvent, error) {
	expected := events.NoStream
	if first > 1 {
		expected = events.Exact(first - 2)
	}
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(r.ctx, r.opts.AppendTimeout)
		res, err := r.opts.Store.Append(ctx, r.stream, expected, evs...)
		cancel()
		if err == nil {
			if len(res.Recorded) != len(evs) {
				return nil, nil
			}
			return res.Recorded, nil
		}
		if errors.Is(err, events.ErrWrongExpectedRevision) {
			return nil, fmt.Errorf("%w: run %s: %w", ErrRunTakenOver, r.opts.RunID, err)
		}
		if errors.Is(err, events.ErrEventTooLarge) && len(evs) > 1 {
			h := len(evs) / 2
			a, err := r.appendEvents(first, evs[:h])
			if err != nil {
				return nil, err
			}
			b, err := r.appendEvents(first+uint64(h), evs[h:])
			if err != nil || a == nil || b == nil {
				return nil, err
			}
			return append(slices.Clip(a), b...), nil
		}
		if errors.Is(err, events.ErrEventTooLarge) || errors.Is(err, events.ErrClosed) || r.ctx.Err() != nil || attempt >= r.opts.Retries {
			return nil, err
		}
		r.log.Warn("append failed; retrying", "stream", r.stream, "seq", first, "events", len(evs), "attempt", attempt+1, "err", err)
		select {
		case <-time.After(time.Duration(10<<attempt) * time.Millisecond):
		case <-r.ctx.Done():
		}
	}
}

// publisher publishes committed events in commit order, as the store
// recorded them (with positions and commit times: handed back by the
// append, or read back). A bus failure is logged, not fatal: the store
// holds the events and followers can read them there.
func (r *Recorder) publisher() {
	defer r.wg.Done()
	for c := range r.pubQueue {
		err := r.publishRange(c)
		if err != nil {
			r.log.Warn("publishing committed events failed; they stay readable from the store", "stream", r.stream, "from_seq", c.firstSeq, "to_seq", c.lastSeq, "err", err)
		}
		r.mu.Lock()
		r.publish = c.lastSeq
		r.signalLocked()
		r.mu.Unlock()
	}
}

func (r *Recorder) publishRange(c committed) error {
	if r.ctx.Err() != nil {
		return r.ctx.Err()
	}
	n := int(c.lastSeq - c.firstSeq + 1)
	recs := c.recs
	if len(recs) != n {
		var err error
		recs, err = r.opts.Store.ReadStream(r.ctx, r.stream, c.firstSeq-1, events.Forwards, n)
		if err != nil {
			return fmt.Errorf("read back %s@%d: %w", r.stream, c.firstSeq-1, err)
		}
	}
	return r.opts.Bus.Publish(r.ctx, recs...)
}

// claimID is the ID of the first event a recorder writes, its claim on
// the run from that Seq on. Later events have events.RunEventID IDs, the
// same whoever writes them; the claim's is this writer's own. So when two
// writers race for a run (a process resumes a run that another still
// runs, or the same run id is started twice) the store sees different IDs
// at the same revision and refuses one of them with a wrong-revision
// error, instead of taking the second for an idempotent retry of the
// first and letting both believe they own the run. A retry by the same
// writer repeats the same ID, so it stays idempotent.
func claimID(runID string, seq uint64, nonce string) string {
	return events.NewID("run-claim", runID, strconv.FormatUint(seq, 10), nonce)
}

// setHeader sets the run header of a run event payload.
func setHeader(payload any, h events.RunHeader) bool {
	switch p := payload.(type) {
	case *events.RunRequested:
		p.RunHeader = h
	case *events.RunResumed:
		p.RunHeader = h
	case *events.NodeStarted:
		p.RunHeader = h
	case *events.NodeOutputChunk:
		p.RunHeader = h
	case *events.NodeCompleted:
		p.RunHeader = h
	case *events.NodeFailed:
		p.RunHeader = h
	case *events.NodeSkipped:
		p.RunHeader = h
	case *events.NodeCacheHit:
		p.RunHeader = h
	case *events.RunCompleted:
		p.RunHeader = h
	case *events.RunFailed:
		p.RunHeader = h
	case *events.RunCancelled:
		p.RunHeader = h
	case *events.RunWaiting:
		p.RunHeader = h
	case *events.RunAnswered:
		p.RunHeader = h
	case *events.RunPaused:
		p.RunHeader = h
	default:
		return false
	}
	return true
}
