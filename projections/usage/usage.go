// Package usage is the usage read model: tokens, calls and cost per user,
// spell, model and day, summed from the usage that NodeCompleted events
// carry (the user comes from the run's RunRequested). Costs are computed
// when asked, from a price table, so a price change needs no rebuild.
//
// The model is a few aggregate cells kept in memory (one per day, user,
// spell and model), rebuilt from the log and, with a data directory,
// snapshotted with its checkpoint so a restart replays only what came
// after (see docs/benchmarks.md for the rebuild speed).
//
// It imports events, projections and projections/internal; it must not
// import server, graph or a store implementation.
package usage

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/projections"
	"github.com/grimoire-run/grimoire/projections/internal/jsonscan"
	"github.com/grimoire-run/grimoire/projections/internal/snapfile"
)

// Price is what a model costs, in US dollars per million tokens.
type Price struct {
	PromptPerMTok     float64 `json:"promptPerMTok"`
	CompletionPerMTok float64 `json:"completionPerMTok"`
}

// Options configures a Model.
type Options struct {
	// Dir keeps the snapshot (usage.snapshot.json); "" keeps nothing.
	Dir string
	// SnapshotEvery is the least time between snapshots (default 10s).
	SnapshotEvery time.Duration
	// Prices by model name; a model without a price costs 0 (and is listed
	// in Report.Unpriced).
	Prices map[string]Price
}

// LoadPrices reads a price table: a JSON object by model name, each
// {"promptPerMTok": 2.5, "completionPerMTok": 10} (US dollars per million
// tokens).
func LoadPrices(path string) (map[string]Price, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read prices: %w", err)
	}
	var p map[string]Price
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("read prices %s: %w", path, err)
	}
	return p, nil
}

// cell is the aggregate of one (day, user, spell, model).
type cell struct {
	Day     string `json:"day"` // YYYY-MM-DD, UTC
	User    string `json:"user,omitempty"`
	SpellID string `json:"spellId,omitempty"`
	Model   string `json:"model,omitempty"`
	Totals
}

// Totals are summed usage.
type Totals struct {
	Calls            int64 `json:"calls"`
	PromptTokens     int64 `json:"promptTokens"`
	CompletionTokens int64 `json:"completionTokens"`
	TotalTokens      int64 `json:"totalTokens"`
	// Nodes counts the node completions that reported usage.
	Nodes int64 `json:"nodes"`
}

func (t *Totals) add(o Totals) {
	t.Calls += o.Calls
	t.PromptTokens += o.PromptTokens
	t.CompletionTokens += o.CompletionTokens
	t.TotalTokens += o.TotalTokens
	t.Nodes += o.Nodes
}

type cellKey struct{ day, user, spell, model string }

type runInfo struct {
	User    string `json:"user,omitempty"`
	SpellID string `json:"spellId,omitempty"`
}

// Model is the usage read model; it implements projections.Projection.
type Model struct {
	opts Options

	snap  snapfile.Keeper // lock, checkpoint and snapshot file
	cells map[cellKey]*cell
	open  map[string]runInfo // runs without a terminal event
}

var _ projections.Projection = (*Model)(nil)

const snapshotFile = "usage.snapshot.json"

type snapshot struct {
	snapfile.Header
	Cells []*cell            `json:"cells"`
	Open  map[string]runInfo `json:"open"`
}

