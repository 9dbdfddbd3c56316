// Package runs is the runs read model: one row per run (spell, user,
// status, times, error, node counts, usage), listed with filters and
// pagination for GET /v1/runs and the CLI, and asked for the unfinished
// runs at startup so they can be resumed.
//
// The model lives in memory and is rebuilt from the log; with a data
// directory it also keeps a snapshot file (runs.snapshot.json, with its
// checkpoint) so that a restart replays only what came after it. Replaying
// the log into it runs at a few hundred thousand events a second (see
// BenchmarkRebuild).
//
// It imports events, projections and projections/internal; it must not import server, graph or a
// store implementation.
package runs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/projections"
	"github.com/grimoire-run/grimoire/projections/internal/jsonscan"
	"github.com/grimoire-run/grimoire/projections/internal/snapfile"
)

// Run statuses.
const (
	StatusRequested = "requested"
	StatusRunning   = "running"
	StatusCompleted = "completed"
	StatusFailed    = "failed"
	StatusCancelled = "cancelled"
	// StatusWaiting: the run waits for answers (RunPaused) and holds
	// nothing; an answer resumes it.
	StatusWaiting = "waiting"
)

// NodeCounts counts a run's node events.
type NodeCounts struct {
	Started   int `json:"started"`
	Completed int `json:"completed"`
	Failed    int `json:"failed"`
	Skipped   int `json:"skipped"`
	CacheHits int `json:"cacheHits"`
	Chunks    int `json:"chunks"`
}

// Run is one row of the read model.
type Run struct {
	RunID         string `json:"runId"`
	SpellID       string `json:"spellId"`
	SpellHash     string `json:"spellHash"`
	User          string `json:"user,omitempty"`
	Source        string `json:"source,omitempty"`
	CorrelationID string `json:"correlationId,omitempty"`
	ParentRunID   string `json:"parentRunId,omitempty"`
	Status        string `json:"status"`
	// Started is when the run was requested; Finished when it ended (zero
	// while it runs).
	Started  time.Time     `json:"started"`
	Finished time.Time     `json:"finished,omitzero"`
	Duration time.Duration `json:"durationNs,omitempty"`
	Error    string        `json:"error,omitempty"`
	// ErrorNode is the node whose failure ended the run.
	ErrorNode    string       `json:"errorNode,omitempty"`
	CancelReason string       `json:"cancelReason,omitempty"`
	Nodes        NodeCounts   `json:"nodes"`
	Usage        events.Usage `json:"usage"`
	Resumes      int          `json:"resumes,omitempty"`
	// LastSeq is the Seq of the last event of the run applied.
	LastSeq uint64 `json:"lastSeq"`
}

// Finished reports whether the status is terminal.
func Finished(status string) bool {
	return status == StatusCompleted || status == StatusFailed || status == StatusCancelled
}

// Options configures a Model.
type Options struct {
	// Dir keeps the snapshot file; "" keeps the model in memory only
	// (rebuilt from the whole log at every start).
	Dir string
	// SnapshotEvery is how often, at most, the snapshot is rewritten while
	// events arrive (default 10 seconds). Close writes a last one.
	SnapshotEvery time.Duration
}

// Model is the runs read model; it implements projections.Projection.
type Model struct {
	opts Options

	snap  snapfile.Keeper // lock, checkpoint and snapshot file
	runs  map[string]*Run
	order []*Run // by (Started, RunID)
}

var _ projections.Projection = (*Model)(nil)

const snapshotFile = "runs.snapshot.json"

type snapshot struct {
	snapfile.Header
	Runs []*Run `json:"runs"`
}

