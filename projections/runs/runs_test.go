package runs_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/projections"
	"github.com/grimoire-run/grimoire/projections/internal/projtest"
	"github.com/grimoire-run/grimoire/projections/runs"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func hdr(runID string, seq uint64, at time.Time) events.RunHeader {
	return events.RunHeader{RunID: runID, Seq: seq, SpellID: "spell-" + runID[:1], SpellHash: "sha256:x", Time: at}
}

// runEvents writes a plausible run: requested, nodes started and
// completed (with usage), then the given end (nil for a run in progress).
func runEvents(runID, user string, at time.Time, nodes int, end any) []events.EventData {
	var evs []events.EventData
	seq := uint64(0)
	next := func() events.RunHeader { seq++; return hdr(runID, seq, at.Add(time.Duration(seq)*time.Millisecond)) }
	evs = append(evs, events.MustEncode(&events.RunRequested{RunHeader: next(), User: user, Source: "cli", Inputs: map[string]any{"q": "hello"}}))
	for i := range nodes {
		ref := events.NodeRef{NodeID: fmt.Sprintf("n%d", i), NodeType: "LLM", Activation: 1}
		evs = append(evs, events.MustEncode(&events.NodeStarted{RunHeader: next(), NodeRef: ref}))
		evs = append(evs, events.MustEncode(&events.NodeOutputChunk{RunHeader: next(), NodeRef: ref, Text: "some tokens"}))
		evs = append(evs, events.MustEncode(&events.NodeCompleted{RunHeader: next(), NodeRef: ref,
			Outputs: map[string]any{"text": "an answer of a few words"}, Duration: time.Millisecond,
			Usage: &events.Usage{Model: "m", PromptTokens: 10, CompletionTokens: 5, TotalTokens: 15, Calls: 1}}))
	}
	switch e := end.(type) {
	case *events.RunCompleted:
		e.RunHeader = next()
		evs = append(evs, events.MustEncode(e))
	case *events.RunFailed:
		e.RunHeader = next()
		evs = append(evs, events.MustEncode(e))
	case *events.RunCancelled:
		e.RunHeader = next()
		evs = append(evs, events.MustEncode(e))
	}
	return evs
}

