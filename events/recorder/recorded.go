package recorder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/graph"
)

// NodePorts tells a Recording what a run's log does not hold about a
// node: the names of its trigger outputs (the log keeps the ones that
// fired; the runner wants the ones that did not) and whether a recorded
// result may stand in for running it. Output and Trigger Out nodes, whose
// effect is on the run rather than in their outputs, must run again.
type NodePorts func(path []string, nodeID, nodeType string) (triggerOutputs []string, replay bool)

// ProgramPorts answers NodePorts from the compiled spell and its catalog.
// Nodes of sub-spells (a non-empty path) are looked up by type alone, so
// those of types whose ports are declared per node run again.
func ProgramPorts(prog *graph.Program, cat graph.Catalog) NodePorts {
	return func(path []string, nodeID, nodeType string) ([]string, bool) {
		var n *graph.Node
		if len(path) == 0 && prog != nil {
			n = prog.Spell.Node(nodeID)
		}
		name := nodeType
		if n != nil {
			name = n.Type
		}
		t, ok := cat.Lookup(name)
		if !ok || t.Role == graph.RoleOutput || t.Role == graph.RoleTriggerOut {
			return nil, false
		}
		if n == nil {
			if t.DynamicPorts {
				return nil, false
			}
			n = &graph.Node{ID: nodeID, Type: name}
		}
		var out []string
		for _, p := range t.OutputPorts(n) {
			if p.Kind == graph.Trigger {
				out = append(out, p.Name)
			}
		}
		return out, true
	}
}

// Recording is what a run's stream says happened so far. It implements
// graph.Recorded: activations that completed (NodeCompleted, or
// NodeCacheHit from an earlier resume or a cache) are replayed with source
// "resume" instead of executed.
type Recording struct {
	RunID string
	// Requested is the run's RunRequested event and RequestedMetadata its
	// metadata.
	Requested         events.RunRequested
	RequestedMetadata json.RawMessage
	// LastSeq is the Seq of the stream's last event (its revision + 1).
	LastSeq uint64
	// Terminal is the type of the event that ended the run (RunCompleted,
	// RunFailed, RunCancelled), "" while it is unfinished.
	Terminal string
	// Usage totals the usage of the activations recorded as completed; nil
	// when none reported any.
	Usage *events.Usage
	// Resumes counts RunResumed events.
	Resumes int
	// Paused: the run's last word is RunPaused (it waits for answers and
	// holds nothing); an answer or a resume since clears it.
	Paused bool

	ports    NodePorts
	results  map[string]recordedResult
	pending  []events.RunWaiting // questions not answered yet, in stream order
	answered map[string]bool     // node ids of answered questions
}

type recordedResult struct {
	outputs  map[string]any
	fired    []string
	nodeType string
}

// ErrNotARun is returned by Recorded for a stream that does not start with
// RunRequested.
var ErrNotARun = errors.New("stream does not start with RunRequested")

// Recorded reads run runID's stream. ports must be given (see
// ProgramPorts); it returns the recording and the stream's last Seq.
func Recorded(ctx context.Context, store events.Store, runID string, ports NodePorts) (*Recording, uint64, error) {
	if ports == nil {
		return nil, 0, errors.New("recorded run: NodePorts is required (use ProgramPorts)")
	}
	stream := events.RunStream(runID)
	rec := &Recording{RunID: runID, ports: ports, results: map[string]recordedResult{}}
	const page = 1024
	for from := uint64(0); ; {
		evs, err := store.ReadStream(ctx, stream, from, events.Forwards, page)
		if err != nil {
			return nil, 0, fmt.Errorf("read run %s: %w", runID, err)
		}
		for _, e := range evs {
			if err := rec.apply(e); err != nil {
				return nil, 0, err
			}
		}
		if len(evs) < page {
			break
		}
		from = evs[len(evs)-1].Revision + 1
	}
	return rec, rec.LastSeq, nil
}

