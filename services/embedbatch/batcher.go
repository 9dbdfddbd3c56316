package embedbatch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grimoire-run/grimoire/services"
)

// ErrClosed is returned by Embed on a closed Batcher, and to callers whose
// batch was cut short by Close.
var ErrClosed = errors.New("embedding batcher closed")

// Options tune a Batcher; the zero value gives the defaults.
type Options struct {
	// MaxBatch is the most texts in one call (default 64). A single request
	// with more texts is sent on its own.
	MaxBatch int
	// MaxWait bounds the latency batching adds: the time from a request's
	// Embed call to its batch being handed to the underlying Embedder
	// (default 5ms). The batch timer fires a tenth of MaxWait early (at most
	// 1ms) to absorb timer and goroutine-start latency, so that on a machine
	// with CPU to spare no request waits longer than MaxWait.
	MaxWait time.Duration
	// MaxInFlight, when above 0, bounds the batches being embedded at once.
	// While all are busy the pending batch keeps growing up to MaxBatch and
	// then new requests queue, so requests may wait longer than MaxWait. The
	// default, 0, sends every batch when it is due and leaves back-pressure
	// to the underlying Embedder (services/openai bounds its connections).
	MaxInFlight int
	// OnBatch, when set, is told about every batch as it is sent (metrics,
	// benchmarks). It must not block.
	OnBatch func(Batch)
}

// Batch describes one call to the underlying Embedder.
type Batch struct {
	Texts   int
	Callers int
	// Waits holds, per caller, the time from its Embed call to the batch
	// being sent: the latency that batching added.
	Waits []time.Duration
}

