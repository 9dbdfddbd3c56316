package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/grimoire-run/grimoire/events"
)

// ErrNoProjection: the runner has no projection of that name.
var ErrNoProjection = errors.New("no projection")

// Projection is a read model built from the global log.
type Projection interface {
	// Name identifies the projection (in Status, logs and metrics).
	Name() string
	// Filter selects the events Handle is given; the others only move the
	// projection's position forward. Only StreamPrefixes and EventTypes
	// are used.
	Filter() events.SubscribeOptions
	// Checkpoint is the global position of the last event applied, 0 when
	// none was.
	Checkpoint(ctx context.Context) (uint64, error)
	// Handle applies one event and makes its Position the checkpoint, both
	// at once. An event at or before the checkpoint must change nothing.
	Handle(ctx context.Context, e events.RecordedEvent) error
	// Reset drops the read model and its checkpoint.
	Reset(ctx context.Context) error
}

// Status is how a projection is doing.
type Status struct {
	Name string `json:"name"`
	// Checkpoint is the position of the last event the projection applied.
	Checkpoint uint64 `json:"checkpoint"`
	// Position is the position of the last event it has seen, applied or
	// filtered out.
	Position uint64 `json:"position"`
	// Head is the position of the last event in the log.
	Head uint64 `json:"head"`
	// Lag is Head - Position: how many positions it is behind.
	Lag uint64 `json:"lag"`
	// Handled counts events applied since the runner started.
	Handled uint64 `json:"handled"`
	// Healthy is false after a failure until an event is applied again.
	Healthy   bool   `json:"healthy"`
	LastError string `json:"lastError,omitempty"`
	// Failures counts the failures in a row since the projection last got
	// past the point where it failed (an event applied or filtered out
	// beyond Position at the failure). At StuckAfter it is stuck: retrying
	// from its checkpoint fails again and again.
	Failures int       `json:"failures,omitempty"`
	Updated  time.Time `json:"updated"`
}

// StuckAfter is how many failures in a row make a projection stuck (see
// Runner.Stuck): one failure may be a dropped connection, the second in a
// row, after a retry from the same checkpoint, is not going away.
const StuckAfter = 2

// Stuck reports the projections that failed StuckAfter times in a row
// without getting past an event (for example an event whose blob this
// process cannot read): their read models no longer follow the log.
func (r *Runner) Stuck() []Status {
	var out []Status
	for _, f := range r.projs {
		f.mu.Lock()
		s := f.st
		f.mu.Unlock()
		if s.Failures >= StuckAfter {
			out = append(out, s)
		}
	}
	return out
}

// HeadReader is implemented by stores that know their last position
// cheaply; for others the head is found by probing ReadAll.
type HeadReader interface {
	LastPosition(ctx context.Context) (uint64, error)
}

// Head returns the position of the last event in the store's log (0 when
// it is empty). Positions only grow, so it is found with a handful of
// ReadAll(p, 1) probes (exponential, then binary search) when the store
// does not implement HeadReader.
func Head(ctx context.Context, store events.Store) (uint64, error) {
	if h, ok := store.(HeadReader); ok {
		return h.LastPosition(ctx)
	}
	// at(p): the first event with Position >= p, if any.
	at := func(p uint64) (uint64, bool, error) {
		recs, err := store.ReadAll(ctx, p, 1)
		if err != nil || len(recs) == 0 {
			return 0, false, err
		}
		return recs[0].Position, true, nil
	}
	last, ok, err := at(1)
	if err != nil || !ok {
		return 0, err
	}
	// Find a probe with no event at or after it.
	hi := uint64(2)
	for {
		p, ok, err := at(max(hi, last+1))
		if err != nil {
			return 0, err
		}
		if !ok {
			break
		}
		last = p
		if hi > 1<<62 {
			return last, nil
		}
		hi *= 2
	}
	// Every event is < hi; the last is >= last. Bisect (last, hi).
	lo := last + 1
	for lo < hi {
		mid := lo + (hi-lo)/2
		p, ok, err := at(mid)
		if err != nil {
			return 0, err
		}
		if ok {
			last = p
			lo = p + 1
		} else {
			hi = mid
		}
	}
	return last, nil
}

// Options configures a Runner. Store is required.
type Options struct {
	Store events.Store
	// RetryDelay is the wait after a failure before subscribing again
	// from the checkpoint (default 1 second, doubling up to 30 seconds).
	RetryDelay time.Duration
	Logger     *slog.Logger
}

