package embedded

import (
	"sync"

	"github.com/grimoire-run/grimoire/events"
)

// lastEvents keeps the last event of streams that are read from their end
// (ReadStream from End, backwards, one event): a spell's current version,
// which every run request loads, then costs a map lookup instead of an
// iterator seek across the engine's files (11 % of the server's CPU at
// 500 sync runs/s once the log had been flushed to disk a few times).
//
// Only streams read that way enter it; the writer updates the entries of
// the streams it commits to. A read that misses puts a placeholder in
// first and fills it only if no commit replaced it meanwhile, so a read
// that raced a commit never caches the older event. The returned events
// share their Data with the cache: callers must not modify the bytes.
type lastEvents struct {
	mu sync.Mutex
	m  map[string]*lastEntry
}

type lastEntry struct {
	rec   events.RecordedEvent
	valid bool // false: a read is filling it
}

// maxLastEvents bounds the cache; past it the map starts over.
const maxLastEvents = 4096

func newLastEvents() *lastEvents { return &lastEvents{m: make(map[string]*lastEntry)} }

// get returns the cached last event of stream, or a placeholder to fill
// after reading it from the engine.
func (c *lastEvents) get(stream string) (events.RecordedEvent, *lastEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[stream]; ok && e.valid {
		return e.rec, nil, true
	}
	if len(c.m) >= maxLastEvents {
		c.m = make(map[string]*lastEntry)
	}
	e := &lastEntry{}
	c.m[stream] = e
	return events.RecordedEvent{}, e, false
}

// fill stores what a read found, unless a commit got there first; with
// found false it drops the placeholder.
func (c *lastEvents) fill(stream string, e *lastEntry, rec events.RecordedEvent, found bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m[stream] != e || e.valid {
		return
	}
	if !found {
		delete(c.m, stream)
		return
	}
	e.rec, e.valid = rec, true
}

// committed records the newest event of each cached stream in recs (in
// commit order).
func (c *lastEvents) committed(recs []events.RecordedEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range recs {
		if e, ok := c.m[r.Stream]; ok {
			e.rec, e.valid = r, true
		}
	}
}