// Open returns a model, loaded from its snapshot in opts.Dir if any.
func Open(opts Options) (*Model, error) {
	if opts.SnapshotEvery <= 0 {
		opts.SnapshotEvery = 10 * time.Second
	}
	m := &Model{opts: opts, cells: map[cellKey]*cell{}, open: map[string]runInfo{}}
	var s snapshot
	err := m.snap.Open(snapfile.Options{Name: m.Name(), Dir: opts.Dir, File: snapshotFile, Every: opts.SnapshotEvery,
		Take: m.snapshotLocked}, &s, func() {
		for _, c := range s.Cells {
			m.cells[cellKey{c.Day, c.User, c.SpellID, c.Model}] = c
		}
		if s.Open != nil {
			m.open = s.Open
		}
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Name implements projections.Projection.
func (m *Model) Name() string { return "usage" }

// Filter implements projections.Projection: the run events that matter.
func (m *Model) Filter() events.SubscribeOptions {
	return events.SubscribeOptions{
		StreamPrefixes: []string{events.RunStreamPrefix},
		EventTypes: []string{events.TypeRunRequested, events.TypeNodeCompleted,
			events.TypeRunCompleted, events.TypeRunFailed, events.TypeRunCancelled},
	}
}

// Checkpoint implements projections.Projection.
func (m *Model) Checkpoint(context.Context) (uint64, error) { return m.snap.Checkpoint(), nil }

// Reset implements projections.Projection.
func (m *Model) Reset(context.Context) error {
	return m.snap.Reset(func() { m.cells, m.open = map[cellKey]*cell{}, map[string]runInfo{} })
}

type requested struct {
	SpellID string `json:"spellId"`
	User    string `json:"user"`
}

type completed struct {
	SpellID string        `json:"spellId"`
	Time    time.Time     `json:"time"`
	Usage   *events.Usage `json:"usage"`
}

var (
	usageKey     = []byte(`"usage"`)
	usageField   = []byte(`,"usage":{`)
	spellIDField = []byte(`"spellId":"`)
	timeField    = []byte(`"time":"`)
)

// decodeCompleted reads the spell, time and usage of a NodeCompleted,
// scanning for them rather than decoding its outputs (see
// BenchmarkRebuild); it decodes the whole event when the scan is unsure.
func decodeCompleted(data []byte) (completed, error) {
	var p completed
	if raw, ok := jsonscan.LastObject(data, usageField); ok {
		spell, ok1 := jsonscan.String(data, spellIDField)
		at, ok2 := jsonscan.String(data, timeField)
		if ok1 && ok2 {
			t, err := time.Parse(time.RFC3339Nano, at)
			u, uok := jsonscan.Usage(raw)
			if err == nil && uok {
				p.SpellID, p.Time, p.Usage = spell, t, &u
				return p, nil
			}
		}
	}
	err := json.Unmarshal(data, &p)
	return p, err
}

// Handle implements projections.Projection.
func (m *Model) Handle(_ context.Context, e events.RecordedEvent) error {
	runID, ok := strings.CutPrefix(e.Stream, events.RunStreamPrefix)
	m.snap.Lock()
	defer m.snap.Unlock()
	if m.snap.Seen(e.Position) {
		return nil
	}
	if ok {
		if err := m.apply(runID, e); err != nil {
			return err
		}
	}
	return m.snap.Applied(e.Position)
}

func (m *Model) apply(runID string, e events.RecordedEvent) error {
	switch e.Type {
	case events.TypeRunRequested:
		var p requested
		if err := json.Unmarshal(e.Data, &p); err != nil {
			return fmt.Errorf("usage: decode %s of run %s: %w", e.Type, runID, err)
		}
		m.open[runID] = runInfo{User: p.User, SpellID: p.SpellID}
	case events.TypeNodeCompleted:
		if !bytes.Contains(e.Data, usageKey) {
			return nil
		}
		p, err := decodeCompleted(e.Data)
		if err != nil {
			return fmt.Errorf("usage: decode %s of run %s: %w", e.Type, runID, err)
		}
		if p.Usage == nil {
			return nil
		}
		info, known := m.open[runID]
		if !known {
			info.SpellID = p.SpellID
		}
		at := p.Time
		if at.IsZero() {
			at = e.Time
		}
		k := cellKey{day: at.UTC().Format(time.DateOnly), user: info.User, spell: info.SpellID, model: p.Usage.Model}
		c := m.cells[k]
		if c == nil {
			c = &cell{Day: k.day, User: k.user, SpellID: k.spell, Model: k.model}
			m.cells[k] = c
		}
		c.add(Totals{Calls: int64(p.Usage.Calls), PromptTokens: int64(p.Usage.PromptTokens),
			CompletionTokens: int64(p.Usage.CompletionTokens), TotalTokens: int64(p.Usage.TotalTokens), Nodes: 1})
	case events.TypeRunCompleted, events.TypeRunFailed, events.TypeRunCancelled:
		delete(m.open, runID)
	}
	return nil
}

// Dimensions a Report can group by.
const (
	ByUser  = "user"
	BySpell = "spell"
	ByModel = "model"
	ByDay   = "day"
)

// Query selects and groups usage. Zero fields match everything.
type Query struct {
	User, SpellID, Model string
	// Since and Until bound the day (UTC) of the usage: Since <= day < Until.
	Since, Until time.Time
	// GroupBy lists dimensions (ByUser, BySpell, ByModel, ByDay); none
	// gives one row with the totals.
	GroupBy []string
}

// Row is one group of a Report.
type Row struct {
	User    string `json:"user,omitempty"`
	SpellID string `json:"spellId,omitempty"`
	Model   string `json:"model,omitempty"`
	Day     string `json:"day,omitempty"`
	Totals
	CostUSD float64 `json:"costUsd"`
}

// Report is the answer to a Query.
type Report struct {
	Rows  []Row `json:"rows"`
	Total Row   `json:"total"`
	// Unpriced lists models that had usage but no price.
	Unpriced []string `json:"unpriced,omitempty"`
}

// ErrBadGroup is returned for an unknown GroupBy dimension.
var ErrBadGroup = fmt.Errorf("unknown group-by dimension (want %s, %s, %s or %s)", ByUser, BySpell, ByModel, ByDay)

// Report answers q.
func (m *Model) Report(q Query) (Report, error) {
	group := map[string]bool{}
	for _, g := range q.GroupBy {
		switch g {
		case ByUser, BySpell, ByModel, ByDay:
			group[g] = true
		default:
			return Report{}, fmt.Errorf("usage report: %q: %w", g, ErrBadGroup)
		}
	}
	since, until := "", ""
	if !q.Since.IsZero() {
		since = q.Since.UTC().Format(time.DateOnly)
	}
	if !q.Until.IsZero() {
		// Until is exclusive at day granularity: a day is in when it starts
		// before Until.
		until = q.Until.UTC().Add(-time.Nanosecond).Format(time.DateOnly)
	}
	rows := map[Row]*Row{}
	unpriced := map[string]bool{}
	var rep Report
	m.snap.RLock()
	for _, c := range m.cells {
		if (q.User != "" && c.User != q.User) || (q.SpellID != "" && c.SpellID != q.SpellID) ||
			(q.Model != "" && c.Model != q.Model) || (since != "" && c.Day < since) || (until != "" && c.Day > until) {
			continue
		}
		var k Row
		if group[ByUser] {
			k.User = c.User
		}
		if group[BySpell] {
			k.SpellID = c.SpellID
		}
		if group[ByModel] {
			k.Model = c.Model
		}
		if group[ByDay] {
			k.Day = c.Day
		}
		r := rows[k]
		if r == nil {
			r = new(Row)
			*r = k
			rows[k] = r
		}
		cost, priced := m.cost(c.Model, c.Totals)
		if !priced && c.TotalTokens+c.PromptTokens+c.CompletionTokens > 0 {
			unpriced[c.Model] = true
		}
		r.Totals.add(c.Totals)
		r.CostUSD += cost
		rep.Total.Totals.add(c.Totals)
		rep.Total.CostUSD += cost
	}
	m.snap.RUnlock()
	rep.Rows = make([]Row, 0, len(rows))
	for _, r := range rows {
		rep.Rows = append(rep.Rows, *r)
	}
	slices.SortFunc(rep.Rows, func(a, b Row) int {
		return strings.Compare(a.Day+"\x00"+a.User+"\x00"+a.SpellID+"\x00"+a.Model, b.Day+"\x00"+b.User+"\x00"+b.SpellID+"\x00"+b.Model)
	})
	for mdl := range unpriced {
		rep.Unpriced = append(rep.Unpriced, mdl)
	}
	slices.Sort(rep.Unpriced)
	return rep, nil
}

func (m *Model) cost(model string, t Totals) (float64, bool) {
	p, ok := m.opts.Prices[model]
	if !ok {
		return 0, false
	}
	prompt, completion := t.PromptTokens, t.CompletionTokens
	if prompt == 0 && completion == 0 {
		// Only a total was reported: price it as prompt tokens.
		prompt = t.TotalTokens
	}
	return (float64(prompt)*p.PromptPerMTok + float64(completion)*p.CompletionPerMTok) / 1e6, true
}

// Save writes the snapshot now (no-op without a Dir).
func (m *Model) Save() error { return m.snap.Save() }

// Close writes a last snapshot.
func (m *Model) Close() error { return m.Save() }

// snapshotLocked is the model's snapshot; Keeper calls it with the lock held.
func (m *Model) snapshotLocked() snapfile.Snapshot {
	s := &snapshot{Open: m.open, Cells: make([]*cell, 0, len(m.cells))}
	for _, c := range m.cells {
		s.Cells = append(s.Cells, c)
	}
	return s
}