// Runner feeds projections from the store.
type Runner struct {
	opts  Options
	log   *slog.Logger
	projs []*follower

	mu      sync.Mutex
	started bool
	closed  bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

type follower struct {
	p Projection

	mu sync.Mutex
	st Status
	// failedAt is Position when the projection last failed: getting past
	// it ends a run of failures.
	failedAt uint64
	rebuild  chan chan error // requests to rebuild
	progress chan struct{}   // closed and replaced when Position moves
}

// NewRunner returns a runner for the projections; Start starts it.
func NewRunner(opts Options, ps ...Projection) (*Runner, error) {
	if opts.Store == nil {
		return nil, errors.New("projections: Options.Store is required")
	}
	if opts.RetryDelay <= 0 {
		opts.RetryDelay = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	r := &Runner{opts: opts, log: opts.Logger}
	seen := map[string]bool{}
	for _, p := range ps {
		if seen[p.Name()] {
			return nil, fmt.Errorf("projections: two projections named %q", p.Name())
		}
		seen[p.Name()] = true
		r.projs = append(r.projs, &follower{
			p: p, st: Status{Name: p.Name(), Healthy: true},
			rebuild: make(chan chan error), progress: make(chan struct{}),
		})
	}
	return r, nil
}

// Start follows the log with every projection until Close.
func (r *Runner) Start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return errors.New("projections: runner closed")
	}
	if r.started {
		return nil
	}
	r.started = true
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	for _, f := range r.projs {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.follow(ctx, f)
		}()
	}
	return nil
}

// Close stops following and waits for the projections' goroutines.
func (r *Runner) Close() error {
	r.mu.Lock()
	r.closed = true
	cancel := r.cancel
	r.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	r.wg.Wait()
	return nil
}

func (r *Runner) find(name string) (*follower, error) {
	for _, f := range r.projs {
		if f.p.Name() == name {
			return f, nil
		}
	}
	return nil, fmt.Errorf("projections: %w named %q", ErrNoProjection, name)
}

// Rebuild drops the named projection's read model and replays the whole
// log into it; it returns once the reset is done (the replay goes on in
// the background: watch Status or use WaitFor).
func (r *Runner) Rebuild(ctx context.Context, name string) error {
	f, err := r.find(name)
	if err != nil {
		return err
	}
	r.mu.Lock()
	running := r.started && !r.closed
	r.mu.Unlock()
	if !running {
		return f.p.Reset(ctx)
	}
	done := make(chan error, 1)
	select {
	case f.rebuild <- done:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// WaitFor waits until the named projection has seen the log up to
// position (for example the AppendResult.Position of a write the caller
// wants to read back).
func (r *Runner) WaitFor(ctx context.Context, name string, position uint64) error {
	f, err := r.find(name)
	if err != nil {
		return err
	}
	for {
		f.mu.Lock()
		pos, ch := f.st.Position, f.progress
		f.mu.Unlock()
		if pos >= position {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("wait for projection %s to reach %d (at %d): %w", name, position, pos, ctx.Err())
		}
	}
}

// CaughtUp waits until the named projection has seen the log's current head.
func (r *Runner) CaughtUp(ctx context.Context, name string) error {
	head, err := Head(ctx, r.opts.Store)
	if err != nil {
		return err
	}
	return r.WaitFor(ctx, name, head)
}

// Status reports every projection, with the log's current head.
func (r *Runner) Status(ctx context.Context) ([]Status, error) {
	head, err := Head(ctx, r.opts.Store)
	if err != nil {
		return nil, fmt.Errorf("projection status: %w", err)
	}
	out := make([]Status, 0, len(r.projs))
	for _, f := range r.projs {
		f.mu.Lock()
		s := f.st
		f.mu.Unlock()
		s.Head = max(head, s.Position)
		s.Lag = s.Head - s.Position
		out = append(out, s)
	}
	return out, nil
}

func (f *follower) update(fn func(*Status)) {
	f.mu.Lock()
	before := f.st.Position
	fn(&f.st)
	f.st.Updated = time.Now()
	if f.st.Position != before {
		close(f.progress)
		f.progress = make(chan struct{})
	}
	f.mu.Unlock()
}

// follow keeps one projection up to date until ctx ends.
func (r *Runner) follow(ctx context.Context, f *follower) {
	log := r.log.With("projection", f.p.Name())
	delay := r.opts.RetryDelay
	for ctx.Err() == nil {
		err := r.followOnce(ctx, f)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			delay = r.opts.RetryDelay
			continue // a rebuild: start over from the new checkpoint
		}
		log.Error("projection stopped; retrying from its checkpoint", "err", err, "retry_in", delay)
		f.update(func(s *Status) {
			s.Healthy, s.LastError, s.Failures = false, err.Error(), s.Failures+1
			f.failedAt = s.Position
		})
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return
		case done := <-f.rebuild:
			done <- r.reset(ctx, f)
		}
		delay = min(2*delay, 30*time.Second)
	}
}

func (r *Runner) reset(ctx context.Context, f *follower) error {
	if err := f.p.Reset(ctx); err != nil {
		return fmt.Errorf("reset projection %s: %w", f.p.Name(), err)
	}
	f.update(func(s *Status) { s.Checkpoint, s.Position = 0, 0 })
	return nil
}

