package memory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"time"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/services"
)

// EventType is the type of the events this package appends.
const EventType = "MemoryStored"

// ForgottenType is the type of the tombstone Forget appends: the stream is
// append-only, so deleting an event is recording that it was forgotten.
const ForgottenType = "MemoryForgotten"

// StreamPrefix starts every memory stream's name.
const StreamPrefix = "memory-"

// Options configure a Memory; the zero value gives the defaults.
type Options struct {
	// ScanLimit is how many of a tenant's newest events a recall looks at
	// at most (default 5000).
	ScanLimit int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Memory implements services.EventMemory over an events.Store.
type Memory struct {
	store events.Store
	opts  Options
}

var (
	_ services.EventMemory    = (*Memory)(nil)
	_ services.EventForgetter = (*Memory)(nil)
)

// New returns a Memory that keeps its events in store.
func New(store events.Store, opts Options) *Memory {
	if opts.ScanLimit <= 0 {
		opts.ScanLimit = 5000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Memory{store: store, opts: opts}
}

// Stream is the stream holding tenant's memory.
func Stream(tenant string) string {
	esc := url.PathEscape(tenant)
	if len(esc) > 96 {
		sum := sha256.Sum256([]byte(tenant))
		esc = esc[:64] + "~" + hex.EncodeToString(sum[:8])
	}
	return StreamPrefix + esc
}

// Remember implements services.EventMemory.
func (m *Memory) Remember(ctx context.Context, tenant string, e services.MemoryEvent) (services.MemoryEvent, error) {
	if tenant == "" {
		return services.MemoryEvent{}, errors.New("remember event: tenant (user) is empty")
	}
	if e.Date.IsZero() {
		e.Date = m.opts.Now().UTC()
	}
	if e.Type == "" {
		e.Type = "conversation"
	}
	data, err := json.Marshal(e)
	if err != nil {
		return services.MemoryEvent{}, fmt.Errorf("remember event: encode: %w", err)
	}
	stream := Stream(tenant)
	res, err := m.store.Append(ctx, stream, events.Any, events.EventData{Type: EventType, Data: data})
	if err != nil {
		return services.MemoryEvent{}, fmt.Errorf("remember event in %q: %w", stream, err)
	}
	if e.ID == "" {
		e.ID = fmt.Sprintf("%s@%d", stream, res.NextRevision)
	}
	return e, nil
}

// forgotten is the body of a ForgottenType event.
type forgotten struct {
	ID string `json:"id"`
}

// Forget implements services.EventForgetter: it appends a tombstone naming
// id, and Recall skips the events a tombstone names.
func (m *Memory) Forget(ctx context.Context, tenant, id string) error {
	if tenant == "" {
		return errors.New("forget event: tenant (user) is empty")
	}
	if id == "" {
		return errors.New("forget event: the event id is empty")
	}
	data, err := json.Marshal(forgotten{ID: id})
	if err != nil {
		return fmt.Errorf("forget event: encode: %w", err)
	}
	stream := Stream(tenant)
	if _, err := m.store.Append(ctx, stream, events.Any, events.EventData{Type: ForgottenType, Data: data}); err != nil {
		return fmt.Errorf("forget event %q in %q: %w", id, stream, err)
	}
	return nil
}

// Recall implements services.EventMemory.
func (m *Memory) Recall(ctx context.Context, tenant string, q services.MemoryQuery) ([]services.MemoryEvent, error) {
	if tenant == "" {
		return nil, errors.New("recall events: tenant (user) is empty")
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 10
	}
	stream := Stream(tenant)
	type scored struct {
		e     services.MemoryEvent
		score float64
	}
	var recent []services.MemoryEvent
	var near []scored
	// Reading backwards meets a tombstone before the event it names.
	gone := map[string]bool{}
	from, scanned := events.End, 0
	const page = 256
	for scanned < m.opts.ScanLimit {
		recs, err := m.store.ReadStream(ctx, stream, from, events.Backwards, min(page, m.opts.ScanLimit-scanned))
		if errors.Is(err, events.ErrStreamNotFound) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("recall events from %q: %w", stream, err)
		}
		for _, r := range recs {
			scanned++
			if r.Type == ForgottenType {
				var f forgotten
				if err := json.Unmarshal(r.Data, &f); err == nil && f.ID != "" {
					gone[f.ID] = true
				}
				continue
			}
			if r.Type != EventType {
				continue
			}
			var e services.MemoryEvent
			if err := json.Unmarshal(r.Data, &e); err != nil {
				return nil, fmt.Errorf("recall events from %q: event %d: %w", stream, r.Revision, err)
			}
			if e.ID == "" {
				e.ID = fmt.Sprintf("%s@%d", stream, r.Revision)
			}
			if gone[e.ID] || !matches(e, q) {
				continue
			}
			if len(q.Embedding) > 0 {
				if len(e.Embedding) == len(q.Embedding) {
					near = append(near, scored{e, services.Cosine(q.Embedding, e.Embedding)})
				}
				continue
			}
			recent = append(recent, e)
			if len(recent) == limit {
				break
			}
		}
		if len(recs) < page || len(recent) == limit || recs[len(recs)-1].Revision == 0 {
			break
		}
		from = recs[len(recs)-1].Revision - 1
	}
	if len(q.Embedding) > 0 {
		sort.SliceStable(near, func(i, j int) bool { return near[i].score > near[j].score })
		out := make([]services.MemoryEvent, 0, min(limit, len(near)))
		for _, s := range near[:min(limit, len(near))] {
			out = append(out, s.e)
		}
		return out, nil
	}
	// Oldest first, as a conversation reads.
	for i, j := 0, len(recent)-1; i < j; i, j = i+1, j-1 {
		recent[i], recent[j] = recent[j], recent[i]
	}
	return recent, nil
}

func matches(e services.MemoryEvent, q services.MemoryQuery) bool {
	eq := func(want, got string) bool { return want == "" || want == got }
	return eq(q.Type, e.Type) && eq(q.Observer, e.Observer) && eq(q.Client, e.Client) &&
		eq(q.Channel, e.Channel) && eq(q.ProjectID, e.ProjectID) && eq(q.AgentID, e.AgentID)
}
