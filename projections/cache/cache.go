// Package cache is the node-output cache: a read model from cache keys to
// the outputs of the activations that produced them, fed by the
// NodeCompleted events (and cache hits) that carry a cacheKey, and used by
// the runner as a graph.Cache. The key is the graph's (node type, its
// configuration, its trigger, and the keys of every producer of its
// inputs, as ComfyUI does); non-deterministic node types have none, so
// they are never cached. A run or a spell can turn the cache off (For).
//
// Storage: the outputs are held in memory as their JSON, bounded by
// Options.MaxBytes (oldest entries go first), and snapshotted with the
// checkpoint in a data directory. A hit decodes them afresh (10-16 µs for
// 1 KiB of outputs), about twice as fast as reading the recorded event
// back from the log (BenchmarkHit); the log stays the source of truth, so
// an evicted or lost entry only costs a recomputation.
//
// The runner looks a key up before every deterministic activation; fill
// the cache from the log (this projection, which reads the cacheKey of
// NodeCompleted events) and, in the process that runs the spell, at once
// through Observer.
//
// cache imports events, graph (for graph.Cache, Result and Observer) and
// projections; it must not import server, nodes or a store
// implementation.
package cache

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/projections"
	"github.com/grimoire-run/grimoire/projections/internal/snapfile"
)

// Options configures a Model.
type Options struct {
	// Dir keeps the snapshot (cache.snapshot.json); "" keeps nothing.
	Dir string
	// SnapshotEvery is the least time between snapshots (default 30s).
	SnapshotEvery time.Duration
	// MaxBytes bounds the outputs held (default 64 MiB); the oldest
	// entries are dropped first.
	MaxBytes int
	// NodeTypes says whether results of a node type may be served from
	// the cache and names its trigger outputs, so that a hit knows which
	// did not fire (the log records the ones that did). Nil serves every
	// type, as having no trigger outputs; use FromCatalog.
	NodeTypes func(nodeType string) (triggerOutputs []string, cacheable bool)
}

// Entry is one cached activation result.
type Entry struct {
	Key      string          `json:"key"`
	NodeType string          `json:"nodeType,omitempty"`
	RunID    string          `json:"runId,omitempty"`
	Outputs  json.RawMessage `json:"outputs,omitempty"`
	Fired    []string        `json:"fired,omitempty"`
	Position uint64          `json:"position,omitempty"`
}

func (e *Entry) size() int { return len(e.Key) + len(e.Outputs) + len(e.NodeType) + len(e.RunID) + 64 }

// Model is the cache read model; it implements projections.Projection and
// graph.Cache.
type Model struct {
	opts Options

	snap    snapfile.Keeper // lock, checkpoint and snapshot file
	entries map[string]*Entry
	fifo    []string // keys, oldest first (may hold keys already replaced)
	bytes   int

	stats struct {
		sync.Mutex
		hits, misses uint64
	}
}

var (
	_ projections.Projection = (*Model)(nil)
	_ graph.Cache            = (*Model)(nil)
)

const snapshotFile = "cache.snapshot.json"

type snapshot struct {
	snapfile.Header
	Entries []*Entry `json:"entries"`
}

