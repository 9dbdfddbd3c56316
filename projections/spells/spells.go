// Package spells is the spells read model: every spell's current version,
// owner, sharing and history, built from SpellSaved, SpellShared and
// SpellDeleted events. It is
// kept in memory and rebuilt from the log at start (spell streams are small
// next to run streams), so its checkpoint lives with it.
package spells

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/projections/internal/snapfile"
)

// Spell is one spell as the read model knows it.
type Spell struct {
	ID       string         `json:"id"`
	Name     string         `json:"name,omitempty"`
	Version  int            `json:"version"`
	Hash     string         `json:"hash"`
	Owner    string         `json:"owner,omitempty"`
	Sharing  events.Sharing `json:"sharing"`
	Updated  time.Time      `json:"updated"`
	Deleted  bool           `json:"deleted,omitempty"`
	Versions []Version      `json:"versions,omitempty"`
}

// Version is one saved version.
type Version struct {
	Version int       `json:"version"`
	Hash    string    `json:"hash"`
	User    string    `json:"user,omitempty"`
	Time    time.Time `json:"time"`
}

// Model is the read model; it implements projections.Projection.
type Model struct {
	snap   snapfile.Keeper // lock and checkpoint (no snapshot file)
	spells map[string]*Spell

	watchMu  sync.Mutex
	watchers map[*watcher]struct{}
}

// Change is one spell event the model applied: the spell as it was before
// (nil when it did not exist) and as it is now (Deleted after a delete),
// both without their version history.
type Change struct {
	Before *Spell
	After  Spell
}

type watcher struct{ fn func(Change) }

// Watch calls fn after each spell event the model applies (saves, shares,
// deletes; the rebuild at start too), in log order, from the goroutine that
// feeds the model: fn must not block. stop ends the calls.
func (m *Model) Watch(fn func(Change)) (stop func()) {
	w := &watcher{fn: fn}
	m.watchMu.Lock()
	if m.watchers == nil {
		m.watchers = map[*watcher]struct{}{}
	}
	m.watchers[w] = struct{}{}
	m.watchMu.Unlock()
	return func() {
		m.watchMu.Lock()
		delete(m.watchers, w)
		m.watchMu.Unlock()
	}
}

func (m *Model) notify(c Change) {
	m.watchMu.Lock()
	ws := make([]*watcher, 0, len(m.watchers))
	for w := range m.watchers {
		ws = append(ws, w)
	}
	m.watchMu.Unlock()
	for _, w := range ws {
		w.fn(c)
	}
}

// New returns an empty model.
func New() *Model { return &Model{spells: map[string]*Spell{}} }

func (m *Model) Name() string { return "spells" }

func (m *Model) Filter() events.SubscribeOptions {
	return events.SubscribeOptions{StreamPrefixes: []string{events.SpellStreamPrefix},
		EventTypes: []string{events.TypeSpellSaved, events.TypeSpellShared, events.TypeSpellDeleted}}
}

func (m *Model) Checkpoint(context.Context) (uint64, error) { return m.snap.Checkpoint(), nil }

func (m *Model) Reset(context.Context) error {
	return m.snap.Reset(func() { m.spells = map[string]*Spell{} })
}

// Handle applies one event; an event at or before the checkpoint changes nothing.
func (m *Model) Handle(_ context.Context, e events.RecordedEvent) error {
	change, changed, err := m.apply(e)
	if err == nil && changed {
		m.notify(change)
	}
	return err
}

// apply applies e under the lock and returns the change it made.
func (m *Model) apply(e events.RecordedEvent) (c Change, changed bool, err error) {
	m.snap.Lock()
	defer m.snap.Unlock()
	if e.Position == 0 || m.snap.Seen(e.Position) {
		return c, false, nil
	}
	var touched *Spell
	before := func(s *Spell) {
		if s != nil {
			b := *s
			b.Versions = nil
			c.Before = &b
		}
		touched = s
	}
	defer func() {
		if err == nil && touched != nil {
			c.After = *touched
			c.After.Versions = nil
			changed = true
		}
	}()
	switch e.Type {
	case events.TypeSpellSaved:
		var saved events.SpellSaved
		if err := json.Unmarshal(e.Data, &saved); err != nil {
			return c, false, fmt.Errorf("spells model: %s at %d: %w", e.Type, e.Position, err)
		}
		var doc struct {
			Name string `json:"name"`
		}
		_ = json.Unmarshal(saved.Graph, &doc)
		var meta struct {
			Owner   string          `json:"owner"`
			Sharing *events.Sharing `json:"sharing"`
		}
		_ = json.Unmarshal(e.Metadata, &meta)
		s := m.spells[saved.SpellID]
		before(s)
		if s == nil {
			s = &Spell{ID: saved.SpellID}
			m.spells[saved.SpellID] = s
		}
		touched = s
		s.Name, s.Version, s.Hash, s.Updated, s.Deleted = doc.Name, saved.Version, saved.Hash, saved.Time, false
		if meta.Owner != "" {
			s.Owner = meta.Owner
		} else if s.Owner == "" {
			s.Owner = saved.User
		}
		s.Sharing = events.Sharing{}
		if meta.Sharing != nil {
			s.Sharing = *meta.Sharing
		}
		s.Versions = append(s.Versions, Version{Version: saved.Version, Hash: saved.Hash, User: saved.User, Time: saved.Time})
	case events.TypeSpellShared:
		var sh events.SpellShared
		if err := json.Unmarshal(e.Data, &sh); err != nil {
			return c, false, fmt.Errorf("spells model: %s at %d: %w", e.Type, e.Position, err)
		}
		if s := m.spells[sh.SpellID]; s != nil {
			before(s)
			s.Sharing, s.Updated = sh.Sharing, sh.Time
		}
	case events.TypeSpellDeleted:
		var del events.SpellDeleted
		if err := json.Unmarshal(e.Data, &del); err != nil {
			return c, false, fmt.Errorf("spells model: %s at %d: %w", e.Type, e.Position, err)
		}
		if s := m.spells[del.SpellID]; s != nil {
			before(s)
			s.Deleted, s.Updated, s.Sharing = true, del.Time, events.Sharing{}
		}
	}
	return c, false, m.snap.Applied(e.Position)
}

// List returns the spells that are not deleted, by id, without their
// version history.
func (m *Model) List() []Spell {
	m.snap.RLock()
	defer m.snap.RUnlock()
	out := make([]Spell, 0, len(m.spells))
	for _, s := range m.spells {
		if s.Deleted {
			continue
		}
		c := *s
		c.Versions = nil
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Get returns one spell with its history, deleted or not.
func (m *Model) Get(id string) (Spell, bool) {
	m.snap.RLock()
	defer m.snap.RUnlock()
	s, ok := m.spells[id]
	if !ok {
		return Spell{}, false
	}
	c := *s
	c.Versions = append([]Version(nil), s.Versions...)
	return c, true
}
