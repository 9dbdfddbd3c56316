package runs

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/graph"
)

// logState is a run's view of its spell's state, kept in the log: the
// stream events.StateStream(spell, owner) (or, for a run in an editor's
// playtest session, events.SessionStateStream) holds every StateWritten,
// and the state is the spell's gameState with their ops applied in stream
// order.
//
// The run reads the stream once, when a node first touches the state, and
// from then on sees that snapshot plus its own writes; a write is appended
// (durable) before the node goes on, so every later run sees it. Two runs
// writing at once both append; the order the store gives their appends is
// the order their ops apply in (graph.ApplyStateOps says what that means
// for the same key).
//
// A resumed run finds the writes it made before the crash in the stream;
// a node that runs again after them (its NodeCompleted was lost) writes
// nothing twice: its n-th write of an activation is skipped when the
// stream holds the run's n-th write of that activation already.
type logState struct {
	store   events.Store
	folds   *stateFolds
	resumed bool // the stream may hold this run's writes: count them
	spell   *graph.Spell
	owner   string
	session string
	stream  string
	runID   string
	now     func() time.Time
	mu      sync.Mutex
	view    map[string]any
	loadErr error
	loaded  bool
	// prior counts the run's writes in the stream when it was read, by
	// writer; made the writes this run made since.
	prior, made map[string]int
}

var _ graph.SpellState = (*logState)(nil)

// newLogState is the state a run of spell by owner sees: the spell's state
// for that owner, or, when session is set, that editor session's own.
func newLogState(store events.Store, folds *stateFolds, spell *graph.Spell, owner, session, runID string, resumed bool, now func() time.Time) *logState {
	stream := events.StateStream(spell.ID, owner)
	if session != "" {
		stream = events.SessionStateStream(spell.ID, owner, session)
	}
	return &logState{store: store, folds: folds, resumed: resumed, spell: spell, owner: owner, session: session, stream: stream, runID: runID, now: now}
}

// loadLocked reads the state stream once.
func (s *logState) loadLocked(ctx context.Context) error {
	if s.loaded {
		return s.loadErr
	}
	s.loaded = true
	s.made = map[string]int{}
	if s.resumed {
		s.view, s.prior, s.loadErr = foldState(ctx, s.store, s.spell, s.stream, s.runID)
	} else {
		// A new run wrote nothing yet: the fold need not count its writes.
		s.prior = map[string]int{}
		s.view, s.loadErr = s.folds.read(ctx, s.store, s.spell, s.stream)
	}
	return s.loadErr
}

// writerKey names one activation's writes: its node path and activation.
func writerKey(path []string, nodeID string, activation int) string {
	return strings.Join(append(append([]string(nil), path...), nodeID), "/") + "#" + strconv.Itoa(activation)
}

// Read implements graph.SpellState.
func (s *logState) Read(ctx context.Context) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.loadLocked(ctx); err != nil {
		return nil, err
	}
	return graph.CloneState(s.view)
}