// followOnce subscribes from the checkpoint and applies events until an
// error, ctx's end, or a rebuild request (nil).
func (r *Runner) followOnce(ctx context.Context, f *follower) error {
	cp, err := f.p.Checkpoint(ctx)
	if err != nil {
		return fmt.Errorf("read checkpoint: %w", err)
	}
	// A checkpoint past the log's head means the log was replaced (a new
	// data directory): the read model describes another log.
	if head, err := Head(ctx, r.opts.Store); err == nil && cp > head {
		r.log.Warn("projection checkpoint is past the log's head; rebuilding", "projection", f.p.Name(), "checkpoint", cp, "head", head)
		if err := r.reset(ctx, f); err != nil {
			return err
		}
		cp = 0
	}
	f.update(func(s *Status) { s.Checkpoint, s.Position = cp, max(s.Position, cp) })
	filter := f.p.Filter()
	// Subscribe to everything and filter here, so that Position follows
	// the head even when the log's tail holds no event for this projection.
	sub, err := r.opts.Store.Subscribe(ctx, events.SubscribeOptions{After: cp})
	if err != nil {
		return fmt.Errorf("subscribe after %d: %w", cp, err)
	}
	defer sub.Close()

	type next struct {
		e   events.RecordedEvent
		err error
	}
	// Next blocks; a goroutine lets a rebuild request interrupt it.
	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Buffered, so that the reader runs ahead instead of handing over
	// one event per context switch.
	ch := make(chan next, 256)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			e, err := sub.Next(subCtx)
			select {
			case ch <- next{e, err}:
			case <-subCtx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	defer wg.Wait()
	defer cancel()

	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case done := <-f.rebuild:
			cancel()
			wg.Wait()
			done <- r.reset(ctx, f)
			return nil
		case n := <-ch:
			if n.err != nil {
				return fmt.Errorf("subscription: %w", n.err)
			}
			e := n.e
			if !filter.Matches(e) {
				f.update(func(s *Status) {
					s.Position = max(s.Position, e.Position)
					if e.Position > f.failedAt {
						s.Failures = 0
					}
				})
				continue
			}
			if err := f.p.Handle(ctx, e); err != nil {
				return fmt.Errorf("handle %s %s@%d (position %d): %w", e.Type, e.Stream, e.Revision, e.Position, err)
			}
			f.update(func(s *Status) {
				s.Checkpoint, s.Position = e.Position, max(s.Position, e.Position)
				s.Handled++
				s.Healthy, s.LastError, s.Failures = true, "", 0
			})
		}
	}
}

// Replay resets p and applies the whole log to it, page by page, without a
// subscription (for offline rebuilds and benchmarks). It returns how many
// events were applied.
func Replay(ctx context.Context, store events.Store, p Projection) (int, error) {
	counts, err := ReplayAll(ctx, store, p)
	return counts[p.Name()], err
}

// ReplayAll resets every projection and applies the whole log to them in
// one pass over it (each page is read once and handed to each projection
// whose filter matches). It returns how many events each applied, by name.
func ReplayAll(ctx context.Context, store events.Store, ps ...Projection) (map[string]int, error) {
	filters := make([]events.SubscribeOptions, len(ps))
	counts := make(map[string]int, len(ps))
	for i, p := range ps {
		if err := p.Reset(ctx); err != nil {
			return counts, fmt.Errorf("reset projection %s: %w", p.Name(), err)
		}
		filters[i] = p.Filter()
	}
	// One goroutine reads the next pages while this one applies the
	// current page: decoding the log and applying it overlap.
	const page = 4096
	type batch struct {
		recs []events.RecordedEvent
		err  error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pages := make(chan batch, 2)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(pages)
		for from := uint64(1); ; {
			recs, err := store.ReadAll(ctx, from, page)
			if err != nil {
				err = fmt.Errorf("replay: read the log from %d: %w", from, err)
			}
			select {
			case pages <- batch{recs, err}:
			case <-ctx.Done():
				return
			}
			if err != nil || len(recs) < page {
				return
			}
			from = recs[len(recs)-1].Position + 1
		}
	}()
	defer wg.Wait()
	defer cancel()
	for b := range pages {
		if b.err != nil {
			return counts, b.err
		}
		for _, e := range b.recs {
			for i, p := range ps {
				if !filters[i].Matches(e) {
					continue
				}
				if err := p.Handle(ctx, e); err != nil {
					return counts, fmt.Errorf("replay into %s: handle %s %s@%d: %w", p.Name(), e.Type, e.Stream, e.Revision, err)
				}
				counts[p.Name()]++
			}
		}
	}
	return counts, ctx.Err()
}
