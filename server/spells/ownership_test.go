package spells_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"testing"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/events/embedded"
	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/server/spells"
)

func newLibrary(t *testing.T) *spells.Library {
	t.Helper()
	st, err := embedded.Open(embedded.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &spells.Library{Store: st}
}

// spellWithID is examples/hello.json saved under id, its greeting changed
// so that each call can make a new version.
func spellWithID(t *testing.T, id, name string) *graph.Spell {
	t.Helper()
	doc, err := os.ReadFile("../../examples/hello.json")
	if err != nil {
		t.Fatal(err)
	}
	s := parse(t, doc)
	s.ID, s.Name = id, name
	return s
}

// A spell id is its first owner's for good: after a delete nobody else can
// claim it, its owner can save it again, and a new tombstone keeps the
// owner too.
func TestDeletedSpellIDStaysItsOwners(t *testing.T) {
	ctx := context.Background()
	lib := newLibrary(t)
	if _, err := lib.Save(ctx, spellWithID(t, "notes", "Notes"), "alice"); err != nil {
		t.Fatal(err)
	}
	if err := lib.Delete(ctx, "notes", "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := lib.Save(ctx, spellWithID(t, "notes", "Bob's notes"), "bob"); !errors.Is(err, spells.ErrForbidden) {
		t.Fatalf("bob claims alice's deleted id: %v, want ErrForbidden", err)
	}
	v, err := lib.Save(ctx, spellWithID(t, "notes", "Notes again"), "alice")
	if err != nil {
		t.Fatalf("alice saves her deleted spell again: %v", err)
	}
	if v.Owner != "alice" || v.Version != 2 {
		t.Fatalf("resaved version %+v, want alice's version 2", v)
	}
	if err := lib.Delete(ctx, "notes", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := lib.Save(ctx, spellWithID(t, "notes", "Bob's notes"), "bob"); !errors.Is(err, spells.ErrForbidden) {
		t.Fatalf("bob claims the id after an admin's delete: %v, want ErrForbidden", err)
	}
}

// A tombstone recorded before SpellDeleted carried the owner still keeps
// the id its owner's: the last save's metadata says who that is.
func TestOldTombstoneKeepsItsOwner(t *testing.T) {
	ctx := context.Background()
	lib := newLibrary(t)
	v, err := lib.Save(ctx, spellWithID(t, "old", "Old"), "alice")
	if err != nil {
		t.Fatal(err)
	}
	ev, err := events.Encode(events.SpellDeleted{SpellID: "old", Version: v.Version, User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lib.Store.Append(ctx, events.SpellStream("old"), events.Any, ev); err != nil {
		t.Fatal(err)
	}
	if _, err := lib.Save(ctx, spellWithID(t, "old", "Bob's"), "bob"); !errors.Is(err, spells.ErrForbidden) {
		t.Fatalf("bob claims an old tombstone: %v, want ErrForbidden", err)
	}
}

// Sharing: only the owner shares; the latest version carries it, and a
// new save keeps it; readers are normalized; ReadableBy follows it.
func TestSharingIsTheOwnersAndOutlivesNewVersions(t *testing.T) {
	ctx := context.Background()
	lib := newLibrary(t)
	if _, err := lib.Save(ctx, spellWithID(t, "summarize", "Summarize"), "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := lib.Share(ctx, "summarize", "bob", events.Sharing{Public: true}); !errors.Is(err, spells.ErrForbidden) {
		t.Fatalf("bob shares alice's spell: %v, want ErrForbidden", err)
	}
	if _, err := lib.Share(ctx, "missing", "alice", events.Sharing{Public: true}); !errors.Is(err, spells.ErrNotFound) {
		t.Fatalf("share a missing spell: %v, want ErrNotFound", err)
	}
	v, err := lib.Share(ctx, "summarize", "alice", events.Sharing{Readers: []string{" carol", "bob", "alice", "bob", ""}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"bob", "carol"}; !slices.Equal(v.Sharing.Readers, want) || v.Sharing.Public {
		t.Fatalf("sharing %+v, want readers %v", v.Sharing, want)
	}
	_, got, err := lib.Get(ctx, "summarize")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Sharing.Readers, v.Sharing.Readers) || !got.ReadableBy("bob") || got.ReadableBy("mallory") || !got.ReadableBy("alice") {
		t.Fatalf("loaded %+v: bob and alice read it, mallory does not", got)
	}
	next, err := lib.Save(ctx, spellWithID(t, "summarize", "Summarize v2"), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if next.Version != 2 || !slices.Equal(next.Sharing.Readers, v.Sharing.Readers) {
		t.Fatalf("new version %+v lost its sharing", next)
	}
	if _, got, _ = lib.Get(ctx, "summarize"); !got.ReadableBy("carol") {
		t.Fatalf("after a new save, carol cannot read it: %+v", got)
	}
	if _, err := lib.Share(ctx, "summarize", "", events.Sharing{}); err != nil {
		t.Fatalf("an admin unshares: %v", err)
	}
	if _, got, _ = lib.Get(ctx, "summarize"); got.ReadableBy("bob") {
		t.Fatalf("unshared spell still readable by bob: %+v", got)
	}
}

// Sub-spells resolve for a run's user only among what that user may run,
// and another user's spell only by its owner-qualified name.
func TestSubSpellsResolveOnlyWhatTheRunsUserMayRun(t *testing.T) {
	ctx := context.Background()
	lib := newLibrary(t)
	for _, s := range []struct{ id, owner string }{{"private", "alice"}, {"shared", "alice"}, {"library", ""}, {"mine", "bob"}} {
		if _, err := lib.Save(ctx, spellWithID(t, s.id, s.id), s.owner); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := lib.Share(ctx, "shared", "alice", events.Sharing{Readers: []string{"bob"}}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		user, ref string
		want      error
	}{
		{"bob", "private", spells.ErrForbidden},       // alice's private spell, plain id
		{"bob", "alice/private", spells.ErrForbidden}, // named with its owner, not shared
		{"bob", "shared", spells.ErrForbidden},        // shared, but a plain id could be a squatter's
		{"bob", "alice/shared", nil},
		{"bob", "carol/shared", spells.ErrNotFound}, // not carol's
		{"bob", "library", nil},                     // the operator's, every user's
		{"bob", "mine", nil},
		{"bob", "bob/mine", nil},
		{"bob", "missing", spells.ErrNotFound},
		{"alice", "mine", spells.ErrForbidden}, // bob's spell under an id alice might expect
		{"", "private", nil},                   // the operator's run
	}
	for _, c := range cases {
		s, err := lib.LoadSpell(ctx, c.user, c.ref)
		switch {
		case c.want == nil && (err != nil || s == nil):
			t.Errorf("%s loads %q: %v, want the spell", c.user, c.ref, err)
		case c.want != nil && !errors.Is(err, c.want):
			t.Errorf("%s loads %q: %v, want %v", c.user, c.ref, err, c.want)
		}
	}
}
