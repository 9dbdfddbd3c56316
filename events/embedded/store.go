package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grimoire-run/grimoire/events"
)

// Options configure Open. Only Dir is required.
type Options struct {
	// Dir is the data directory; the log lives in Dir/log.
	Dir string
	// Engine replaces the default Pebble engine (used by the engine
	// comparison benchmarks). The Store closes it.
	Engine Engine
	// MaxEventSize is the largest encoded event (data, metadata, type and
	// ID) accepted; larger ones fail with events.ErrEventTooLarge.
	// Default 4 MiB; wrap the store with events.WithBlobs for bigger data.
	MaxEventSize int
	// MaxBatchEvents caps how many events one group commit holds.
	// Default 4096.
	MaxBatchEvents int
	// GroupWait caps how long the writer waits, before a group commit,
	// for the appenders it just acknowledged to come back (see writeLoop);
	// it never waits longer than the previous commit took. Default 1ms;
	// negative never waits.
	GroupWait time.Duration
	// LiveWindow is how many recently committed events are kept in memory
	// for live subscribers. Default 8192.
	LiveWindow int
	// BackgroundWriteRate caps, in bytes/s, how fast Pebble's flushes and
	// compactions write while Pebble keeps up with the appends, so that
	// their writes do not hold up the appends' syncs (see pace.go).
	// Default DefaultBackgroundWriteRate; negative leaves them unpaced.
	BackgroundWriteRate int64
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.MaxEventSize <= 0 {
		o.MaxEventSize = 4 << 20
	}
	if o.MaxBatchEvents <= 0 {
		o.MaxBatchEvents = 4096
	}
	if o.GroupWait == 0 {
		o.GroupWait = time.Millisecond
	}
	if o.LiveWindow <= 0 {
		o.LiveWindow = 8192
	}
	if o.BackgroundWriteRate == 0 {
		o.BackgroundWriteRate = DefaultBackgroundWriteRate
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Store is the embedded events.Store. Open one per data directory (Pebble
// locks it against a second process).
type Store struct {
	opts   Options
	engine Engine

	reqs       chan *appendReq
	closing    chan struct{}
	writerDone chan struct{}
	closeOnce  sync.Once

	// closeMu keeps the engine open while reads run: readers hold it
	// shared, Close takes it exclusively.
	closeMu sync.RWMutex
	closed  bool

	// Writer goroutine state.
	nextPos uint64
	heads   map[string]head
	failed  error

	committed atomic.Uint64 // highest durable position
	notifyMu  sync.Mutex
	notify    chan struct{} // closed and replaced after each commit
	window    *window
	last      *lastEvents
}

type head struct {
	last uint64
	pos  uint64
	id   string
}

type appendReq struct {
	stream   string
	expected events.ExpectedRevision
	evs      []events.EventData
	// recs are evs as records, prepared by the appending goroutine (data
	// copied; IDs derived for revisions from idStart when idKnown) so that
	// the writer goroutine only numbers them.
	recs    []events.RecordedEvent
	idStart uint64
	idKnown bool
	done    chan appendResp
}

// queuedAppends is how many appends may wait for the writer without
// blocking their goroutines on the hand-over (the writer reads how many
// wait when it plans its next group).
const queuedAppends = 1024

type appendResp struct {
	res events.AppendResult
	err error
}

var _ events.Store = (*Store)(nil)

// Open opens or creates the store in opts.Dir.
func Open(opts Options) (*Store, error) {
	opts.defaults()
	eng := opts.Engine
	if eng == nil {
		if opts.Dir == "" {
			return nil, errors.New("open embedded event store: Options.Dir is empty (set the data directory)")
		}
		var err error
		eng, err = OpenPebble(filepath.Join(opts.Dir, "log"), opts.BackgroundWriteRate)
		if err != nil {
			return nil, fmt.Errorf("open embedded event store: %w", err)
		}
	}
	last, err := eng.LastPosition()
	if err != nil {
		eng.Close()
		return nil, fmt.Errorf("open embedded event store: read last position: %w", err)
	}
	s := &Store{
		opts:       opts,
		engine:     eng,
		reqs:       make(chan *appendReq, queuedAppends),
		closing:    make(chan struct{}),
		writerDone: make(chan struct{}),
		nextPos:    last + 1,
		heads:      make(map[string]head),
		last:       newLastEvents(),
		notify:     make(chan struct{}),
		window:     newWindow(opts.LiveWindow),
	}
	s.committed.Store(last)
	go s.writeLoop()
	return s, nil
}

// Close stops the writer, ends subscriptions and closes the engine.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closing)
		<-s.writerDone
		s.closeMu.Lock()
		s.closed = true
		err = s.engine.Close()
		s.closeMu.Unlock()
	})
	return err
}

