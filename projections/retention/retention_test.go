package retention_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/events/embedded"
	pgstore "github.com/grimoire-run/grimoire/events/postgres"
	"github.com/grimoire-run/grimoire/projections"
	"github.com/grimoire-run/grimoire/projections/history"
	"github.com/grimoire-run/grimoire/projections/retention"
	"github.com/grimoire-run/grimoire/projections/runs"
	"github.com/grimoire-run/grimoire/projections/usage"
	"github.com/grimoire-run/grimoire/services/postgres"
	"github.com/grimoire-run/grimoire/services/postgres/pgtest"
)

var now = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// writeRun appends a run that started at `at` with nodes that each stream
// three chunks; end false leaves it unfinished.
func writeRun(t *testing.T, st events.Store, runID string, at time.Time, end bool) {
	t.Helper()
	seq := uint64(0)
	h := func() events.RunHeader {
		seq++
		return events.RunHeader{RunID: runID, Seq: seq, SpellID: "s", Time: at.Add(time.Duration(seq) * time.Second)}
	}
	evs := []events.EventData{events.MustEncode(&events.RunRequested{RunHeader: h(), User: "ann"})}
	for i := range 2 {
		ref := events.NodeRef{NodeID: fmt.Sprint("llm", i), NodeType: "Generator", Activation: 1}
		evs = append(evs, events.MustEncode(&events.NodeStarted{RunHeader: h(), NodeRef: ref}))
		for c := range 3 {
			evs = append(evs, events.MustEncode(&events.NodeOutputChunk{RunHeader: h(), NodeRef: ref, Index: c, Text: "tok "}))
		}
		evs = append(evs, events.MustEncode(&events.NodeCompleted{RunHeader: h(), NodeRef: ref, Outputs: map[string]any{"result": "tok tok tok"},
			Duration: time.Second, Usage: &events.Usage{Model: "m", PromptTokens: 3, CompletionTokens: 3, TotalTokens: 6, Calls: 1}}))
	}
	if end {
		evs = append(evs, events.MustEncode(&events.RunCompleted{RunHeader: h(), Outputs: map[string]any{"answer": "tok tok tok"}}))
	}
	if _, err := st.Append(context.Background(), events.RunStream(runID), events.NoStream, evs...); err != nil {
		t.Fatal(err)
	}
}

// withoutChunks is a timeline with chunk counts cleared (the one thing
// retention changes).
func withoutChunks(t *testing.T, st events.Store, runID string) *history.Timeline {
	t.Helper()
	tl, err := history.LoadTimeline(context.Background(), st, runID)
	if err != nil {
		t.Fatal(err)
	}
	tl.Events = 0
	for i := range tl.Steps {
		tl.Steps[i].Chunks = 0
	}
	return tl
}