func (r *Recording) apply(e events.RecordedEvent) error {
	if e.Revision == 0 && e.Type != events.TypeRunRequested {
		return fmt.Errorf("read run %s: %w (first event is %s)", r.RunID, ErrNotARun, e.Type)
	}
	r.LastSeq = e.Revision + 1
	switch e.Type {
	case events.TypeRunRequested, events.TypeNodeCompleted, events.TypeNodeCacheHit,
		events.TypeRunCompleted, events.TypeRunFailed, events.TypeRunCancelled, events.TypeRunResumed,
		events.TypeRunWaiting, events.TypeRunAnswered, events.TypeRunPaused:
	default:
		return nil
	}
	v, err := events.Decode(e)
	if err != nil {
		return fmt.Errorf("read run %s: %w", r.RunID, err)
	}
	switch p := v.(type) {
	case events.RunRequested:
		r.Requested = p
		r.RequestedMetadata = e.Metadata
	case events.RunResumed:
		r.Resumes++
		r.Paused = false
	case events.RunWaiting:
		if _, answered := r.results[activationKey(p.NodeRef)]; !answered && r.waitIndex(p.NodeRef) < 0 {
			r.pending = append(r.pending, p)
		}
	case events.RunAnswered:
		if i := r.waitIndex(p.NodeRef); i >= 0 {
			r.pending = slices.Delete(r.pending, i, i+1)
		}
		fired := []string{AnsweredTrigger}
		if p.TimedOut {
			fired = []string{TimedOutTrigger}
		}
		r.keep(p.NodeRef, map[string]any{AnswerOutput: p.Value}, fired)
		if r.answered == nil {
			r.answered = map[string]bool{}
		}
		r.answered[p.NodeID] = true
		r.Paused = false
	case events.RunPaused:
		r.Paused = true
	case events.NodeCompleted:
		if p.Usage != nil {
			if r.Usage == nil {
				r.Usage = &events.Usage{}
			}
			addUsage(r.Usage, *p.Usage)
		}
		r.keep(p.NodeRef, p.Outputs, p.Fired)
	case events.NodeCacheHit:
		r.keep(p.NodeRef, p.Outputs, p.Fired)
	case events.RunCompleted, events.RunFailed, events.RunCancelled:
		r.Terminal = e.Type
	}
	if h, ok := events.Header(v); ok && h.Seq != 0 && h.Seq != e.Revision+1 {
		return fmt.Errorf("read run %s: event at revision %d has seq %d, want %d (the stream was not written by a run recorder)", r.RunID, e.Revision, h.Seq, e.Revision+1)
	}
	return nil
}

func (r *Recording) keep(ref events.NodeRef, outputs map[string]any, fired []string) {
	if _, bad := outputs[unrecordable]; bad {
		return
	}
	k := activationKey(ref)
	if _, seen := r.results[k]; seen {
		return
	}
	r.results[k] = recordedResult{outputs: outputs, fired: fired, nodeType: ref.NodeType}
}

// The ports of a waiting node (the Ask node type) that a RunAnswered fills.
const (
	AnswerOutput    = "answer"
	AnsweredTrigger = "trigger"
	TimedOutTrigger = "timeout"
)

func (r *Recording) waitIndex(ref events.NodeRef) int {
	k := activationKey(ref)
	return slices.IndexFunc(r.pending, func(w events.RunWaiting) bool { return activationKey(w.NodeRef) == k })
}

// Pending lists the questions the run waits on, oldest first.
func (r *Recording) Pending() []events.RunWaiting { return slices.Clone(r.pending) }

// Answered reports whether a question at nodeID was answered (or timed out).
func (r *Recording) Answered(nodeID string) bool { return r.answered[nodeID] }

// Waits implements graph.Waits: the activation asked and has no answer yet.
func (r *Recording) Waits(path []string, nodeID string, activation int) bool {
	return r.waitIndex(events.NodeRef{Path: path, NodeID: nodeID, Activation: activation}) >= 0
}

// Completed is how many activations the recording can replay.
func (r *Recording) Completed() int { return len(r.results) }

// Recorded implements graph.Recorded.
func (r *Recording) Recorded(path []string, nodeID string, activation int) (graph.Result, string, bool) {
	res, ok := r.results[activationKey(events.NodeRef{Path: path, NodeID: nodeID, Activation: activation})]
	if !ok {
		return graph.Result{}, "", false
	}
	triggers, replay := r.ports(path, nodeID, res.nodeType)
	if !replay {
		return graph.Result{}, "", false
	}
	var closed []string
	for _, t := range triggers {
		if !slices.Contains(res.fired, t) {
			closed = append(closed, t)
		}
	}
	return graph.Result{Outputs: res.outputs, Closed: closed}, SourceResume, true
}

func addUsage(dst *events.Usage, u events.Usage) {
	if dst.Model == "" {
		dst.Model = u.Model
	}
	dst.PromptTokens += u.PromptTokens
	dst.CompletionTokens += u.CompletionTokens
	dst.TotalTokens += u.TotalTokens
	dst.Calls += u.Calls
}

var (
	_ graph.Recorded = (*Recording)(nil)
	_ graph.Waits    = (*Recording)(nil)
)