func appendRun(t testing.TB, st events.Store, runID string, evs []events.EventData) events.AppendResult {
	t.Helper()
	res, err := st.Append(context.Background(), events.RunStream(runID), events.Any, evs...)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestTheRunsModelFollowsTheLog(t *testing.T) {
	st := projtest.OpenStore(t)
	m, _ := runs.Open(runs.Options{})
	r := projtest.Start(t, st, m)

	appendRun(t, st, "a1", runEvents("a1", "ada", t0, 3, &events.RunCompleted{Duration: 3 * time.Second}))
	appendRun(t, st, "b1", runEvents("b1", "bob", t0.Add(time.Minute), 1, &events.RunFailed{Error: "boom", NodeID: "n0", Duration: time.Second}))
	appendRun(t, st, "c1", runEvents("c1", "ada", t0.Add(2*time.Minute), 1, nil))
	projtest.CaughtUp(t, r, "runs")

	a, ok := m.Get("a1")
	if !ok || a.Status != runs.StatusCompleted || a.User != "ada" || a.SpellID != "spell-a" || a.Source != "cli" ||
		a.Nodes.Completed != 3 || a.Nodes.Started != 3 || a.Nodes.Chunks != 3 || a.Usage.TotalTokens != 45 || a.Usage.Calls != 3 ||
		a.Duration != 3*time.Second || !a.Started.Equal(t0.Add(time.Millisecond)) || a.Finished.IsZero() || a.LastSeq != 11 {
		t.Fatalf("a1: %+v", a)
	}
	if b, _ := m.Get("b1"); b.Status != runs.StatusFailed || b.Error != "boom" || b.ErrorNode != "n0" {
		t.Fatalf("b1: %+v", b)
	}
	if c, _ := m.Get("c1"); c.Status != runs.StatusRunning || !c.Finished.IsZero() {
		t.Fatalf("c1: %+v", c)
	}
	if ids, _ := m.Unfinished(context.Background()); !reflect.DeepEqual(ids, []string{"c1"}) {
		t.Fatalf("unfinished %v", ids)
	}

	// Events of other streams move the position, not the model.
	res, err := st.Append(context.Background(), events.SpellStream("x"), events.Any, events.MustEncode(&events.SpellSaved{SpellID: "x", Version: 1}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.WaitFor(ctx, "runs", res.Position); err != nil {
		t.Fatal(err)
	}
	sts, err := r.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s := sts[0]; s.Name != "runs" || s.Head != res.Position || s.Lag != 0 || !s.Healthy || s.Checkpoint != res.Position-1 || s.Handled != 11+4+5 {
		t.Fatalf("status %+v", s)
	}
}

func TestAnEventSeenTwiceChangesNothing(t *testing.T) {
	st := projtest.OpenStore(t)
	appendRun(t, st, "a1", runEvents("a1", "ada", t0, 2, &events.RunCompleted{}))
	recs, err := st.ReadAll(context.Background(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := runs.Open(runs.Options{})
	for _, e := range recs {
		m.Handle(context.Background(), e)
	}
	once, _ := m.Get("a1")
	for _, e := range recs {
		m.Handle(context.Background(), e)
	}
	// Even with the checkpoint reset, per-run sequence numbers hold.
	fresh, _ := runs.Open(runs.Options{})
	for _, e := range append(recs, recs...) {
		e.Position += 1000 * uint64(e.Revision%2)
		fresh.Handle(context.Background(), e)
	}
	twice, _ := m.Get("a1")
	again, _ := fresh.Get("a1")
	if !reflect.DeepEqual(once, twice) || once.Nodes != again.Nodes || once.Usage != again.Usage {
		t.Fatalf("once %+v\ntwice %+v\nagain %+v", once, twice, again)
	}
}

func TestRebuildGivesTheSameModel(t *testing.T) {
	st := projtest.OpenStore(t)
	m, _ := runs.Open(runs.Options{})
	r := projtest.Start(t, st, m)
	for i := range 20 {
		var end any = &events.RunCompleted{}
		if i%3 == 0 {
			end = &events.RunCancelled{Reason: "stop"}
		}
		id := fmt.Sprintf("r%02d", i)
		appendRun(t, st, id, runEvents(id, "u", t0.Add(time.Duration(i)*time.Second), 2, end))
	}
	projtest.CaughtUp(t, r, "runs")
	before, _ := m.List(runs.Filter{Limit: 1000})

	if err := r.Rebuild(context.Background(), "runs"); err != nil {
		t.Fatal(err)
	}
	projtest.CaughtUp(t, r, "runs")
	after, _ := m.List(runs.Filter{Limit: 1000})
	if len(before.Runs) != 20 || !reflect.DeepEqual(before, after) {
		t.Fatalf("rebuilt model differs: %d vs %d runs", len(before.Runs), len(after.Runs))
	}

	// Offline replay builds the same model too.
	offline, _ := runs.Open(runs.Options{})
	if _, err := projections.Replay(context.Background(), st, offline); err != nil {
		t.Fatal(err)
	}
	if got, _ := offline.List(runs.Filter{Limit: 1000}); !reflect.DeepEqual(got, before) {
		t.Fatal("replayed model differs")
	}
}

func TestTheSnapshotSparesReplayingTheWholeLogAfterARestart(t *testing.T) {
	st := projtest.OpenStore(t)
	dir := t.TempDir()
	m, _ := runs.Open(runs.Options{Dir: dir})
	r, _ := projections.NewRunner(projections.Options{Store: st}, m)
	r.Start()
	appendRun(t, st, "a1", runEvents("a1", "ada", t0, 2, nil))
	projtest.CaughtUp(t, r, "runs")
	r.Close()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	cp, _ := m.Checkpoint(context.Background())

	m2, err := runs.Open(runs.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := m2.Checkpoint(context.Background()); got != cp || m2.Len() != 1 {
		t.Fatalf("reopened at %d with %d runs, want %d and 1", got, m2.Len(), cp)
	}
	r2 := projtest.Start(t, st, m2)
	appendRun(t, st, "a1", []events.EventData{events.MustEncode(&events.RunCompleted{RunHeader: hdr("a1", 8, t0.Add(time.Second))})})
	projtest.CaughtUp(t, r2, "runs")
	sts, _ := r2.Status(context.Background())
	if a, _ := m2.Get("a1"); a.Status != runs.StatusCompleted || a.Nodes.Completed != 2 || sts[0].Handled != 1 {
		t.Fatalf("after restart: %+v, handled %d", a, sts[0].Handled)
	}
}

func TestListFiltersAndPages(t *testing.T) {
	m, _ := runs.Open(runs.Options{})
	pos := uint64(0)
	handle := func(runID string, evs []events.EventData) {
		for i, ev := range evs {
			pos++
			m.Handle(context.Background(), events.RecordedEvent{Stream: events.RunStream(runID), Revision: uint64(i), Position: pos, Type: ev.Type, Data: ev.Data})
		}
	}
	for i := range 30 {
		user := []string{"ada", "bob"}[i%2]
		id := fmt.Sprintf("%c%02d", "ab"[i%3%2], i) // spell-a or spell-b
		var end any
		if i%5 != 0 {
			end = &events.RunCompleted{}
		}
		handle(id, runEvents(id, user, t0.Add(time.Duration(i)*time.Minute), 1, end))
	}
	all := func(f runs.Filter) []string {
		var ids []string
		for {
			p, err := m.List(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range p.Runs {
				ids = append(ids, r.RunID)
			}
			if p.Next == "" {
				return ids
			}
			f.Cursor = p.Next
		}
	}
	want := func(pred func(i int) bool) []string {
		var ids []string
		for i := 29; i >= 0; i-- {
			if pred(i) {
				ids = append(ids, fmt.Sprintf("%c%02d", "ab"[i%3%2], i))
			}
		}
		return ids
	}
	for _, tc := range []struct {
		name string
		f    runs.Filter
		want []string
	}{
		{"everything, newest first, in pages", runs.Filter{Limit: 7}, want(func(int) bool { return true })},
		{"by user", runs.Filter{User: "bob", Limit: 4}, want(func(i int) bool { return i%2 == 1 })},
		{"by spell", runs.Filter{SpellID: "spell-b", Limit: 3}, want(func(i int) bool { return i%3%2 == 1 })},
		{"unfinished", runs.Filter{Status: "unfinished"}, want(func(i int) bool { return i%5 == 0 })},
		{"completed by ada", runs.Filter{Status: runs.StatusCompleted, User: "ada", Limit: 2}, want(func(i int) bool { return i%5 != 0 && i%2 == 0 })},
		{"time window", runs.Filter{Since: t0.Add(10 * time.Minute), Until: t0.Add(20 * time.Minute), Limit: 3}, want(func(i int) bool { return i >= 10 && i < 20 })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := all(tc.f); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v\nwant %v", got, tc.want)
			}
		})
	}
	if _, err := m.List(runs.Filter{Cursor: "nonsense"}); !errors.Is(err, runs.ErrBadCursor) {
		t.Fatalf("bad cursor: %v", err)
	}
}

// A run that pauses for an answer lists as waiting (and unfinished); its
// answer and resume make it running again.
func TestAPausedRunIsWaitingUntilAnswered(t *testing.T) {
	st := projtest.OpenStore(t)
	m, _ := runs.Open(runs.Options{})
	r := projtest.Start(t, st, m)
	evs := runEvents("w1", "ada", t0, 1, nil)
	ref := events.NodeRef{NodeID: "ask", NodeType: "Ask", Activation: 1}
	evs = append(evs,
		events.MustEncode(&events.RunWaiting{RunHeader: hdr("w1", 5, t0), NodeRef: ref, Prompt: "ok?", AnsweredBy: []string{"ada"}}),
		events.MustEncode(&events.RunPaused{RunHeader: hdr("w1", 6, t0), Waiting: []events.NodeRef{ref}}))
	res := appendRun(t, st, "w1", evs)
	projtest.CaughtUp(t, r, "runs")
	if w, _ := m.Get("w1"); w.Status != runs.StatusWaiting {
		t.Fatalf("w1: %+v", w)
	}
	if page, _ := m.List(runs.Filter{Status: runs.StatusWaiting}); len(page.Runs) != 1 || page.Runs[0].RunID != "w1" {
		t.Fatalf("status=waiting lists %+v", page.Runs)
	}
	if ids, _ := m.Unfinished(context.Background()); !reflect.DeepEqual(ids, []string{"w1"}) {
		t.Fatalf("unfinished %v", ids)
	}
	if ids, _ := m.Running(context.Background()); len(ids) != 0 {
		t.Fatalf("running %v, want none: w1 waits", ids)
	}
	if _, err := st.Append(context.Background(), events.RunStream("w1"), events.Exact(res.NextRevision),
		events.MustEncode(&events.RunAnswered{RunHeader: hdr("w1", 7, t0), NodeRef: ref, Value: true, By: "ada"}),
		events.MustEncode(&events.RunResumed{RunHeader: hdr("w1", 8, t0), AfterSeq: 7})); err != nil {
		t.Fatal(err)
	}
	projtest.CaughtUp(t, r, "runs")
	if w, _ := m.Get("w1"); w.Status != runs.StatusRunning {
		t.Fatalf("answered w1: %+v", w)
	}
	if ids, _ := m.Running(context.Background()); !reflect.DeepEqual(ids, []string{"w1"}) {
		t.Fatalf("running %v after the answer", ids)
	}
}
