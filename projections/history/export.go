package history

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/grimoire-run/grimoire/events"
)

// Export formats and contents.
const (
	FormatJSONL = "jsonl"
	FormatCSV   = "csv"

	// WhatEvents exports events as stored; WhatNodes exports one row per
	// node result (NodeCompleted, NodeFailed, NodeCacheHit).
	WhatEvents = "events"
	WhatNodes  = "nodes"
)

// ExportOptions selects what Export writes.
type ExportOptions struct {
	// Since and Until bound the events' commit time: Since <= Time < Until.
	// Zero means unbounded.
	Since, Until time.Time
	// SpellID keeps the events of that spell's runs (and its spell stream).
	SpellID string
	// StreamPrefix keeps the events of streams starting with it ("" all).
	StreamPrefix string
	Format       string // FormatJSONL (default) or FormatCSV
	What         string // WhatEvents (default) or WhatNodes
	// Progress, if set, is called now and then with the positions done
	// and the log's head when the export started.
	Progress func(done, total uint64)
	// Page is how many events one read fetches (default 4096).
	Page int
}

// ExportStats says what Export wrote.
type ExportStats struct {
	Scanned uint64 `json:"scanned"`
	Written uint64 `json:"written"`
}

// ErrBadFormat is returned for an unknown Format or What.
var ErrBadFormat = errors.New("unknown export format")

// Header is the part of a run event Export filters on.
type header struct {
	RunID   string    `json:"runId"`
	SpellID string    `json:"spellId"`
	Time    time.Time `json:"time"`
}

// LogReader is what Export reads: the global log, in pages (an
// events.Store, or a server's log over its API). One that also has
// LastPosition(ctx) (uint64, error) is asked for the head instead of
// being read through once more.
type LogReader interface {
	ReadAll(ctx context.Context, from uint64, max int) ([]events.RecordedEvent, error)
}