// Write implements graph.SpellState.
func (s *logState) Write(ctx context.Context, w graph.StateWriter, ops []graph.StateOp) error {
	ops, err := graph.CloneStateOps(ops)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(ops)
	if err != nil {
		return err
	}
	ev, err := events.Encode(&events.StateWritten{
		SpellID: s.spell.ID, Owner: s.owner, Session: s.session, RunID: s.runID, Path: w.Path,
		NodeID: w.NodeID, NodeType: w.NodeType, Activation: w.Activation, Ops: raw, Time: s.now(),
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.loadLocked(ctx); err != nil {
		return err
	}
	key := writerKey(w.Path, w.NodeID, w.Activation)
	s.made[key]++
	if s.made[key] <= s.prior[key] {
		return nil // in the stream (and the view) since before a resume
	}
	if _, err := s.store.Append(ctx, s.stream, events.Any, ev); err != nil {
		return fmt.Errorf("write spell state of %q: %w", s.spell.ID, err)
	}
	_, err = graph.ApplyStateOps(s.view, ops)
	return err
}

// SpellState is a spell's state for one owner, as the owner's next run
// will see it: the spell's gameState, then every StateWritten in stream
// order.
func (e *Executor) SpellState(ctx context.Context, spell *graph.Spell, owner string) (map[string]any, error) {
	return e.folds.read(ctx, e.opts.Store, spell, events.StateStream(spell.ID, owner))
}

// stateFolds keeps the latest fold of each state stream this process has
// read, so that the next read applies only the writes appended since (by
// any process) instead of the whole stream again: a spell's state costs a
// run the size of the state, not of its history. A fold is kept per spell
// initial state (the gameState that the fold starts from: spell versions
// that keep it share the fold); at most stateFoldsCap streams are kept,
// then it starts over.
type stateFolds struct {
	mu sync.Mutex
	m  map[string]*stateFold // by stream
}

type stateFold struct {
	initial string         // initialStateKey of the spell it was folded for
	next    uint64         // the stream revision to read from
	state   map[string]any // never changed once kept: read() clones it
}

const stateFoldsCap = 4096

func (f *stateFolds) read(ctx context.Context, store events.Store, spell *graph.Spell, stream string) (map[string]any, error) {
	initial, err := initialStateKey(spell)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	kept := f.m[stream]
	f.mu.Unlock()
	var from uint64
	var state map[string]any
	if kept != nil && kept.initial == initial {
		if state, err = graph.CloneState(kept.state); err != nil {
			return nil, err
		}
		from = kept.next
	} else {
		state = graph.InitialState(spell)
	}
	state, next, _, err := applyStateStream(ctx, store, spell, stream, from, state, "")
	if err != nil {
		return nil, err
	}
	if kept == nil || kept.initial != initial || next > kept.next {
		keep, err := graph.CloneState(state)
		if err != nil {
			return nil, err
		}
		f.mu.Lock()
		if f.m == nil || len(f.m) >= stateFoldsCap {
			f.m = map[string]*stateFold{}
		}
		if cur := f.m[stream]; cur == nil || cur.initial != initial || cur.next < next {
			f.m[stream] = &stateFold{initial: initial, next: next, state: keep}
		}
		f.mu.Unlock()
	}
	return state, nil
}

// initialStateKey names the state a fold of spell starts from: the
// digest of its gameState, so that reading a kept fold costs the size of
// the initial state, not of the whole spell.
func initialStateKey(spell *graph.Spell) (string, error) {
	raw, err := json.Marshal(spell.Meta[graph.MetaGameState])
	if err != nil {
		return "", fmt.Errorf("gameState of %q: %w", spell.ID, err)
	}
	sum := sha256.Sum256(raw)
	return string(sum[:]), nil
}

// foldState is the spell's gameState with the ops of stream's
// StateWritten events applied in stream order, and how many of them run
// runID wrote, by writerKey.
func foldState(ctx context.Context, store events.Store, spell *graph.Spell, stream, runID string) (map[string]any, map[string]int, error) {
	state, _, byRun, err := applyStateStream(ctx, store, spell, stream, 0, graph.InitialState(spell), runID)
	return state, byRun, err
}

// applyStateStream applies to state the ops of stream's StateWritten
// events from revision from on, and returns it with the revision to read
// from next time and how many of those events run runID wrote, by
// writerKey.
func applyStateStream(ctx context.Context, store events.Store, spell *graph.Spell, stream string, from uint64, state map[string]any, runID string) (map[string]any, uint64, map[string]int, error) {
	byRun := map[string]int{}
	recs, err := store.ReadStream(ctx, stream, from, events.Forwards, 0)
	if errors.Is(err, events.ErrStreamNotFound) {
		return state, from, byRun, nil
	}
	if err != nil {
		return nil, 0, nil, fmt.Errorf("read spell state of %q: %w", spell.ID, err)
	}
	next := from
	for _, r := range recs {
		next = r.Revision + 1
		v, err := events.Decode(r)
		if err != nil {
			return nil, 0, nil, err
		}
		sw, ok := v.(events.StateWritten)
		if !ok {
			continue
		}
		var ops []graph.StateOp
		if err := json.Unmarshal(sw.Ops, &ops); err != nil {
			return nil, 0, nil, fmt.Errorf("spell state of %q at revision %d: %w", spell.ID, r.Revision, err)
		}
		if state, err = graph.ApplyStateOps(state, ops); err != nil {
			return nil, 0, nil, fmt.Errorf("spell state of %q at revision %d: %w", spell.ID, r.Revision, err)
		}
		if runID != "" && sw.RunID == runID {
			byRun[writerKey(sw.Path, sw.NodeID, sw.Activation)]++
		}
	}
	return state, next, byRun, nil
}
