package embedded

import (
	"testing"

	"github.com/grimoire-run/grimoire/events"
)

func rec(stream string, rev uint64) events.RecordedEvent {
	return events.RecordedEvent{Stream: stream, Revision: rev}
}

func TestLastEventsNeverCachesAnOlderRead(t *testing.T) {
	c := newLastEvents()
	check := func(stream string, want uint64) {
		t.Helper()
		got, fill, ok := c.get(stream)
		if !ok || got.Revision != want || fill != nil {
			t.Fatalf("%s: got %+v %v, want revision %d", stream, got, ok, want)
		}
	}

	// A read that raced a commit: the commit's event wins.
	_, fill, ok := c.get("s")
	if ok || fill == nil {
		t.Fatal("empty cache answered")
	}
	c.committed([]events.RecordedEvent{rec("s", 4), rec("other", 9), rec("s", 5)})
	c.fill("s", fill, rec("s", 4), true)
	check("s", 5)
	if _, f, ok := c.get("other"); ok || f == nil {
		t.Fatal("a stream nobody read was cached")
	}

	// A read with no commit in between is kept, and later commits follow.
	_, fill, _ = c.get("t")
	c.fill("t", fill, rec("t", 2), true)
	check("t", 2)
	c.committed([]events.RecordedEvent{rec("t", 3)})
	check("t", 3)

	// A stream that does not exist leaves no entry behind.
	_, fill, _ = c.get("none")
	c.fill("none", fill, events.RecordedEvent{}, false)
	if _, ok := c.m["none"]; ok {
		t.Fatal("placeholder of a missing stream kept")
	}

	// A placeholder dropped when the map started over is not filled.
	_, fill, _ = c.get("u")
	c.m = make(map[string]*lastEntry)
	c.fill("u", fill, rec("u", 1), true)
	if _, ok := c.m["u"]; ok {
		t.Fatal("a stale placeholder was filled")
	}
}
