package history

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/events/recorder"
	"github.com/grimoire-run/grimoire/graph"
)

// Mismatch is an activation whose re-executed outputs differ from the
// recorded ones (or that ran in one and not the other).
type Mismatch struct {
	NodeID     string         `json:"nodeId"`
	NodeType   string         `json:"nodeType,omitempty"`
	Activation int            `json:"activation"`
	Path       []string       `json:"path,omitempty"`
	Recorded   map[string]any `json:"recorded,omitempty"`
	Got        map[string]any `json:"got,omitempty"`
	Problem    string         `json:"problem"`
}

// VerifyReport is the result of Verify.
type VerifyReport struct {
	RunID string `json:"runId"`
	// Executed counts activations that ran again (deterministic nodes);
	// Replayed those fed from the recording (non-deterministic nodes).
	Executed   int        `json:"executed"`
	Replayed   int        `json:"replayed"`
	Compared   int        `json:"compared"`
	Mismatches []Mismatch `json:"mismatches,omitempty"`
	// Outputs are the run outputs reached again; RecordedOutputs the ones
	// RunCompleted recorded.
	Outputs         map[string]any `json:"outputs,omitempty"`
	RecordedOutputs map[string]any `json:"recordedOutputs,omitempty"`
	OutputsMatch    bool           `json:"outputsMatch"`
	// OK: every compared activation and the run's outputs match.
	OK bool `json:"ok"`
}

// ErrNotCompleted: only a completed run can be verified.
var ErrNotCompleted = errors.New("run did not complete")

// Verify re-executes a completed run in memory: every non-deterministic
// node (a model call, random, time) is fed its recorded outputs, every
// deterministic one runs again on inputs that come from the recording, and
// each result is compared with the recorded one, then the run's outputs
// with RunCompleted's. Nothing is written to the log.
func Verify(ctx context.Context, store events.Store, runner *graph.Runner, load LoadSpell, runID string) (*VerifyReport, error) {
	evs, err := ReadRun(ctx, store, runID)
	if err != nil {
		return nil, err
	}
	tl, err := Fold(runID, evs)
	if err != nil {
		return nil, err
	}
	if tl.Status != "completed" {
		return nil, fmt.Errorf("verify run %s (%s): %w", runID, tl.Status, ErrNotCompleted)
	}
	spell, err := load(ctx, tl.SpellID, tl.SpellHash)
	if err != nil {
		return nil, fmt.Errorf("verify run %s: load spell %s@%s: %w", runID, tl.SpellID, tl.SpellHash, err)
	}
	prog, err := runner.Compile(spell)
	if err != nil {
		return nil, fmt.Errorf("verify run %s: %w", runID, err)
	}
	base := recorder.ProgramPorts(prog, runner.Catalog)
	ports := func(path []string, nodeID, nodeType string) ([]string, bool) {
		trig, ok := base(path, nodeID, nodeType)
		if !ok {
			return nil, false
		}
		name := nodeType
		if len(path) == 0 {
			if n := spell.Node(nodeID); n != nil {
				name = n.Type
			}
		}
		t, known := runner.Catalog.Lookup(name)
		return trig, known && t.Nondeterministic
	}
	rec, _, err := recorder.Recorded(ctx, store, runID, ports)
	if err != nil {
		return nil, fmt.Errorf("verify run %s: %w", runID, err)
	}
	var meta runMeta
	_ = json.Unmarshal(rec.RequestedMetadata, &meta)

	recorded := map[string]Step{}
	for _, s := range tl.Steps {
		if s.Status == "completed" || s.Status == "cached" {
			recorded[stepKey(events.NodeRef{Path: s.Path, NodeID: s.NodeID, Activation: s.Activation})] = s
		}
	}
	rep := &VerifyReport{RunID: runID, RecordedOutputs: tl.Outputs}
	var mu sync.Mutex
	seen := map[string]bool{}
	obs := graph.ObserverFunc(func(e graph.NodeEvent) {
		if e.Kind != graph.NodeCompleted && e.Kind != graph.NodeReplayed {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		k := stepKey(events.NodeRef{Path: e.Path, NodeID: e.NodeID, Activation: e.Activation})
		seen[k] = true
		if e.Kind == graph.NodeReplayed {
			rep.Replayed++
			return
		}
		rep.Executed++
		want, ok := recorded[k]
		if !ok {
			rep.Mismatches = append(rep.Mismatches, Mismatch{NodeID: e.NodeID, NodeType: e.NodeType, Activation: e.Activation, Path: e.Path,
				Got: e.Outputs, Problem: "ran again but has no recorded result"})
			return
		}
		rep.Compared++
		if !sameJSON(want.Outputs, e.Outputs) {
			rep.Mismatches = append(rep.Mismatches, Mismatch{NodeID: e.NodeID, NodeType: e.NodeType, Activation: e.Activation, Path: e.Path,
				Recorded: want.Outputs, Got: e.Outputs, Problem: "outputs differ"})
		}
	})
	res, err := runner.RunProgram(ctx, prog, graph.RunRequest{RunID: runID + "-verify", User: tl.User, Inputs: tl.Inputs,
		InputOrder: meta.InputOrder, Entry: meta.Entry, Observer: obs, Recorded: rec})
	if err != nil {
		return nil, fmt.Errorf("verify run %s: re-execution failed: %w", runID, err)
	}
	for k, s := range recorded {
		if !seen[k] {
			rep.Mismatches = append(rep.Mismatches, Mismatch{NodeID: s.NodeID, NodeType: s.NodeType, Activation: s.Activation, Path: s.Path,
				Recorded: s.Outputs, Problem: "recorded but did not run again"})
		}
	}
	slices.SortFunc(rep.Mismatches, func(a, b Mismatch) int {
		if a.NodeID != b.NodeID {
			if a.NodeID < b.NodeID {
				return -1
			}
			return 1
		}
		return a.Activation - b.Activation
	})
	rep.Outputs = res.Outputs
	rep.OutputsMatch = sameJSON(tl.Outputs, res.Outputs)
	rep.OK = rep.OutputsMatch && len(rep.Mismatches) == 0
	return rep, nil
}

// sameJSON compares two values as their JSON forms (a recorded 3 is a
// float64, a fresh one an int).
func sameJSON(a, b any) bool {
	norm := func(v any) any {
		raw, err := json.Marshal(v)
		if err != nil {
			return v
		}
		var out any
		_ = json.Unmarshal(raw, &out)
		if m, ok := out.(map[string]any); ok && len(m) == 0 {
			return nil
		}
		return out
	}
	return reflect.DeepEqual(norm(a), norm(b))
}