// Open loads the model's snapshot from opts.Dir, if there is one.
func Open(opts Options) (*Model, error) {
	if opts.SnapshotEvery <= 0 {
		opts.SnapshotEvery = 10 * time.Second
	}
	m := &Model{opts: opts, runs: map[string]*Run{}}
	var s snapshot
	err := m.snap.Open(snapfile.Options{Name: m.Name(), Dir: opts.Dir, File: snapshotFile, Every: opts.SnapshotEvery,
		Take: func() snapfile.Snapshot { return &snapshot{Runs: m.order} }}, &s, func() {
		for _, r := range s.Runs {
			m.runs[r.RunID] = r
			m.order = append(m.order, r)
		}
		slices.SortFunc(m.order, compareRuns)
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

func compareRuns(a, b *Run) int {
	if c := a.Started.Compare(b.Started); c != 0 {
		return c
	}
	return strings.Compare(a.RunID, b.RunID)
}

// Name implements projections.Projection.
func (m *Model) Name() string { return "runs" }

// Filter implements projections.Projection: run streams only.
func (m *Model) Filter() events.SubscribeOptions {
	return events.SubscribeOptions{StreamPrefixes: []string{events.RunStreamPrefix}}
}

// Checkpoint implements projections.Projection.
func (m *Model) Checkpoint(context.Context) (uint64, error) { return m.snap.Checkpoint(), nil }

// Reset implements projections.Projection.
func (m *Model) Reset(context.Context) error {
	return m.snap.Reset(func() { m.runs, m.order = map[string]*Run{}, nil })
}

// Fields decoded from run events: only what the model keeps, so that
// outputs and inputs are scanned but never built.
type header struct {
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
}

type requested struct {
	header
	SpellID       string `json:"spellId"`
	SpellHash     string `json:"spellHash"`
	CorrelationID string `json:"correlationId"`
	User          string `json:"user"`
	Source        string `json:"source"`
	ParentRunID   string `json:"parentRunId"`
}

type ended struct {
	header
	Usage    *events.Usage `json:"usage"`
	Error    string        `json:"error"`
	NodeID   string        `json:"nodeId"`
	Reason   string        `json:"reason"`
	Duration time.Duration `json:"durationNs"`
}

type completedNode struct {
	Usage *events.Usage `json:"usage"`
}

// Handle implements projections.Projection.
func (m *Model) Handle(_ context.Context, e events.RecordedEvent) error {
	runID, ok := strings.CutPrefix(e.Stream, events.RunStreamPrefix)
	if !ok {
		return nil
	}
	m.snap.Lock()
	defer m.snap.Unlock()
	// No test against the checkpoint here: each run's events carry their
	// sequence (revision), and apply ignores one it has seen, which covers
	// an event at or before the checkpoint and a log replayed twice.
	if err := m.apply(runID, e); err != nil {
		return err
	}
	return m.snap.Applied(e.Position)
}

func (m *Model) apply(runID string, e events.RecordedEvent) error {
	r := m.runs[runID]
	seq := e.Revision + 1
	if r != nil && seq <= r.LastSeq {
		return nil // seen before
	}
	if e.Type == events.TypeRunRequested {
		var p requested
		if err := json.Unmarshal(e.Data, &p); err != nil {
			return fmt.Errorf("decode %s of run %s: %w", e.Type, runID, err)
		}
		if r != nil {
			return nil
		}
		r = &Run{
			RunID: runID, SpellID: p.SpellID, SpellHash: p.SpellHash, User: p.User, Source: p.Source,
			CorrelationID: p.CorrelationID, ParentRunID: p.ParentRunID, Status: StatusRequested,
			Started: p.Time, LastSeq: seq,
		}
		if r.Started.IsZero() {
			r.Started = e.Time
		}
		m.runs[runID] = r
		m.insert(r)
		return nil
	}
	if r == nil {
		return nil // a stream that did not start with RunRequested: not a run we can list
	}
	r.LastSeq = seq
	running := func() {
		if !Finished(r.Status) {
			r.Status = StatusRunning
		}
	}
	switch e.Type {
	case events.TypeNodeStarted:
		r.Nodes.Started++
		running()
	case events.TypeNodeOutputChunk:
		r.Nodes.Chunks++
	case events.TypeNodeCompleted:
		r.Nodes.Completed++
		running()
		// Most completions carry no usage: skip decoding those.
		if bytes.Contains(e.Data, usageKey) {
			var p completedNode
			if raw, ok := jsonscan.LastObject(e.Data, usageField); ok {
				if u, ok := jsonscan.Usage(raw); ok {
					p.Usage = &u
				}
			}
			if p.Usage == nil {
				if err := json.Unmarshal(e.Data, &p); err != nil {
					return fmt.Errorf("decode %s of run %s: %w", e.Type, runID, err)
				}
			}
			if p.Usage != nil {
				addUsage(&r.Usage, *p.Usage)
			}
		}
	case events.TypeNodeFailed:
		r.Nodes.Failed++
	case events.TypeNodeSkipped:
		r.Nodes.Skipped++
	case events.TypeNodeCacheHit:
		r.Nodes.CacheHits++
		running()
	case events.TypeRunResumed:
		r.Resumes++
		running()
	case events.TypeRunPaused:
		if !Finished(r.Status) {
			r.Status = StatusWaiting
		}
	case events.TypeRunCompleted, events.TypeRunFailed, events.TypeRunCancelled:
		var p ended
		if err := json.Unmarshal(e.Data, &p); err != nil {
			return fmt.Errorf("decode %s of run %s: %w", e.Type, runID, err)
		}
		r.Finished = p.Time
		if r.Finished.IsZero() {
			r.Finished = e.Time
		}
		r.Duration = p.Duration
		switch e.Type {
		case events.TypeRunCompleted:
			r.Status = StatusCompleted
		case events.TypeRunFailed:
			r.Status, r.Error, r.ErrorNode = StatusFailed, p.Error, p.NodeID
		case events.TypeRunCancelled:
			r.Status, r.CancelReason = StatusCancelled, p.Reason
		}
	}
	return nil
}

var (
	usageKey   = []byte(`"usage"`)
	usageField = []byte(`,"usage":{`)
)

func addUsage(dst *events.Usage, u events.Usage) {
	if dst.Model == "" {
		dst.Model = u.Model
	}
	dst.PromptTokens += u.PromptTokens
	dst.CompletionTokens += u.CompletionTokens
	dst.TotalTokens += u.TotalTokens
	dst.Calls += u.Calls
}

// insert keeps order sorted; runs mostly arrive in time order, so this is
// usually an append.
func (m *Model) insert(r *Run) {
	n := len(m.order)
	if n == 0 || compareRuns(m.order[n-1], r) < 0 {
		m.order = append(m.order, r)
		return
	}
	i, _ := slices.BinarySearchFunc(m.order, r, compareRuns)
	m.order = slices.Insert(m.order, i, r)
}

// Get returns a copy of one run.
func (m *Model) Get(runID string) (Run, bool) {
	m.snap.RLock()
	defer m.snap.RUnlock()
	r, ok := m.runs[runID]
	if !ok {
		return Run{}, false
	}
	return *r, true
}

// Filter selects runs for List. Zero fields match everything.
type Filter struct {
	SpellID string
	User    string
	// Status is one of the Status constants; "unfinished" matches
	// requested, running and waiting.
	Status string
	// Since and Until bound Started: Since <= Started < Until.
	Since, Until time.Time
	// Limit is the page size (default 50, at most 1000).
	Limit int
	// Cursor continues a listing where the previous page's Next left off.
	Cursor string
}

// Page is one page of List.
type Page struct {
	Runs []Run `json:"runs"`
	// Next is the Cursor of the next page, "" on the last one.
	Next string `json:"next,omitempty"`
}

// ErrBadCursor is returned by List for a cursor it did not make.
var ErrBadCursor = errors.New("bad cursor")

// List returns the runs that match f, newest first.
func (m *Model) List(f Filter) (Page, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 1000)
	m.snap.RLock()
	defer m.snap.RUnlock()

	end := len(m.order) // exclusive upper bound of the scan
	if f.Cursor != "" {
		at, id, ok := parseCursor(f.Cursor)
		if !ok {
			return Page{}, fmt.Errorf("list runs: %w %q (pass the Next of the previous page)", ErrBadCursor, f.Cursor)
		}
		end, _ = slices.BinarySearchFunc(m.order, &Run{Started: at, RunID: id}, compareRuns)
	}
	if !f.Until.IsZero() {
		i, _ := slices.BinarySearchFunc(m.order, f.Until, func(r *Run, t time.Time) int { return r.Started.Compare(t) })
		end = min(end, i)
	}
	var page Page
	for i := end - 1; i >= 0; i-- {
		r := m.order[i]
		if !f.Since.IsZero() && r.Started.Before(f.Since) {
			break
		}
		if !f.matches(r) {
			continue
		}
		if len(page.Runs) == limit {
			last := page.Runs[len(page.Runs)-1]
			page.Next = makeCursor(last.Started, last.RunID)
			break
		}
		page.Runs = append(page.Runs, *r)
	}
	return page, nil
}

func (f Filter) matches(r *Run) bool {
	if f.SpellID != "" && r.SpellID != f.SpellID {
		return false
	}
	if f.User != "" && r.User != f.User {
		return false
	}
	switch f.Status {
	case "":
	case "unfinished":
		return !Finished(r.Status)
	default:
		return r.Status == f.Status
	}
	return true
}

func makeCursor(t time.Time, id string) string {
	return strconv.FormatInt(t.UnixNano(), 36) + "." + id
}

func parseCursor(c string) (time.Time, string, bool) {
	ts, id, ok := strings.Cut(c, ".")
	if !ok || id == "" {
		return time.Time{}, "", false
	}
	n, err := strconv.ParseInt(ts, 36, 64)
	if err != nil {
		return time.Time{}, "", false
	}
	return time.Unix(0, n), id, true
}

// Unfinished lists the runs that have no terminal event, oldest first (for
// runs.Executor's Options.Unfinished, once the model has caught up).
func (m *Model) Unfinished(context.Context) ([]string, error) {
	m.snap.RLock()
	defer m.snap.RUnlock()
	var ids []string
	for _, r := range m.order {
		if !Finished(r.Status) {
			ids = append(ids, r.RunID)
		}
	}
	return ids, nil
}

// Running lists the unfinished runs that are not waiting for answers,
// oldest first: those a process must be executing (for a takeover scan,
// which leaves waiting runs to their answers).
func (m *Model) Running(context.Context) ([]string, error) {
	m.snap.RLock()
	defer m.snap.RUnlock()
	var ids []string
	for _, r := range m.order {
		if !Finished(r.Status) && r.Status != StatusWaiting {
			ids = append(ids, r.RunID)
		}
	}
	return ids, nil
}

// Len is the number of runs in the model.
func (m *Model) Len() int {
	m.snap.RLock()
	defer m.snap.RUnlock()
	return len(m.runs)
}

// Save writes the snapshot now (no-op without a Dir).
func (m *Model) Save() error { return m.snap.Save() }

// Close writes a last snapshot.
func (m *Model) Close() error { return m.Save() }
