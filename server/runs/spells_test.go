package runs_test

import (
	"context"
	"testing"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/events/recorder/recordertest"
	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/server/runs"
	"github.com/grimoire-run/grimoire/server/spells"
)

// The executor keeps the spells it runs through the spell library: a
// version already saved (by anyone, even an older one) is not saved
// again, an edited version of another user's spell is kept without taking
// the spell over, and every run's version loads back by hash.
func TestRunsKeepTheirSpellVersionThroughTheLibrary(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	defer st.Close()
	lib := &spells.Library{Store: st}
	ex, err := runs.New(runs.Options{Store: st, Library: lib, Runner: &graph.Runner{Catalog: recordertest.NewCatalog(recordertest.Options{})}})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close(ctx)

	v1 := recordertest.Chain("shared", 2, 0, 0)
	if _, err := lib.Save(ctx, v1, "ada"); err != nil {
		t.Fatal(err)
	}
	v2 := recordertest.Chain("shared", 3, 0, 0)
	if _, err := lib.Save(ctx, v2, "ada"); err != nil {
		t.Fatal(err)
	}
	edited := recordertest.Chain("shared", 4, 0, 0)

	for _, tc := range []struct {
		name  string
		spell *graph.Spell
		user  string
		want  int // SpellSaved events in spell-shared afterwards
	}{
		{"the latest version, by its owner", v2, "ada", 2},
		{"an older version, by another user", v1, "bob", 2},
		{"an edited version, by another user", edited, "bob", 3},
		{"the edited version again", edited, "bob", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ex.Start(ctx, runs.RunSpec{Spell: tc.spell, User: tc.user, Source: "rest"})
			if err != nil {
				t.Fatal(err)
			}
			if o := wait(t, r); o.Status != runs.StatusCompleted {
				t.Fatalf("outcome %+v", o)
			}
			hist, err := lib.History(ctx, "shared")
			if err != nil {
				t.Fatal(err)
			}
			if len(hist) != tc.want {
				t.Fatalf("%d versions saved, want %d: %+v", len(hist), tc.want, hist)
			}
			for _, v := range hist {
				if v.Owner != "ada" {
					t.Fatalf("version %d owned by %q, want ada", v.Version, v.Owner)
				}
			}
			_, payloads := readRun(t, st, r.ID())
			req := payloads[0].(events.RunRequested)
			back, _, err := lib.GetVersion(ctx, "shared", req.SpellHash)
			if err != nil || graph.Hash(back) != graph.Hash(tc.spell) {
				t.Fatalf("run's spell version %s: %v", req.SpellHash, err)
			}
		})
	}
}