// Batcher is a services.Embedder that batches calls to another. Close it to
// stop its goroutines.
type Batcher struct {
	next   services.Embedder
	opts   Options
	sendBy time.Duration // when a partial batch is sent, after its first request

	in    chan *request
	slots chan struct{}
	quit  chan struct{}
	done  chan struct{}
	once  sync.Once

	ctx    context.Context // parent of every batch call; cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

var _ services.Embedder = (*Batcher)(nil)

type request struct {
	ctx      context.Context
	texts    []string
	enqueued time.Time
	res      chan result // buffered: the batch never waits for a caller
}

type result struct {
	vecs [][]float32
	err  error
}

// New starts a Batcher in front of next.
func New(next services.Embedder, opts Options) *Batcher {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 64
	}
	if opts.MaxWait <= 0 {
		opts.MaxWait = 5 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &Batcher{
		next: next, opts: opts,
		sendBy: opts.MaxWait - min(opts.MaxWait/10, time.Millisecond),
		in:     make(chan *request),
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
		ctx:    ctx, cancel: cancel,
	}
	if opts.MaxInFlight > 0 {
		b.slots = make(chan struct{}, opts.MaxInFlight)
	}
	go b.collect()
	return b
}

// Embed returns one vector per text, in order, from a call shared with
// whoever else is embedding at the same moment.
func (b *Batcher) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if len(texts) == 0 {
		return [][]float32{}, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r := &request{ctx: ctx, texts: texts, enqueued: time.Now(), res: make(chan result, 1)}
	select {
	case b.in <- r:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-b.quit:
		return nil, ErrClosed
	}
	select {
	case res := <-r.res:
		return res.vecs, res.err
	case <-ctx.Done():
		// The batch goes on for the others; our vectors are dropped.
		return nil, ctx.Err()
	}
}

// Close fails queued requests with ErrClosed, cancels batches in flight and
// waits for every goroutine to end. It is safe to call more than once.
func (b *Batcher) Close() error {
	b.once.Do(func() {
		close(b.quit)
		<-b.done
		b.cancel()
		b.wg.Wait()
	})
	return nil
}

func (b *Batcher) collect() {
	defer close(b.done)
	var (
		pending []*request
		n       int      // texts pending
		due     bool     // pending should go now: full, or its wait is up
		held    *request // arrived when pending was too full to take it
		timer   = time.NewTimer(time.Hour)
		timerC  <-chan time.Time
	)
	timer.Stop()
	add := func(r *request) {
		pending = append(pending, r)
		n += len(r.texts)
		if len(pending) == 1 {
			// The wait counts from the caller's Embed, not from here.
			timer.Reset(b.sendBy - time.Since(r.enqueued))
			timerC = timer.C
		}
		if n >= b.opts.MaxBatch {
			due = true
		}
	}
	send := func() {
		batch := pending
		pending, n, due = nil, 0, false
		timer.Stop()
		timerC = nil
		b.wg.Add(1)
		go b.run(batch)
		if held != nil {
			r := held
			held = nil
			add(r)
		}
	}
	for {
		if due && b.slots == nil {
			send()
			continue
		}
		var inC chan *request
		if held == nil {
			inC = b.in
		}
		var slotC chan struct{}
		if due {
			slotC = b.slots
		}
		select {
		case r := <-inC:
			if n > 0 && n+len(r.texts) > b.opts.MaxBatch {
				held, due = r, true
				continue
			}
			add(r)
		case slotC <- struct{}{}:
			send()
		case <-timerC:
			timerC = nil
			due = true
		case <-b.quit:
			if held != nil {
				pending = append(pending, held)
			}
			for _, r := range pending {
				r.res <- result{err: ErrClosed}
			}
			return
		}
	}
}

func (b *Batcher) run(batch []*request) {
	defer b.wg.Done()
	if b.slots != nil {
		defer func() { <-b.slots }()
	}

	now := time.Now()
	live := make([]*request, 0, len(batch))
	var texts []string
	for _, r := range batch {
		if r.ctx.Err() != nil {
			continue // that caller has already returned
		}
		live = append(live, r)
		texts = append(texts, r.texts...)
	}
	if len(live) == 0 {
		return
	}
	if b.opts.OnBatch != nil {
		waits := make([]time.Duration, len(live))
		for i, r := range live {
			waits[i] = now.Sub(r.enqueued)
		}
		b.opts.OnBatch(Batch{Texts: len(texts), Callers: len(live), Waits: waits})
	}

	ctx, cancel := b.batchContext(live)
	defer cancel()
	vecs, err := b.next.Embed(ctx, texts)
	if err == nil && len(vecs) != len(texts) {
		err = fmt.Errorf("embedder returned %d vectors for %d texts", len(vecs), len(texts))
	}
	if err != nil {
		if b.ctx.Err() != nil {
			err = errors.Join(ErrClosed, err)
		}
		err = fmt.Errorf("embed batch of %d texts from %d callers: %w", len(texts), len(live), err)
	}
	off := 0
	for _, r := range live {
		k := len(r.texts)
		if err != nil {
			r.res <- result{err: err}
		} else {
			r.res <- result{vecs: vecs[off : off+k : off+k]}
		}
		off += k
	}
}

// batchContext lives while any caller of the batch still waits: it ends when
// the last of them gives up, at the latest of their deadlines, or on Close.
func (b *Batcher) batchContext(live []*request) (context.Context, context.CancelFunc) {
	var latest time.Time
	for _, r := range live {
		d, ok := r.ctx.Deadline()
		if !ok {
			latest = time.Time{}
			break
		}
		if d.After(latest) {
			latest = d
		}
	}
	ctx, cancel := context.WithCancel(b.ctx)
	if !latest.IsZero() {
		var cancelDeadline context.CancelFunc
		ctx, cancelDeadline = context.WithDeadline(ctx, latest)
		prev := cancel
		cancel = func() { cancelDeadline(); prev() }
	}
	var waiting atomic.Int32
	waiting.Store(int32(len(live)))
	stops := make([]func() bool, len(live))
	for i, r := range live {
		stops[i] = context.AfterFunc(r.ctx, func() {
			if waiting.Add(-1) == 0 {
				cancel()
			}
		})
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel()
	}
}