func TestRetentionDropsOldTokenChunksAndTheLogStaysConsistent(t *testing.T) {
	inner, err := embedded.Open(embedded.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	testRetention(t, inner) // the real embedded store, which implements retention.Pruner
}

// The same on the PostgreSQL store, in a fresh schema of the test database.
func TestRetentionOnPostgreSQL(t *testing.T) {
	db := pgtest.Open(t, postgres.Options{})
	inner, err := pgstore.Open(context.Background(), pgstore.Options{DB: db, Schema: pgtest.FreshSchema(t, db)})
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	testRetention(t, inner)
}

func testRetention(t *testing.T, inner events.Store) {
	ctx := context.Background()
	st := inner
	writeRun(t, st, "old-done", now.AddDate(0, 0, -40), true)
	writeRun(t, st, "old-open", now.AddDate(0, 0, -40), false)
	writeRun(t, st, "new-done", now.AddDate(0, 0, -1), true)

	model, _ := runs.Open(runs.Options{})
	if _, err := projections.Replay(ctx, st, model); err != nil {
		t.Fatal(err)
	}
	um, _ := usage.Open(usage.Options{})
	if _, err := projections.Replay(ctx, st, um); err != nil {
		t.Fatal(err)
	}
	usageBefore, _ := um.Report(usage.Query{GroupBy: []string{usage.ByUser, usage.ByModel, usage.ByDay}})
	before := map[string]*history.Timeline{}
	for _, id := range []string{"old-done", "old-open", "new-done"} {
		before[id] = withoutChunks(t, st, id)
	}
	policy := retention.Policy{ChunksOlderThan: 30 * 24 * time.Hour, Now: func() time.Time { return now }}

	dry := policy
	dry.DryRun = true
	rep, err := retention.Apply(ctx, st, model, dry)
	if err != nil {
		t.Fatal(err)
	}
	if all, _ := st.ReadAll(ctx, events.Start, 0); rep.Runs != 1 || rep.Dropped != 6 || len(all) != 35 { // 3 runs of 1+2*5 events, 2 of them with a terminal event
		t.Fatalf("dry run: %+v, the log holds %d events", rep, len(all))
	}
	// A store that cannot delete says so (a dry run still reports).
	appendOnly := struct{ events.Store }{inner} // no Prune method
	if _, err := retention.Apply(ctx, appendOnly, model, policy); !errors.Is(err, retention.ErrCannotPrune) {
		t.Errorf("apply on a store without Prune: %v", err)
	}
	rep, err = retention.Apply(ctx, st, model, policy)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Runs != 1 || rep.Pruned != 1 || rep.Dropped != 6 {
		t.Fatalf("apply: %+v", rep)
	}

	// Only the old finished run lost its chunks, and only its chunks.
	for id, chunks := range map[string]int{"old-done": 0, "old-open": 6, "new-done": 6} {
		evs, err := st.ReadStream(ctx, events.RunStream(id), 0, events.Forwards, 0)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range evs {
			if e.Type == events.TypeNodeOutputChunk {
				n++
			}
		}
		if n != chunks {
			t.Errorf("run %s has %d chunks, want %d", id, n, chunks)
		}
		if evs[0].Type != events.TypeRunRequested {
			t.Errorf("run %s now starts with %s", id, evs[0].Type)
		}
		if got := withoutChunks(t, st, id); !reflect.DeepEqual(got, before[id]) {
			t.Errorf("run %s reads differently after retention:\n got %+v\nwant %+v", id, got, before[id])
		}
	}
	// Read models rebuilt from the pruned log agree (but for chunk counts).
	rebuilt, _ := runs.Open(runs.Options{})
	if _, err := projections.Replay(ctx, st, rebuilt); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"old-done", "old-open", "new-done"} {
		a, _ := model.Get(id)
		b, _ := rebuilt.Get(id)
		a.Nodes.Chunks, b.Nodes.Chunks, a.LastSeq, b.LastSeq = 0, 0, 0, 0
		if !reflect.DeepEqual(a, b) {
			t.Errorf("runs model of %s after a rebuild:\n got %+v\nwant %+v", id, b, a)
		}
	}
	um2, _ := usage.Open(usage.Options{})
	if _, err := projections.Replay(ctx, st, um2); err != nil {
		t.Fatal(err)
	}
	if usageAfter, _ := um2.Report(usage.Query{GroupBy: []string{usage.ByUser, usage.ByModel, usage.ByDay}}); !reflect.DeepEqual(usageAfter, usageBefore) {
		t.Errorf("usage after retention %+v, want %+v", usageAfter, usageBefore)
	}
	// The stream cannot fork: the next append still expects the last revision.
	last, _ := st.ReadStream(ctx, events.RunStream("old-done"), events.End, events.Backwards, 1)
	if _, err := st.Append(ctx, events.RunStream("old-done"), events.Exact(last[0].Revision-1), events.EventData{Type: "X", Data: []byte(`{}`)}); !errors.Is(err, events.ErrWrongExpectedRevision) {
		t.Errorf("append at a stale revision after pruning: %v", err)
	}
	// Applying again drops nothing.
	if rep, err := retention.Apply(ctx, st, model, policy); err != nil || rep.Dropped != 0 {
		t.Errorf("second apply: %+v, %v", rep, err)
	}
	if _, err := retention.Apply(ctx, st, model, retention.Policy{}); err == nil {
		t.Error("a policy without an age was accepted")
	}
}
