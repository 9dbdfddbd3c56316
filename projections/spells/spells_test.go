package spells_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/projections/spells"
)

func saved(id string, version int, hash, user, name string, pos uint64) events.RecordedEvent {
	ev := events.MustEncode(&events.SpellSaved{SpellID: id, Version: version, Hash: hash, User: user,
		Graph: json.RawMessage(`{"name":"` + name + `"}`), Time: time.Unix(int64(pos), 0)})
	return events.RecordedEvent{Stream: events.SpellStream(id), Type: ev.Type, Data: ev.Data, Position: pos, Revision: uint64(version - 1)}
}

func TestSpellsKeepsVersionsDeletionsAndIgnoresRepeats(t *testing.T) {
	ctx := context.Background()
	del := events.MustEncode(&events.SpellDeleted{SpellID: "b", User: "bob", Time: time.Unix(5, 0)})
	log := []events.RecordedEvent{
		saved("a", 1, "sha256:1", "ann", "First", 1),
		saved("b", 1, "sha256:b", "bob", "Bee", 2),
		saved("a", 2, "sha256:2", "ann", "Second", 3),
		{Stream: events.SpellStream("b"), Type: del.Type, Data: del.Data, Position: 4, Revision: 1},
	}
	m := spells.New()
	for range 2 { // the second pass is at or before the checkpoint: no change
		for _, e := range log {
			if err := m.Handle(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
	}
	list := m.List()
	if len(list) != 1 || list[0].ID != "a" || list[0].Version != 2 || list[0].Name != "Second" || list[0].Owner != "ann" {
		t.Fatalf("List = %+v, want only a at version 2", list)
	}
	a, ok := m.Get("a")
	if !ok || len(a.Versions) != 2 || a.Versions[0].Hash != "sha256:1" || a.Versions[1].Hash != "sha256:2" {
		t.Errorf("Get(a) = %+v, want both versions", a)
	}
	if b, ok := m.Get("b"); !ok || !b.Deleted {
		t.Errorf("Get(b) = %+v, want deleted", b)
	}
	if cp, _ := m.Checkpoint(ctx); cp != 4 {
		t.Errorf("checkpoint %d, want 4", cp)
	}
	if err := m.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if len(m.List()) != 0 {
		t.Error("Reset left spells")
	}
}

func TestWatchSeesEachChangeWithTheSpellBeforeAndAfter(t *testing.T) {
	ctx := context.Background()
	m := spells.New()
	var got []spells.Change
	stop := m.Watch(func(c spells.Change) { got = append(got, c) })
	share := events.MustEncode(&events.SpellShared{SpellID: "a", Sharing: events.Sharing{Readers: []string{"bob"}}, Time: time.Unix(2, 0)})
	del := events.MustEncode(&events.SpellDeleted{SpellID: "a", User: "ann", Time: time.Unix(3, 0)})
	for _, e := range []events.RecordedEvent{
		saved("a", 1, "sha256:1", "ann", "First", 1),
		{Stream: events.SpellStream("a"), Type: share.Type, Data: share.Data, Position: 2, Revision: 1},
		saved("a", 1, "sha256:1", "ann", "First", 2), // a repeat: no change
		{Stream: events.SpellStream("a"), Type: del.Type, Data: del.Data, Position: 3, Revision: 2},
	} {
		if err := m.Handle(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 3 {
		t.Fatalf("%d changes, want 3: %+v", len(got), got)
	}
	if got[0].Before != nil || got[0].After.Owner != "ann" || got[0].After.Version != 1 {
		t.Errorf("save: %+v", got[0])
	}
	if got[1].Before == nil || len(got[1].Before.Sharing.Readers) != 0 || !got[1].After.Sharing.Allows("bob") {
		t.Errorf("share: %+v", got[1])
	}
	if got[2].Before == nil || !got[2].Before.Sharing.Allows("bob") || !got[2].After.Deleted {
		t.Errorf("delete: %+v", got[2])
	}
	stop()
	if err := m.Handle(ctx, saved("b", 1, "sha256:b", "bob", "Bee", 4)); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Errorf("a change after stop was seen: %+v", got[3:])
	}
}
