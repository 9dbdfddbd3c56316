package grimoire

import (
	"fmt"
	"slices"
	"strings"
)

// RunReplay is a run rebuilt from its recorded events, without calling any
// model: what each node received and produced, in the server's execution
// order, and how the run ended.
type RunReplay struct {
	RunID     string
	SpellID   string
	SpellHash string
	User      string
	// Status is running, completed, failed or cancelled.
	Status string
	// Inputs are the run's inputs; Outputs its outputs once completed.
	Inputs  map[string]any
	Outputs map[string]any
	// Nodes holds one entry per finished node activation, in the order the
	// activations finished: the same list as run:completed's nodes.
	Nodes []NodeResult
	// Failed lists the activations that returned an error.
	Failed []Event
	// Err is the *RunError of a failed or cancelled run.
	Err error
	// LastSeq is the last event folded.
	LastSeq uint64
}

// Node returns the first finished activation of nodeID at the top level of
// the spell (not inside a sub-spell), if any.
func (r *RunReplay) Node(nodeID string) (NodeResult, bool) {
	for _, n := range r.Nodes {
		if n.NodeID == nodeID && len(n.Path) == 0 {
			return n, true
		}
	}
	return NodeResult{}, false
}

// Replay folds a run's events, from seq 1 without gaps (as Events returns
// them), into per-node results. Duplicate events are ignored; events may
// come in any order. Each node:end becomes one NodeResult, with the
// trigger and inputs of its node:start; a result served from a cache
// carries no inputs, as in the server's run:completed.
func Replay(events []Event) (*RunReplay, error) {
	evs := slices.Clone(events)
	slices.SortStableFunc(evs, func(a, b Event) int {
		switch {
		case a.Seq < b.Seq:
			return -1
		case a.Seq > b.Seq:
			return 1
		}
		return 0
	})
	evs = slices.CompactFunc(evs, func(a, b Event) bool { return a.Seq == b.Seq })
	r := &RunReplay{}
	for i, e := range evs {
		if e.Seq != uint64(i+1) {
			return nil, fmt.Errorf("grimoire: replay: event %d of the history has seq %d, want %d: the history must start at seq 1 and have no gaps", i+1, e.Seq, i+1)
		}
		if r.RunID == "" {
			r.RunID = e.RunID
		} else if e.RunID != "" && e.RunID != r.RunID {
			return nil, fmt.Errorf("grimoire: replay: seq %d belongs to run %s, not %s", e.Seq, e.RunID, r.RunID)
		}
		r.LastSeq = e.Seq
		switch e.Type {
		case EventRunStart:
			r.SpellID, r.SpellHash, r.User, r.Inputs, r.Status = e.SpellID, e.SpellHash, e.User, e.Inputs, StatusRunning
		case EventNodeError:
			r.Failed = append(r.Failed, e)
		case EventRunCompleted:
			r.Status, r.Outputs = StatusCompleted, e.Outputs
			if r.Outputs == nil {
				r.Outputs = map[string]any{}
			}
		case EventRunFailed:
			r.Status, r.Err = StatusFailed, e.runError()
		case EventRunCancelled:
			r.Status, r.Err = StatusCancelled, e.runError()
		}
	}
	r.Nodes = foldNodes(evs)
	return r, nil
}

// foldNodes pairs each node:end with its node:start, in seq order.
func foldNodes(evs []Event) []NodeResult {
	type start struct {
		trigger string
		inputs  map[string][]any
	}
	key := func(e Event) string {
		return strings.Join(e.Path, "\x00") + "\x01" + e.NodeID + "\x01" + fmt.Sprint(e.Activation)
	}
	started := map[string]start{}
	out := []NodeResult{}
	for _, e := range evs {
		switch e.Type {
		case EventNodeStart:
			started[key(e)] = start{trigger: e.Trigger, inputs: portValues(e.Inputs)}
		case EventNodeEnd:
			n := NodeResult{NodeID: e.NodeID, NodeType: e.NodeType, Path: e.Path, Activation: e.Activation,
				Outputs: e.Outputs, Fired: e.Fired, Cached: e.Cached != nil && *e.Cached}
			if st, ok := started[key(e)]; ok && !n.Cached {
				n.Trigger, n.Inputs = st.trigger, st.inputs
			}
			out = append(out, n)
		}
	}
	return out
}

// portValues reads node:start's inputs, {port: [value, ...]}.
func portValues(in map[string]any) map[string][]any {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string][]any, len(in))
	for port, v := range in {
		if vs, ok := v.([]any); ok {
			out[port] = vs
		} else {
			out[port] = []any{v}
		}
	}
	return out
}
