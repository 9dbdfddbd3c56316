package history

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/grimoire-run/grimoire/events"
)

// Step is one node activation of a run, as its events tell it.
type Step struct {
	NodeID     string   `json:"nodeId"`
	NodeType   string   `json:"nodeType,omitempty"`
	Activation int      `json:"activation"`
	Path       []string `json:"path,omitempty"`
	// Status is started (no end recorded), completed, failed, skipped or
	// cached (a NodeCacheHit: from the cache, a resume or a replay, see
	// Source).
	Status string `json:"status"`
	Source string `json:"source,omitempty"`
	// Start is the activation's start relative to the run's request.
	Start    time.Duration    `json:"startNs"`
	Duration time.Duration    `json:"durationNs"`
	Chunks   int              `json:"chunks,omitempty"`
	Outputs  map[string]any   `json:"outputs,omitempty"`
	Fired    []string         `json:"fired,omitempty"`
	Error    string           `json:"error,omitempty"`
	Reason   string           `json:"reason,omitempty"`
	Usage    *events.Usage    `json:"usage,omitempty"`
	Inputs   map[string][]any `json:"inputs,omitempty"`
	// Seq is the Seq of the activation's first event.
	Seq uint64 `json:"seq"`
}

// Timeline is a run's history folded per activation.
type Timeline struct {
	RunID       string         `json:"runId"`
	SpellID     string         `json:"spellId"`
	SpellHash   string         `json:"spellHash"`
	User        string         `json:"user,omitempty"`
	Source      string         `json:"source,omitempty"`
	ParentRunID string         `json:"parentRunId,omitempty"`
	Inputs      map[string]any `json:"inputs,omitempty"`
	// Status is requested, running, completed, failed or cancelled.
	Status   string         `json:"status"`
	Started  time.Time      `json:"started"`
	Duration time.Duration  `json:"durationNs,omitempty"`
	Error    string         `json:"error,omitempty"`
	Outputs  map[string]any `json:"outputs,omitempty"`
	Usage    *events.Usage  `json:"usage,omitempty"`
	Resumes  int            `json:"resumes,omitempty"`
	Steps    []Step         `json:"steps"`
	// Events is how many events the run's stream holds.
	Events int `json:"events"`
}

// ErrNotFound: the run has no stream.
var ErrNotFound = errors.New("run not found")

// ReadRun returns every event of run runID, in order.
func ReadRun(ctx context.Context, store events.Store, runID string) ([]events.RecordedEvent, error) {
	var out []events.RecordedEvent
	const page = 1024
	for from := uint64(0); ; {
		evs, err := store.ReadStream(ctx, events.RunStream(runID), from, events.Forwards, page)
		if errors.Is(err, events.ErrStreamNotFound) {
			return nil, fmt.Errorf("run %s: %w", runID, ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("read run %s: %w", runID, err)
		}
		out = append(out, evs...)
		if len(evs) < page {
			return out, nil
		}
		from = evs[len(evs)-1].Revision + 1
	}
}

func stepKey(ref events.NodeRef) string {
	return strings.Join(ref.Path, "/") + "\x00" + ref.NodeID + "\x00" + fmt.Sprint(ref.Activation)
}

// LoadTimeline reads a run's stream and folds it into a Timeline.
func LoadTimeline(ctx context.Context, store events.Store, runID string) (*Timeline, error) {
	evs, err := ReadRun(ctx, store, runID)
	if err != nil {
		return nil, err
	}
	return Fold(runID, evs)
}

// Fold builds a Timeline from a run's events.
func Fold(runID string, evs []events.RecordedEvent) (*Timeline, error) {
	tl := &Timeline{RunID: runID, Status: "requested", Events: len(evs)}
	index := map[string]int{}
	step := func(ref events.NodeRef, seq uint64, at time.Time) *Step {
		k := stepKey(ref)
		i, ok := index[k]
		if !ok {
			i = len(tl.Steps)
			index[k] = i
			st := Step{NodeID: ref.NodeID, NodeType: ref.NodeType, Activation: ref.Activation, Path: ref.Path, Seq: seq}
			if !at.IsZero() && !tl.Started.IsZero() {
				st.Start = at.Sub(tl.Started)
			}
			tl.Steps = append(tl.Steps, st)
		}
		return &tl.Steps[i]
	}
	running := func() {
		if tl.Status == "requested" {
			tl.Status = "running"
		}
	}
	for _, e := range evs {
		v, err := events.Decode(e)
		if err != nil {
			// A type this version does not know: keep going.
			continue
		}
		switch p := v.(type) {
		case events.RunRequested:
			tl.SpellID, tl.SpellHash, tl.User, tl.Source, tl.ParentRunID, tl.Inputs = p.SpellID, p.SpellHash, p.User, p.Source, p.ParentRunID, p.Inputs
			tl.Started = p.Time
			if tl.Started.IsZero() {
				tl.Started = e.Time
			}
		case events.RunResumed:
			tl.Resumes++
			running()
		case events.NodeStarted:
			s := step(p.NodeRef, p.Seq, p.Time)
			s.Status, s.Inputs = "started", p.Inputs
			running()
		case events.NodeOutputChunk:
			step(p.NodeRef, p.Seq, p.Time).Chunks++
		case events.NodeCompleted:
			s := step(p.NodeRef, p.Seq, p.Time.Add(-p.Duration))
			s.Status, s.Outputs, s.Fired, s.Duration, s.Usage = "completed", p.Outputs, p.Fired, p.Duration, p.Usage
			if s.NodeType == "" {
				s.NodeType = p.NodeType
			}
		case events.NodeFailed:
			s := step(p.NodeRef, p.Seq, p.Time.Add(-p.Duration))
			s.Status, s.Error, s.Duration = "failed", p.Error, p.Duration
		case events.NodeSkipped:
			s := step(p.NodeRef, p.Seq, p.Time)
			s.Status, s.Reason = "skipped", p.Reason
		case events.NodeCacheHit:
			s := step(p.NodeRef, p.Seq, p.Time)
			s.Status, s.Source, s.Outputs, s.Fired = "cached", p.Source, p.Outputs, p.Fired
			running()
		case events.RunCompleted:
			tl.Status, tl.Outputs, tl.Duration, tl.Usage = "completed", p.Outputs, p.Duration, p.Usage
		case events.RunFailed:
			tl.Status, tl.Error, tl.Duration = "failed", p.Error, p.Duration
		case events.RunCancelled:
			tl.Status, tl.Error, tl.Duration = "cancelled", p.Reason, p.Duration
		}
	}
	if len(evs) > 0 && evs[0].Type != events.TypeRunRequested {
		return nil, fmt.Errorf("run %s: stream starts with %s, not RunRequested", runID, evs[0].Type)
	}
	slices.SortStableFunc(tl.Steps, func(a, b Step) int {
		return cmp.Or(cmp.Compare(a.Start, b.Start), cmp.Compare(a.Seq, b.Seq))
	})
	return tl, nil
}

// Cut renders v as compact JSON cut to width runes ("…" marks a cut);
// width <= 0 keeps it whole.
func Cut(v any, width int) string {
	var s string
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		s = x
	default:
		b, err := json.Marshal(x)
		if err != nil {
			s = fmt.Sprint(x)
		} else {
			s = string(b)
		}
	}
	s = strings.Join(strings.Fields(s), " ")
	if width <= 0 {
		return s
	}
	r := []rune(s)
	if len(r) <= width {
		return s
	}
	if width == 1 {
		return "…"
	}
	return string(r[:width-1]) + "…"
}
