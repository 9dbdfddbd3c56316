package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"sync"
)

// MetaGameState is the Spell.Meta key of a spell's initial game state (the
// top-level `gameState` of a Thoth/Magick export, `meta.gameState` natively).
const MetaGameState = "gameState"

// Spell state ("game state" in Thoth and Magick) is one JSON object per
// spell and owner that State Read, State Write and the Code node's `state`
// argument read and change. Changes are StateOps; the state is the fold of
// the spell's initial gameState and every op in the order the log holds
// them (ApplyStateOps). The merge rule for concurrent runs follows from
// applying each op to the state as it stands at its place in that order,
// not to the state its run saw:
//
//   - ops on different keys never touch each other: both runs' writes stay;
//   - StateSet of one key by two runs: the later one in log order wins;
//   - StateWrite applies Thoth's State Write rule at fold time, so two runs
//     appending to one array both land (in log order), and two runs
//     merging different fields into one object both stay.

// State op kinds.
const (
	// StateSet replaces a top-level key (Thoth's updateCurrentGameState:
	// {...state, ...update}). A null value is kept as null.
	StateSet = "set"
	// StateWrite is Thoth's State Write: if the key holds an array the
	// value is appended; if it holds an object and the value is an object
	// the value's keys are merged into it (one level); otherwise the value
	// replaces it.
	StateWrite = "write"
	// StateDelete removes a top-level key.
	StateDelete = "delete"
)

// StateOp is one change to a spell's state.
type StateOp struct {
	Op    string `json:"op"`
	Key   string `json:"key"`
	Value any    `json:"value,omitempty"`
}

// ApplyStateOps applies ops to state in order, in place, and returns it
// (a new map when state is nil). Unknown op kinds are an error, and state
// is left as the ops before it made it.
func ApplyStateOps(state map[string]any, ops []StateOp) (map[string]any, error) {
	if state == nil {
		state = map[string]any{}
	}
	for i, op := range ops {
		switch op.Op {
		case StateSet:
			state[op.Key] = op.Value
		case StateDelete:
			delete(state, op.Key)
		case StateWrite:
			switch cur := state[op.Key].(type) {
			case []any:
				next := make([]any, len(cur), len(cur)+1)
				copy(next, cur)
				state[op.Key] = append(next, op.Value)
			case map[string]any:
				v, ok := op.Value.(map[string]any)
				if !ok {
					state[op.Key] = op.Value
					continue
				}
				next := maps.Clone(cur)
				maps.Copy(next, v)
				state[op.Key] = next
			default:
				state[op.Key] = op.Value
			}
		default:
			return state, fmt.Errorf("state op %d: unknown op %q (want set, write or delete)", i, op.Op)
		}
	}
	return state, nil
}

// CloneState deep-copies a state through its JSON form, so that a value a
// node holds can never change under another (and numbers read back as
// float64, as they would from the log).
func CloneState(state map[string]any) (map[string]any, error) {
	if state == nil {
		return map[string]any{}, nil
	}
	b, err := json.Marshal(state)
	if err != nil {
		return nil, fmt.Errorf("spell state has no JSON form: %w", err)
	}
	out := map[string]any{}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// InitialState is a spell's initial game state (a copy); empty when the
// spell has none.
func InitialState(s *Spell) map[string]any {
	if s == nil {
		return map[string]any{}
	}
	m, _ := s.Meta[MetaGameState].(map[string]any)
	out, err := CloneState(m)
	if err != nil {
		return map[string]any{}
	}
	return out
}

// SpellState is a run's view of its spell's state. A run sees one
// snapshot, taken when it first reads or writes, with its own writes on
// top (read your own writes); sub-spells share their parent's. The caller
// of a run supplies it (RunRequest.State); nodes reach it through their
// Activation.
type SpellState interface {
	// Read returns the run's view. The map is the caller's to keep.
	Read(ctx context.Context) (map[string]any, error)
	// Write applies ops to the run's view and makes them durable for
	// later runs before it returns. ref names the activation writing.
	Write(ctx context.Context, ref StateWriter, ops []StateOp) error
}

// StateWriter names the activation a write comes from.
type StateWriter struct {
	Path       []string
	NodeID     string
	NodeType   string
	Activation int
}

// MemoryState is a SpellState that lives for one run and is then
// forgotten: the default when a caller supplies none (tests, `grimoire
// run` without a log), and what replay --verify uses over a recorded
// snapshot, so that re-executing writes nothing.
type MemoryState struct {
	mu    sync.Mutex
	state map[string]any
}

// NewMemoryState starts a run's view at initial (copied).
func NewMemoryState(initial map[string]any) *MemoryState {
	st, err := CloneState(initial)
	if err != nil {
		st = map[string]any{}
	}
	return &MemoryState{state: st}
}

// Read implements SpellState.
func (m *MemoryState) Read(context.Context) (map[string]any, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return CloneState(m.state)
}

// Write implements SpellState.
func (m *MemoryState) Write(_ context.Context, _ StateWriter, ops []StateOp) error {
	ops, err := cloneOps(ops)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, err = ApplyStateOps(m.state, ops)
	return err
}

// cloneOps deep-copies ops' values through JSON: a write must not keep a
// reference to a node's output.
func cloneOps(ops []StateOp) ([]StateOp, error) {
	b, err := json.Marshal(ops)
	if err != nil {
		return nil, fmt.Errorf("state write has no JSON form: %w", err)
	}
	var out []StateOp
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// CloneStateOps deep-copies ops through their JSON form.
func CloneStateOps(ops []StateOp) ([]StateOp, error) { return cloneOps(ops) }

// SpellState reads the run's view of the spell's state (see SpellState).
func (a *Activation) SpellState(ctx context.Context) (map[string]any, error) {
	return a.run.spellState().Read(ctx)
}

// WriteSpellState applies ops to the spell's state: this run sees them at
// once, later runs once it returns.
func (a *Activation) WriteSpellState(ctx context.Context, ops ...StateOp) error {
	if len(ops) == 0 {
		return nil
	}
	return a.run.spellState().Write(ctx, StateWriter{Path: a.run.path, NodeID: a.Node.ID, NodeType: a.Type.Name, Activation: a.Number}, ops)
}

// spellState is the run's SpellState: the caller's, or one in memory over
// the spell's gameState, created once per top-level run and shared with its
// sub-spells.
func (st *runState) spellState() SpellState {
	st.stateOnce.Do(func() {
		if st.req.State == nil {
			st.req.State = NewMemoryState(InitialState(st.prog.Spell))
		}
	})
	return st.req.State
}