// Export writes the selected events or node results to w.
func Export(ctx context.Context, store LogReader, opts ExportOptions, w io.Writer) (ExportStats, error) {
	var st ExportStats
	if opts.Format == "" {
		opts.Format = FormatJSONL
	}
	if opts.What == "" {
		opts.What = WhatEvents
	}
	if (opts.Format != FormatJSONL && opts.Format != FormatCSV) || (opts.What != WhatEvents && opts.What != WhatNodes) {
		return st, fmt.Errorf("export %s as %s: %w (want --format jsonl|csv, --what events|nodes)", opts.What, opts.Format, ErrBadFormat)
	}
	if opts.Page <= 0 {
		opts.Page = 4096
	}
	head, err := headOf(ctx, store)
	if err != nil {
		return st, err
	}
	from := uint64(1)
	if !opts.Since.IsZero() {
		if from, err = firstAtOrAfter(ctx, store, opts.Since, head); err != nil {
			return st, err
		}
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	out := newWriter(bw, opts)
	if err := out.header(); err != nil {
		return st, err
	}
	lastReport := time.Now()
	for from <= head {
		recs, err := store.ReadAll(ctx, from, opts.Page)
		if err != nil {
			return st, fmt.Errorf("export: read the log from %d: %w", from, err)
		}
		if len(recs) == 0 {
			break
		}
		done := false
		for _, e := range recs {
			if e.Position > head || (!opts.Until.IsZero() && !e.Time.Before(opts.Until)) {
				done = true
				break
			}
			st.Scanned++
			if !opts.Since.IsZero() && e.Time.Before(opts.Since) {
				continue
			}
			if opts.StreamPrefix != "" && !strings.HasPrefix(e.Stream, opts.StreamPrefix) {
				continue
			}
			if opts.SpellID != "" && !ofSpell(e, opts.SpellID) {
				continue
			}
			ok, err := out.write(e)
			if err != nil {
				return st, fmt.Errorf("export: write: %w", err)
			}
			if ok {
				st.Written++
			}
		}
		from = recs[len(recs)-1].Position + 1
		if opts.Progress != nil && time.Since(lastReport) > 200*time.Millisecond {
			opts.Progress(min(from-1, head), head)
			lastReport = time.Now()
		}
		if done || len(recs) < opts.Page {
			break
		}
	}
	if err := out.flush(); err != nil {
		return st, fmt.Errorf("export: write: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return st, fmt.Errorf("export: write: %w", err)
	}
	if opts.Progress != nil {
		opts.Progress(head, head)
	}
	return st, nil
}

func ofSpell(e events.RecordedEvent, spellID string) bool {
	if e.Stream == events.SpellStream(spellID) {
		return true
	}
	if !strings.HasPrefix(e.Stream, events.RunStreamPrefix) {
		return false
	}
	var h header
	if json.Unmarshal(e.Data, &h) != nil {
		return false
	}
	return h.SpellID == spellID
}

// headOf is the log's last position.
func headOf(ctx context.Context, store LogReader) (uint64, error) {
	type lastPositioner interface {
		LastPosition(ctx context.Context) (uint64, error)
	}
	if h, ok := store.(lastPositioner); ok {
		return h.LastPosition(ctx)
	}
	// Probe forwards in big pages: fine for exports, which read it all anyway.
	var last uint64
	for from := uint64(1); ; {
		recs, err := store.ReadAll(ctx, from, 8192)
		if err != nil {
			return 0, fmt.Errorf("find the log's head: %w", err)
		}
		if len(recs) == 0 {
			return last, nil
		}
		last = recs[len(recs)-1].Position
		from = last + 1
	}
}

// firstAtOrAfter finds, by bisection on positions, the first position
// whose commit time is at or after t (commit times grow with positions).
func firstAtOrAfter(ctx context.Context, store LogReader, t time.Time, head uint64) (uint64, error) {
	lo, hi := uint64(1), head+1
	for lo < hi {
		mid := lo + (hi-lo)/2
		recs, err := store.ReadAll(ctx, mid, 1)
		if err != nil {
			return 0, fmt.Errorf("export: find %s in the log: %w", t.Format(time.RFC3339), err)
		}
		if len(recs) == 0 {
			hi = mid
			continue
		}
		if recs[0].Time.Before(t) {
			lo = recs[0].Position + 1
		} else {
			hi = mid
		}
	}
	return lo, nil
}

type writer struct {
	opts ExportOptions
	w    *bufio.Writer
	csv  *csv.Writer
	enc  *json.Encoder
}

func newWriter(w *bufio.Writer, opts ExportOptions) *writer {
	x := &writer{opts: opts, w: w}
	if opts.Format == FormatCSV {
		x.csv = csv.NewWriter(w)
	} else {
		x.enc = json.NewEncoder(w)
		x.enc.SetEscapeHTML(false)
	}
	return x
}

var (
	eventColumns = []string{"position", "stream", "revision", "type", "time", "runId", "spellId", "nodeId", "data"}
	nodeColumns  = []string{"time", "runId", "spellId", "nodeId", "nodeType", "activation", "status", "source", "durationMs",
		"model", "promptTokens", "completionTokens", "totalTokens", "error", "outputs"}
)

func (x *writer) header() error {
	if x.csv == nil {
		return nil
	}
	if x.opts.What == WhatNodes {
		return x.csv.Write(nodeColumns)
	}
	return x.csv.Write(eventColumns)
}

// NodeRow is one node result in a nodes export.
type NodeRow struct {
	Time       time.Time      `json:"time"`
	RunID      string         `json:"runId"`
	SpellID    string         `json:"spellId"`
	NodeID     string         `json:"nodeId"`
	NodeType   string         `json:"nodeType,omitempty"`
	Activation int            `json:"activation"`
	Path       []string       `json:"path,omitempty"`
	Status     string         `json:"status"`
	Source     string         `json:"source,omitempty"`
	Duration   time.Duration  `json:"durationNs"`
	Usage      *events.Usage  `json:"usage,omitempty"`
	Error      string         `json:"error,omitempty"`
	Outputs    map[string]any `json:"outputs,omitempty"`
}

func nodeRow(e events.RecordedEvent) (NodeRow, bool) {
	switch e.Type {
	case events.TypeNodeCompleted, events.TypeNodeFailed, events.TypeNodeCacheHit:
	default:
		return NodeRow{}, false
	}
	v, err := events.Decode(e)
	if err != nil {
		return NodeRow{}, false
	}
	row := NodeRow{Time: e.Time}
	fill := func(h events.RunHeader, ref events.NodeRef) {
		row.RunID, row.SpellID, row.NodeID, row.NodeType, row.Activation, row.Path = h.RunID, h.SpellID, ref.NodeID, ref.NodeType, ref.Activation, ref.Path
		if !h.Time.IsZero() {
			row.Time = h.Time
		}
	}
	switch p := v.(type) {
	case events.NodeCompleted:
		fill(p.RunHeader, p.NodeRef)
		row.Status, row.Duration, row.Usage, row.Outputs = "completed", p.Duration, p.Usage, p.Outputs
	case events.NodeFailed:
		fill(p.RunHeader, p.NodeRef)
		row.Status, row.Duration, row.Error = "failed", p.Duration, p.Error
	case events.NodeCacheHit:
		fill(p.RunHeader, p.NodeRef)
		row.Status, row.Source, row.Outputs = "cached", p.Source, p.Outputs
	default:
		return NodeRow{}, false
	}
	if row.RunID == "" {
		row.RunID = strings.TrimPrefix(e.Stream, events.RunStreamPrefix)
	}
	return row, true
}

func (x *writer) write(e events.RecordedEvent) (bool, error) {
	if x.opts.What == WhatNodes {
		row, ok := nodeRow(e)
		if !ok {
			return false, nil
		}
		if x.enc != nil {
			return true, x.enc.Encode(row)
		}
		var model, pt, ct, tt string
		if row.Usage != nil {
			model, pt, ct, tt = row.Usage.Model, itoa(row.Usage.PromptTokens), itoa(row.Usage.CompletionTokens), itoa(row.Usage.TotalTokens)
		}
		outs := ""
		if row.Outputs != nil {
			b, _ := json.Marshal(row.Outputs)
			outs = string(b)
		}
		return true, x.csv.Write([]string{row.Time.UTC().Format(time.RFC3339Nano), row.RunID, row.SpellID, row.NodeID, row.NodeType,
			itoa(row.Activation), row.Status, row.Source, strconv.FormatFloat(float64(row.Duration)/1e6, 'f', 3, 64),
			model, pt, ct, tt, row.Error, outs})
	}
	if x.enc != nil {
		return true, x.enc.Encode(e)
	}
	var h struct {
		header
		NodeID string `json:"nodeId"`
	}
	_ = json.Unmarshal(e.Data, &h)
	return true, x.csv.Write([]string{strconv.FormatUint(e.Position, 10), e.Stream, strconv.FormatUint(e.Revision, 10), e.Type,
		e.Time.UTC().Format(time.RFC3339Nano), h.RunID, h.SpellID, h.NodeID, string(e.Data)})
}

func (x *writer) flush() error {
	if x.csv != nil {
		x.csv.Flush()
		return x.csv.Error()
	}
	return nil
}

func itoa(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}