// Append implements events.Store.
func (s *Store) Append(ctx context.Context, stream string, expected events.ExpectedRevision, evs ...events.EventData) (events.AppendResult, error) {
	if err := events.CheckStreamName(stream); err != nil {
		return events.AppendResult{}, fmt.Errorf("append to %q: %w", stream, err)
	}
	for i, ev := range evs {
		if ev.Type == "" {
			return events.AppendResult{}, fmt.Errorf("append to %q: event %d has no type", stream, i)
		}
		if size := len(ev.Data) + len(ev.Metadata) + len(ev.Type) + len(ev.ID); size > s.opts.MaxEventSize {
			return events.AppendResult{}, &events.EventTooLargeError{Stream: stream, Index: i, Size: size, Limit: s.opts.MaxEventSize}
		}
	}
	req := &appendReq{stream: stream, expected: expected, evs: evs, done: make(chan appendResp, 1)}
	req.prepare()
	select {
	case s.reqs <- req:
	case <-ctx.Done():
		return events.AppendResult{}, fmt.Errorf("append to %q: %w", stream, ctx.Err())
	case <-s.closing:
		return events.AppendResult{}, fmt.Errorf("append to %q: %w", stream, events.ErrClosed)
	}
	select {
	case r := <-req.done:
		return r.res, r.err
	case <-s.writerDone:
		// The writer answers every append it took before it stopped.
		select {
		case r := <-req.done:
			return r.res, r.err
		default:
			return events.AppendResult{}, fmt.Errorf("append to %q: %w", stream, events.ErrClosed)
		}
	case <-ctx.Done():
		// The append may still commit; retrying it with the same IDs and
		// expected revision is idempotent.
		return events.AppendResult{}, fmt.Errorf("append to %q: outcome unknown: %w", stream, ctx.Err())
	}
}

// prepare does the per-event work that needs no store state in the
// appending goroutine: copying the data and, when expected tells the
// revision the events will land at, deriving their IDs (a SHA-256 of the
// data each), so that the one writer goroutine does not.
func (req *appendReq) prepare() {
	switch rev, exact := req.expected.Revision(); {
	case exact:
		req.idStart, req.idKnown = rev+1, true
	case req.expected.IsNoStream():
		req.idStart, req.idKnown = 0, true
	}
	req.recs = make([]events.RecordedEvent, len(req.evs))
	for i, ev := range req.evs {
		r := &req.recs[i]
		r.Stream = req.stream
		r.ID = ev.ID
		r.Type = ev.Type
		r.SchemaVersion = schemaVersion(ev.SchemaVersion)
		r.Data = append([]byte(nil), ev.Data...)
		if len(ev.Metadata) > 0 {
			r.Metadata = append([]byte(nil), ev.Metadata...)
		}
		if r.ID == "" && req.idKnown {
			r.ID = events.DeterministicID(req.stream, req.idStart+uint64(i), ev)
		}
	}
}

// skipAfterMiss is how many groups are committed without waiting after a
// wait in which most of the appenders expected did not come back.
const skipAfterMiss = 8

// writeLoop is the group commit. It takes the appends waiting, commits
// them in one synced batch and answers them, then starts over.
//
// Appenders that wait for their answer before appending again (a run's
// recorder, the writers of the append benchmark) would otherwise split
// into two halves that take turns: the half answered after commit N comes
// back while commit N+1 syncs and waits for commit N+2, so each sync
// carries half of them. So before a group commit the writer waits, at
// most GroupWait, until the group holds the appends that were already
// waiting when it answered the last group plus as many as that group
// answered: the appenders it just answered, back again. It waits no
// longer than the last commit took (so at most doubles an append's
// latency when no one comes back) nor than GroupWait, and after a wait in
// which most did not come back (appenders that append now and then, not
// in a loop) the next skipAfterMiss groups do not wait. A lone appender
// does not wait: it is its own next group.
func (s *Store) writeLoop() {
	defer close(s.writerDone)
	var batch []*appendReq
	var timer *time.Timer
	expect := 0 // appends the next group waits for
	skip := 0   // groups to commit without waiting
	var lastCommit time.Duration
	for {
		batch = batch[:0]
		select {
		case r := <-s.reqs:
			batch = append(batch, r)
		case <-s.closing:
			return
		}
		n := len(batch[0].evs)
	drain:
		for n < s.opts.MaxBatchEvents {
			select {
			case r := <-s.reqs:
				batch = append(batch, r)
				n += len(r.evs)
			default:
				break drain
			}
		}
		wait := min(s.opts.GroupWait, lastCommit)
		switch {
		case len(batch) >= expect || n >= s.opts.MaxBatchEvents || wait <= 0:
		case skip > 0:
			skip--
		default:
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			had, timedOut := len(batch), false
		gather:
			for len(batch) < expect && n < s.opts.MaxBatchEvents {
				select {
				case r := <-s.reqs:
					batch = append(batch, r)
					n += len(r.evs)
				case <-timer.C:
					timedOut = true
					break gather
				case <-s.closing:
					break gather
				}
			}
			timer.Stop()
			if timedOut && 2*(len(batch)-had) < expect-had {
				// Most did not come back: they do not append in a
				// loop. Do not make the next groups wait for them.
				skip = skipAfterMiss
			}
		}
		t0 := time.Now()
		s.commitBatch(batch)
		lastCommit = time.Since(t0)
		expect = min(len(batch)+len(s.reqs), queuedAppends)
	}
}

