package spells_test

import (
	"context"
	"errors"
	"os"
	"reflect"
	"testing"

	"github.com/grimoire-run/grimoire/events/embedded"
	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/server/spells"
)

func parse(t *testing.T, doc []byte) *graph.Spell {
	t.Helper()
	s, _, err := graph.ParseSpell(doc)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Loads decode each saved version once and share it; a new version, saved
// through another Library on the same store (another process, say), is
// seen by the next load; a delete hides the spell and keeps its versions.
func TestLibraryLoadsFollowTheStream(t *testing.T) {
	st, err := embedded.Open(embedded.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	doc, err := os.ReadFile("../../examples/hello.json")
	if err != nil {
		t.Fatal(err)
	}
	lib, other := &spells.Library{Store: st}, &spells.Library{Store: st}

	v1, err := lib.Save(ctx, parse(t, doc), "alice")
	if err != nil {
		t.Fatal(err)
	}
	a, va, err := lib.Get(ctx, "hello")
	if err != nil {
		t.Fatal(err)
	}
	b, vb, err := lib.Get(ctx, "hello")
	if err != nil {
		t.Fatal(err)
	}
	if a != b || !reflect.DeepEqual(va, vb) || va.Hash != v1.Hash || va.Version != 1 || va.Owner != "alice" {
		t.Fatalf("two loads of one version: %p %+v, %p %+v (saved %+v)", a, va, b, vb, v1)
	}

	changed := parse(t, doc)
	changed.Name = "Hello again"
	v2, err := other.Save(ctx, changed, "alice")
	if err != nil {
		t.Fatal(err)
	}
	c, vc, err := lib.Get(ctx, "hello")
	if err != nil {
		t.Fatal(err)
	}
	if vc.Version != 2 || vc.Hash != v2.Hash || c.Name != "Hello again" {
		t.Fatalf("after another library saved version 2: %+v %q", vc, c.Name)
	}
	if old, vo, err := lib.GetVersion(ctx, "hello", v1.Hash); err != nil || old != a || vo.Version != 1 {
		t.Fatalf("version 1 by hash: %p %+v %v", old, vo, err)
	}

	if err := other.Delete(ctx, "hello", "alice"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := lib.Get(ctx, "hello"); !errors.Is(err, spells.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if _, vo, err := lib.GetVersion(ctx, "hello", v2.Hash); err != nil || vo.Version != 2 {
		t.Fatalf("a deleted spell's version stays loadable: %+v %v", vo, err)
	}
}
