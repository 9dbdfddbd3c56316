package history

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/events/recorder"
	"github.com/grimoire-run/grimoire/graph"
)

// SourceFork is the Source of a forked run's RunRequested.
const SourceFork = "fork"

// LoadSpell loads the version of a spell a run recorded (by content hash).
type LoadSpell func(ctx context.Context, spellID, hash string) (*graph.Spell, error)

// ForkRequest asks for a fork of a recorded run.
type ForkRequest struct {
	ParentRunID string
	// FromNode is the top-level node from which the run is recomputed:
	// it and everything downstream of it run again; everything else is
	// replayed from the parent's recording.
	FromNode string
	// Inputs override the parent's inputs, by Input name. Input nodes
	// reading an overridden input, and everything downstream of them, are
	// recomputed too.
	Inputs map[string]any
}

// Fork is a planned fork: a spell, inputs and the recorded results to
// reuse. The server's run executor starts it (RunSpec.Recorded, ForkOf).
type Fork struct {
	ParentRunID string
	FromNode    string
	Program     *graph.Program
	Inputs      map[string]any
	InputOrder  []string
	Entry       string
	// Recompute lists the top-level nodes that run again, sorted.
	Recompute []string
	// Recorded replays the parent's results of the other nodes, with
	// source "replay", and makes the runner execute the nodes to recompute
	// rather than take them from the node-output cache
	// (graph.Recomputed).
	Recorded graph.Recorded
}

type runMeta struct {
	InputOrder []string `json:"inputOrder,omitempty"`
	Entry      string   `json:"entry,omitempty"`
}

// ErrNoSuchNode: the node to fork from is not in the run's spell.
var ErrNoSuchNode = errors.New("no such node in the run's spell")

// PlanFork reads the parent run and plans a fork.
func PlanFork(ctx context.Context, store events.Store, runner *graph.Runner, load LoadSpell, req ForkRequest) (*Fork, error) {
	if runner == nil || runner.Catalog == nil || load == nil {
		return nil, errors.New("plan fork: a runner with a catalog and a spell loader are required")
	}
	// First the header, to find the spell.
	first, err := store.ReadStream(ctx, events.RunStream(req.ParentRunID), 0, events.Forwards, 1)
	if errors.Is(err, events.ErrStreamNotFound) || (err == nil && len(first) == 0) {
		return nil, fmt.Errorf("fork run %s: %w", req.ParentRunID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("fork run %s: %w", req.ParentRunID, err)
	}
	v, err := events.Decode(first[0])
	if err != nil {
		return nil, fmt.Errorf("fork run %s: %w", req.ParentRunID, err)
	}
	rr, ok := v.(events.RunRequested)
	if !ok {
		return nil, fmt.Errorf("fork run %s: %w", req.ParentRunID, recorder.ErrNotARun)
	}
	spell, err := load(ctx, rr.SpellID, rr.SpellHash)
	if err != nil {
		return nil, fmt.Errorf("fork run %s: load spell %s@%s: %w", req.ParentRunID, rr.SpellID, rr.SpellHash, err)
	}
	prog, err := runner.Compile(spell)
	if err != nil {
		return nil, fmt.Errorf("fork run %s: %w", req.ParentRunID, err)
	}
	if spell.Node(req.FromNode) == nil {
		return nil, fmt.Errorf("fork run %s from %q: %w", req.ParentRunID, req.FromNode, ErrNoSuchNode)
	}
	rec, _, err := recorder.Recorded(ctx, store, req.ParentRunID, recorder.ProgramPorts(prog, runner.Catalog))
	if err != nil {
		return nil, fmt.Errorf("fork run %s: %w", req.ParentRunID, err)
	}
	var meta runMeta
	_ = json.Unmarshal(rec.RequestedMetadata, &meta)

	inputs := maps.Clone(rec.Requested.Inputs)
	if inputs == nil {
		inputs = map[string]any{}
	}
	order := slices.Clone(meta.InputOrder)
	roots := []string{req.FromNode}
	for k, v := range req.Inputs {
		inputs[k] = v
		if !slices.Contains(order, k) {
			order = append(order, k)
		}
		for _, n := range spell.Nodes {
			if t, ok := runner.Catalog.Lookup(n.Type); ok && t.Role == graph.RoleInput && t.PortName(&n) == k {
				roots = append(roots, n.ID)
			}
		}
	}
	recompute := Downstream(spell, roots...)
	return &Fork{
		ParentRunID: req.ParentRunID, FromNode: req.FromNode, Program: prog,
		Inputs: inputs, InputOrder: order, Entry: meta.Entry,
		Recompute: slices.Sorted(maps.Keys(recompute)),
		Recorded:  &replayed{rec: rec, skip: recompute},
	}, nil
}

// Downstream returns roots and every top-level node reachable from them
// over trigger or data edges.
func Downstream(s *graph.Spell, roots ...string) map[string]bool {
	next := map[string][]string{}
	for _, e := range s.Edges {
		next[e.From.Node] = append(next[e.From.Node], e.To.Node)
	}
	seen := map[string]bool{}
	queue := slices.Clone(roots)
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if seen[n] {
			continue
		}
		seen[n] = true
		queue = append(queue, next[n]...)
	}
	return seen
}

// replayed serves a recording's results except for the nodes to
// recompute (and the nodes of sub-spells called by them).
type replayed struct {
	rec  *recorder.Recording
	skip map[string]bool
}

func (r *replayed) Recorded(path []string, nodeID string, activation int) (graph.Result, string, bool) {
	top := nodeID
	if len(path) > 0 {
		top = path[0]
	}
	if r.skip[top] {
		return graph.Result{}, "", false
	}
	res, _, ok := r.rec.Recorded(path, nodeID, activation)
	return res, recorder.SourceReplay, ok
}

// Recomputes implements graph.Recomputed: the nodes to recompute run
// again even where the node-output cache holds their result.
func (r *replayed) Recomputes(path []string, nodeID string) bool {
	top := nodeID
	if len(path) > 0 {
		top = path[0]
	}
	return r.skip[top]
}