// Open returns a model, loaded from its snapshot in opts.Dir if any.
func Open(opts Options) (*Model, error) {
	if opts.SnapshotEvery <= 0 {
		opts.SnapshotEvery = 30 * time.Second
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 64 << 20
	}
	m := &Model{opts: opts, entries: map[string]*Entry{}}
	var s snapshot
	err := m.snap.Open(snapfile.Options{Name: m.Name(), Dir: opts.Dir, File: snapshotFile, Every: opts.SnapshotEvery,
		Take: m.snapshotLocked}, &s, func() {
		for _, e := range s.Entries {
			m.putLocked(e)
		}
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Name implements projections.Projection.
func (m *Model) Name() string { return "cache" }

// Filter implements projections.Projection.
func (m *Model) Filter() events.SubscribeOptions {
	return events.SubscribeOptions{StreamPrefixes: []string{events.RunStreamPrefix},
		EventTypes: []string{events.TypeNodeCompleted, events.TypeNodeCacheHit}}
}

// Checkpoint implements projections.Projection.
func (m *Model) Checkpoint(context.Context) (uint64, error) { return m.snap.Checkpoint(), nil }

// Reset implements projections.Projection.
func (m *Model) Reset(context.Context) error {
	return m.snap.Reset(func() { m.entries, m.fifo, m.bytes = map[string]*Entry{}, nil, 0 })
}

// recorded is what the cache reads of NodeCompleted and NodeCacheHit.
type recorded struct {
	NodeType string          `json:"nodeType"`
	Outputs  json.RawMessage `json:"outputs"`
	Fired    []string        `json:"fired"`
	CacheKey string          `json:"cacheKey"`
	Source   string          `json:"source"`
}

var cacheKeyField = []byte(`"cacheKey"`)

// Handle implements projections.Projection: a NodeCompleted (or a cache
// hit) with a cache key stores its outputs under the key.
func (m *Model) Handle(_ context.Context, e events.RecordedEvent) error {
	m.snap.Lock()
	defer m.snap.Unlock()
	if m.snap.Seen(e.Position) {
		return nil
	}
	if (e.Type == events.TypeNodeCompleted || e.Type == events.TypeNodeCacheHit) && bytes.Contains(e.Data, cacheKeyField) {
		var p recorded
		if err := json.Unmarshal(e.Data, &p); err != nil {
			return fmt.Errorf("cache: decode %s of %s@%d: %w", e.Type, e.Stream, e.Revision, err)
		}
		if p.CacheKey != "" && (e.Type == events.TypeNodeCompleted || p.Source == "cache") {
			if _, seen := m.entries[p.CacheKey]; !seen || e.Type == events.TypeNodeCompleted {
				m.putLocked(&Entry{Key: p.CacheKey, NodeType: p.NodeType, RunID: strings.TrimPrefix(e.Stream, events.RunStreamPrefix),
					Outputs: p.Outputs, Fired: p.Fired, Position: e.Position})
			}
		}
	}
	return m.snap.Applied(e.Position)
}

func (m *Model) putLocked(e *Entry) {
	if old, ok := m.entries[e.Key]; ok {
		m.bytes -= old.size()
	} else {
		m.fifo = append(m.fifo, e.Key)
	}
	m.entries[e.Key] = e
	m.bytes += e.size()
	m.snap.Changed()
	for m.bytes > m.opts.MaxBytes && len(m.fifo) > 1 {
		k := m.fifo[0]
		m.fifo = m.fifo[1:]
		if old, ok := m.entries[k]; ok {
			m.bytes -= old.size()
			delete(m.entries, k)
		}
	}
	if cap(m.fifo) > 1024 && len(m.fifo) < cap(m.fifo)/4 {
		m.fifo = slices.Clone(m.fifo)
	}
}

// Put stores a result directly (write-through from a run in this process,
// so that the next run hits before the projection has caught up).
func (m *Model) Put(key, nodeType, runID string, outputs graph.Outputs, fired []string) error {
	raw, err := json.Marshal(outputs)
	if err != nil {
		return fmt.Errorf("cache put %s: %w", key, err)
	}
	m.snap.Lock()
	defer m.snap.Unlock()
	m.putLocked(&Entry{Key: key, NodeType: nodeType, RunID: runID, Outputs: raw, Fired: slices.Clone(fired)})
	return nil
}

// Lookup returns the entry stored under key.
func (m *Model) Lookup(key string) (Entry, bool) {
	m.snap.RLock()
	defer m.snap.RUnlock()
	e, ok := m.entries[key]
	if !ok {
		return Entry{}, false
	}
	return *e, true
}

// Get implements graph.Cache: the outputs stored under key, decoded
// afresh (so the run may change them), and the trigger outputs that did
// not fire.
func (m *Model) Get(key string) (graph.Result, bool) {
	m.snap.RLock()
	e, ok := m.entries[key]
	m.snap.RUnlock()
	if !ok {
		m.count(false)
		return graph.Result{}, false
	}
	var closed []string
	if m.opts.NodeTypes != nil {
		names, cacheable := m.opts.NodeTypes(e.NodeType)
		if !cacheable {
			m.count(false)
			return graph.Result{}, false
		}
		for _, n := range names {
			if !slices.Contains(e.Fired, n) {
				closed = append(closed, n)
			}
		}
	}
	var out graph.Outputs
	if len(e.Outputs) > 0 && string(e.Outputs) != "null" {
		if err := json.Unmarshal(e.Outputs, &out); err != nil {
			m.count(false)
			return graph.Result{}, false
		}
	}
	m.count(true)
	return graph.Result{Outputs: out, Closed: closed}, true
}

func (m *Model) count(hit bool) {
	m.stats.Lock()
	if hit {
		m.stats.hits++
	} else {
		m.stats.misses++
	}
	m.stats.Unlock()
}

// Stats says how the cache is used.
type Stats struct {
	Entries int    `json:"entries"`
	Bytes   int    `json:"bytes"`
	Hits    uint64 `json:"hits"`
	Misses  uint64 `json:"misses"`
}

// Stats returns the cache's size and hit counts since it was opened.
func (m *Model) Stats() Stats {
	m.snap.RLock()
	s := Stats{Entries: len(m.entries), Bytes: m.bytes}
	m.snap.RUnlock()
	m.stats.Lock()
	s.Hits, s.Misses = m.stats.hits, m.stats.misses
	m.stats.Unlock()
	return s
}

// FromCatalog answers Options.NodeTypes from a catalog: a type is
// cacheable when it is known, deterministic, and not an Output or Trigger
// Out (their effect is on the run, not in their outputs). The log records
// the trigger outputs that fired, not those that did not; a hit closes the
// type's fixed trigger outputs that had not fired. A type with ports
// declared per node is therefore served only outside the flow family
// (gates and switches declare trigger outputs and close them; a text
// template's declared ports are data, and it closes nothing).
func FromCatalog(cat graph.Catalog) func(string) ([]string, bool) {
	return func(name string) ([]string, bool) {
		t, ok := cat.Lookup(name)
		if !ok || !t.Reusable() || t.Role == graph.RoleOutput || t.Role == graph.RoleTriggerOut ||
			(t.DynamicPorts && (t.Family == "flow" || t.Family == "")) {
			return nil, false
		}
		var out []string
		for _, p := range t.Outputs {
			if p.Kind == graph.Trigger {
				out = append(out, p.Name)
			}
		}
		return out, true
	}
}

// Disabled reports whether a spell turns the cache off: its meta has
// "cache": false (or "noCache": true).
func Disabled(s *graph.Spell) bool {
	if s == nil || s.Meta == nil {
		return false
	}
	if v, ok := s.Meta["cache"].(bool); ok && !v {
		return true
	}
	if v, ok := s.Meta["noCache"].(bool); ok && v {
		return true
	}
	return false
}

// Shared reports whether a spell shares its cache between users: its meta
// has "cacheScope": "shared". A spell whose every run computes the same thing
// for everybody (no private inputs) saves its users' model calls so.
func Shared(s *graph.Spell) bool {
	if s == nil || s.Meta == nil {
		return false
	}
	v, _ := s.Meta["cacheScope"].(string)
	return v == "shared"
}

// Scope is the graph.RunRequest.CacheScope of a run of spell s by user
// ("" is the operator: the CLI): the user's own, unless the spell
// shares its cache. So by default a user is served only results of their
// own runs, and a hit tells nobody what another user ran.
func Scope(s *graph.Spell, user string) string {
	if Shared(s) {
		return "shared"
	}
	return "user:" + user
}

// Scope is the package's Scope, for callers that hold a Model.
func (m *Model) Scope(s *graph.Spell, user string) string { return Scope(s, user) }

// For returns the cache a run of spell s should use: nil (no cache) when
// the run asks for none (disabled), the spell turns it off, or m is nil.
func (m *Model) For(s *graph.Spell, disabled bool) graph.Cache {
	if m == nil || disabled || Disabled(s) {
		return nil
	}
	return m
}

// Observer wraps next (the run's recorder) so that every completed
// deterministic activation is also put in the cache at once. next may be
// nil.
func (m *Model) Observer(runID string, next graph.Observer) graph.Observer {
	return graph.ObserverFunc(func(e graph.NodeEvent) {
		if e.Kind == graph.NodeCompleted && e.CacheKey != "" && m.cacheable(e.NodeType) {
			_ = m.Put(e.CacheKey, e.NodeType, runID, e.Outputs, e.Fired) // outputs without JSON form are not cached
		}
		if next != nil {
			next.ObserveNode(e)
		}
	})
}

func (m *Model) cacheable(nodeType string) bool {
	if m.opts.NodeTypes == nil {
		return true
	}
	_, ok := m.opts.NodeTypes(nodeType)
	return ok
}

// Save writes the snapshot now (no-op without a Dir).
func (m *Model) Save() error { return m.snap.Save() }

// Close writes a last snapshot.
func (m *Model) Close() error { return m.Save() }

// snapshotLocked is the model's snapshot, oldest entry first; Keeper calls
// it with the lock held.
func (m *Model) snapshotLocked() snapfile.Snapshot {
	s := &snapshot{Entries: make([]*Entry, 0, len(m.entries))}
	for _, k := range m.fifo {
		if e, ok := m.entries[k]; ok && (len(s.Entries) == 0 || s.Entries[len(s.Entries)-1].Key != k) {
			s.Entries = append(s.Entries, e)
		}
	}
	return s
}