// pending is one request's fate within a batch.
type pending struct {
	req        *appendReq
	first, end int // its records in the batch: recs[first:end]
	res        events.AppendResult
	err        error
}

func (s *Store) commitBatch(batch []*appendReq) {
	if s.failed != nil {
		for _, r := range batch {
			r.done <- appendResp{err: fmt.Errorf("append to %q: store failed earlier, reopen it: %w", r.stream, s.failed)}
		}
		return
	}
	now := time.Now().UTC()
	overlay := make(map[string]head, len(batch))
	n := 0
	for _, req := range batch {
		n += len(req.recs)
	}
	recs := make([]events.RecordedEvent, 0, n)
	outs := make([]pending, len(batch))
	for i, req := range batch {
		out := &outs[i]
		out.req = req
		out.first, out.end = len(recs), len(recs)
		h, exists, err := s.head(req.stream, overlay)
		if err != nil {
			out.err = fmt.Errorf("append to %q: read stream head: %w", req.stream, err)
			continue
		}
		retry := false
		if !req.expected.Check(h.last, exists) {
			retry = true
		} else if req.expected.IsAny() && exists && len(req.evs) > 0 && suppliedIDs(req.evs) && h.id == req.evs[len(req.evs)-1].ID {
			// Any with caller IDs whose last ID is the stream's last
			// event: most likely a retry of an append that landed.
			retry = true
		}
		if retry {
			res, ok, err := s.alreadyAppended(req, h, exists, recs)
			switch {
			case err != nil:
				out.err = fmt.Errorf("append to %q: check for a retried append: %w", req.stream, err)
				continue
			case ok:
				out.res = res
				continue
			case !req.expected.IsAny():
				out.err = &events.WrongRevisionError{Stream: req.stream, Expected: req.expected, ActualExists: exists, Actual: h.last}
				continue
			}
		}
		if len(req.evs) == 0 {
			out.res = events.AppendResult{NextRevision: h.last, Position: h.pos}
			continue
		}
		rev := uint64(0)
		if exists {
			rev = h.last + 1
		}
		idsFit := req.idKnown && req.idStart == rev
		for i := range req.recs {
			r := req.recs[i]
			r.Revision = rev
			r.Position = s.nextPos + uint64(len(recs))
			r.Time = now
			if req.evs[i].ID == "" && !idsFit {
				r.ID = events.DeterministicID(req.stream, rev, req.evs[i])
			}
			recs = append(recs, r)
			rev++
		}
		last := recs[len(recs)-1]
		out.end = len(recs)
		out.res = events.AppendResult{NextRevision: last.Revision, Position: last.Position}
		overlay[req.stream] = head{last: last.Revision, pos: last.Position, id: last.ID}
	}

	if len(recs) > 0 {
		if err := s.engine.Commit(recs); err != nil {
			s.failed = err
			s.opts.Logger.Error("event store commit failed; appends refused until reopened", "err", err, "events", len(recs))
			for i := range outs {
				if outs[i].end > outs[i].first {
					outs[i].err = fmt.Errorf("append to %q: commit: %w", outs[i].req.stream, err)
				}
			}
		} else {
			s.nextPos += uint64(len(recs))
			s.cacheHeads(overlay)
			s.last.committed(recs)
			s.window.push(recs)
			s.notifyMu.Lock()
			s.committed.Store(recs[len(recs)-1].Position)
			close(s.notify)
			s.notify = make(chan struct{})
			s.notifyMu.Unlock()
		}
	}
	for i := range outs {
		o := &outs[i]
		if o.err == nil && o.end > o.first {
			o.res.Recorded = slices.Clip(recs[o.first:o.end])
		}
		o.req.done <- appendResp{res: o.res, err: o.err}
	}
}

func schemaVersion(v int) int {
	if v <= 0 {
		return 1
	}
	return v
}

