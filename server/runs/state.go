package runs

import (
	"context"
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
func newLogState(store events.Store, spell *graph.Spell, owner, session, runID string, now func() time.Time) *logState {
	stream := events.StateStream(spell.ID, owner)
	if session != "" {
		stream = events.SessionStateStream(spell.ID, owner, session)
	}
	return &logState{store: store, spell: spell, owner: owner, session: session, stream: stream, runID: runID, now: now}
}

// loadLocked reads the state stream once.
func (s *logState) loadLocked(ctx context.Context) error {
	if s.loaded {
		return s.loadErr
	}
	s.loaded = true
	s.made = map[string]int{}
	s.view, s.prior, s.loadErr = foldState(ctx, s.store, s.spell, s.stream, s.runID)
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

// ReadSpellState folds a spell's state for one owner from the log: the
// spell's gameState, then every StateWritten in stream order.
func ReadSpellState(ctx context.Context, store events.Store, spell *graph.Spell, owner string) (map[string]any, error) {
	state, _, err := foldState(ctx, store, spell, events.StateStream(spell.ID, owner), "")
	return state, err
}

// foldState is the spell's gameState with the ops of stream's
// StateWritten events applied in stream order, and how many of them run
// runID wrote, by writerKey.
func foldState(ctx context.Context, store events.Store, spell *graph.Spell, stream, runID string) (map[string]any, map[string]int, error) {
	state := graph.InitialState(spell)
	byRun := map[string]int{}
	recs, err := store.ReadStream(ctx, stream, 0, events.Forwards, 0)
	if errors.Is(err, events.ErrStreamNotFound) {
		return state, byRun, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read spell state of %q: %w", spell.ID, err)
	}
	for _, r := range recs {
		v, err := events.Decode(r)
		if err != nil {
			return nil, nil, err
		}
		sw, ok := v.(events.StateWritten)
		if !ok {
			continue
		}
		var ops []graph.StateOp
		if err := json.Unmarshal(sw.Ops, &ops); err != nil {
			return nil, nil, fmt.Errorf("spell state of %q at revision %d: %w", spell.ID, r.Revision, err)
		}
		if state, err = graph.ApplyStateOps(state, ops); err != nil {
			return nil, nil, fmt.Errorf("spell state of %q at revision %d: %w", spell.ID, r.Revision, err)
		}
		if runID != "" && sw.RunID == runID {
			byRun[writerKey(sw.Path, sw.NodeID, sw.Activation)]++
		}
	}
	return state, byRun, nil
}