func suppliedIDs(evs []events.EventData) bool {
	for _, ev := range evs {
		if ev.ID == "" {
			return false
		}
	}
	return true
}

// head returns the stream's last event as the batch sees it.
func (s *Store) head(stream string, overlay map[string]head) (head, bool, error) {
	if h, ok := overlay[stream]; ok {
		return h, true, nil
	}
	if h, ok := s.heads[stream]; ok {
		return h, true, nil
	}
	r, ok, err := s.engine.Head(stream)
	if err != nil || !ok {
		return head{}, false, err
	}
	h := head{last: r.Revision, pos: r.Position, id: r.ID}
	s.cacheHeads(map[string]head{stream: h})
	return h, true, nil
}

// maxCachedHeads bounds the stream-head cache; a miss costs one engine
// seek.
const maxCachedHeads = 1 << 16

func (s *Store) cacheHeads(m map[string]head) {
	if len(s.heads)+len(m) > maxCachedHeads {
		// Drop about a quarter, arbitrary ones (map order).
		drop := len(s.heads) / 4
		for k := range s.heads {
			if drop == 0 {
				break
			}
			delete(s.heads, k)
			drop--
		}
	}
	for k, v := range m {
		s.heads[k] = v
	}
}

// alreadyAppended reports whether req's events already sit in the stream
// where req would have put them (a retry of an append that succeeded).
func (s *Store) alreadyAppended(req *appendReq, h head, exists bool, batch []events.RecordedEvent) (events.AppendResult, bool, error) {
	k := uint64(len(req.evs))
	if k == 0 || !exists {
		return events.AppendResult{}, false, nil
	}
	var start uint64
	switch {
	case req.expected.IsNoStream():
		start = 0
	case req.expected.IsAny():
		if h.last+1 < k {
			return events.AppendResult{}, false, nil
		}
		start = h.last + 1 - k
	default:
		rev, exact := req.expected.Revision()
		if !exact {
			return events.AppendResult{}, false, nil
		}
		start = rev + 1
	}
	if start+k-1 > h.last {
		return events.AppendResult{}, false, nil
	}
	got, err := s.engine.ReadStream(req.stream, start, events.Forwards, int(k))
	if err != nil {
		return events.AppendResult{}, false, err
	}
	// Events of this stream accepted earlier in the same batch are not in
	// the engine yet.
	for _, r := range batch {
		if r.Stream == req.stream && r.Revision >= start && r.Revision < start+k {
			got = append(got, r)
		}
	}
	if uint64(len(got)) != k {
		return events.AppendResult{}, false, nil
	}
	for i, ev := range req.evs {
		id := ev.ID
		if id == "" {
			id = events.DeterministicID(req.stream, start+uint64(i), ev)
		}
		if got[i].Revision != start+uint64(i) || got[i].ID != id {
			return events.AppendResult{}, false, nil
		}
	}
	last := got[k-1]
	return events.AppendResult{NextRevision: last.Revision, Position: last.Position}, true, nil
}

// read runs fn with the engine held open.
func (s *Store) read(fn func() error) error {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return events.ErrClosed
	}
	return fn()
}

// ReadStream implements events.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, dir events.Direction, max int) ([]events.RecordedEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if from == events.End && dir == events.Backwards && max == 1 {
		return s.readLast(stream)
	}
	var out []events.RecordedEvent
	err := s.read(func() error {
		var err error
		out, err = s.engine.ReadStream(stream, from, dir, max)
		if err != nil || len(out) > 0 {
			return err
		}
		_, ok, err := s.engine.Head(stream)
		if err == nil && !ok {
			err = events.ErrStreamNotFound
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read stream %q: %w", stream, err)
	}
	return out, nil
}

// readLast is ReadStream(stream, End, Backwards, 1), through s.last.
func (s *Store) readLast(stream string) ([]events.RecordedEvent, error) {
	rec, fill, ok := s.last.get(stream)
	if ok {
		return []events.RecordedEvent{rec}, nil
	}
	var found bool
	err := s.read(func() error {
		var err error
		rec, found, err = s.engine.Head(stream)
		if err == nil && !found {
			err = events.ErrStreamNotFound
		}
		return err
	})
	s.last.fill(stream, fill, rec, found && err == nil)
	if err != nil {
		return nil, fmt.Errorf("read stream %q: %w", stream, err)
	}
	return []events.RecordedEvent{rec}, nil
}

// ReadAll implements events.Store.
func (s *Store) ReadAll(ctx context.Context, from uint64, max int) ([]events.RecordedEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []events.RecordedEvent
	err := s.read(func() error {
		var err error
		out, err = s.engine.ReadAll(from, max)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read $all from %d: %w", from, err)
	}
	return out, nil
}
