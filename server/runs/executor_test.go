package runs_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/events/embedded"
	"github.com/grimoire-run/grimoire/events/recorder/recordertest"
	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/server/runs"
)

func openStore(t testing.TB, dir string) *embedded.Store {
	t.Helper()
	st, err := embedded.Open(embedded.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func newExecutor(t testing.TB, st events.Store, cat graph.Catalog) *runs.Executor {
	t.Helper()
	ex, err := runs.New(runs.Options{Store: st, Runner: &graph.Runner{Catalog: cat}})
	if err != nil {
		t.Fatal(err)
	}
	return ex
}

func readRun(t testing.TB, st events.Store, runID string) ([]events.RecordedEvent, []any) {
	t.Helper()
	recs, err := st.ReadStream(context.Background(), events.RunStream(runID), 0, events.Forwards, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]any, len(recs))
	for i, r := range recs {
		if out[i], err = events.Decode(r); err != nil {
			t.Fatal(err)
		}
	}
	return recs, out
}

func wait(t testing.TB, r *runs.Run) *runs.Outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	o, err := r.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestARunIsRecordedFromRequestToCompletion(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	ex := newExecutor(t, st, recordertest.NewCatalog(recordertest.Options{}))
	defer ex.Close(context.Background())

	s := recordertest.Chain("greet", 3, 0, 10)
	var ids []string
	for range 2 {
		r, err := ex.Start(context.Background(), runs.RunSpec{
			Spell: s, Inputs: map[string]any{"name": "Ada"}, InputOrder: []string{"name"}, AllowExtraInputs: true,
			User: "ada", Source: "cli", CorrelationID: "corr",
		})
		if err != nil {
			t.Fatal(err)
		}
		o := wait(t, r)
		if o.Status != runs.StatusCompleted || o.Outputs["result"] != ">w001>w002>w003" || o.RecordErr != nil {
			t.Fatalf("outcome %+v", o)
		}
		if o.Usage == nil || o.Usage.CompletionTokens != 30 {
			t.Fatalf("usage %+v", o.Usage)
		}
		ids = append(ids, r.ID())
	}
	if len(ids[0]) != 26 || ids[0][:10] > ids[1][:10] {
		t.Fatalf("run ids %v: want sortable ULID-like ids", ids)
	}

	recs, payloads := readRun(t, st, ids[0])
	req, ok := payloads[0].(events.RunRequested)
	if !ok || req.User != "ada" || req.Source != "cli" || req.Inputs["name"] != "Ada" || req.SpellID != "greet" || req.SpellHash != graph.Hash(s) || req.CorrelationID != "corr" || req.Seq != 1 {
		t.Fatalf("first event %+v", payloads[0])
	}
	done, ok := payloads[len(payloads)-1].(events.RunCompleted)
	if !ok || done.Outputs["result"] != ">w001>w002>w003" || done.Duration <= 0 || done.Seq != uint64(len(recs)) {
		t.Fatalf("last event %+v", payloads[len(payloads)-1])
	}

	// The spell version is in the log once, loadable by hash.
	saved, err := st.ReadStream(context.Background(), events.SpellStream("greet"), 0, events.Forwards, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(saved) != 1 {
		t.Fatalf("%d SpellSaved events for one version, want 1", len(saved))
	}
	v, _ := events.Decode(saved[0])
	ss := v.(events.SpellSaved)
	back, _, err := graph.ParseSpell(ss.Graph)
	if err != nil || graph.Hash(back) != ss.Hash || ss.Hash != graph.Hash(s) || ss.Version != 1 {
		t.Fatalf("SpellSaved %+v: %v", ss, err)
	}
}

func TestRunEndings(t *testing.T) {
	failing := recordertest.Chain("failing", 2, 0, 0)
	failing.Nodes[2].Config = map[string]any{"fail": true} // w002

	slow := recordertest.Chain("slow", 1, time.Minute, 0)

	for _, tc := range []struct {
		name   string
		spell  *graph.Spell
		cancel bool
		want   string
		check  func(t *testing.T, last any)
	}{
		{"a failing node fails the run", failing, false, runs.StatusFailed, func(t *testing.T, last any) {
			f, ok := last.(events.RunFailed)
			if !ok || f.NodeID != "w002" || !strings.Contains(f.Error, "failed as configured") {
				t.Fatalf("last event %+v", last)
			}
		}},
		{"cancel stops a slow run", slow, true, runs.StatusCancelled, func(t *testing.T, last any) {
			c, ok := last.(events.RunCancelled)
			if !ok || c.Reason != "user pressed stop" {
				t.Fatalf("last event %+v", last)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := openStore(t, t.TempDir())
			defer st.Close()
			ex := newExecutor(t, st, recordertest.NewCatalog(recordertest.Options{}))
			defer ex.Close(context.Background())
			r, err := ex.Start(context.Background(), runs.RunSpec{Spell: tc.spell})
			if err != nil {
				t.Fatal(err)
			}
			if tc.cancel {
				time.Sleep(20 * time.Millisecond)
				if !ex.Cancel(r.ID(), "user pressed stop") {
					t.Fatal("Cancel: run not found")
				}
			}
			o := wait(t, r)
			if o.Status != tc.want {
				t.Fatalf("status %q, want %q (%+v)", o.Status, tc.want, o)
			}
			_, payloads := readRun(t, st, r.ID())
			tc.check(t, payloads[len(payloads)-1])
			if _, still := ex.Get(r.ID()); still {
				t.Fatal("ended run still listed as active")
			}
		})
	}
}

func TestStartRefusesBadRequests(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	ex, err := runs.New(runs.Options{Store: st, Runner: &graph.Runner{Catalog: recordertest.NewCatalog(recordertest.Options{})}, MaxInputBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close(context.Background())
	s := recordertest.Chain("s", 1, 0, 0)

	r, err := ex.Start(context.Background(), runs.RunSpec{RunID: "fixed", Spell: s})
	if err != nil {
		t.Fatal(err)
	}
	wait(t, r)
	for _, tc := range []struct {
		name string
		spec runs.RunSpec
		want error
	}{
		{"run id used before", runs.RunSpec{RunID: "fixed", Spell: s}, runs.ErrRunExists},
		{"inputs too large", runs.RunSpec{Spell: s, Inputs: map[string]any{"x": strings.Repeat("a", 200)}}, runs.ErrInputsTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ex.Start(context.Background(), tc.spec); !errors.Is(err, tc.want) {
				t.Fatalf("Start: %v, want %v", err, tc.want)
			}
		})
	}
	// The refused duplicate left the first run's stream as it was.
	recs, _ := readRun(t, st, "fixed")
	if recs[len(recs)-1].Type != events.TypeRunCompleted {
		t.Fatalf("stream of the first run changed: ends with %s", recs[len(recs)-1].Type)
	}
}

func TestAnInterruptedRunResumesWithoutRepeatingCompletedNodes(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	defer st.Close()
	var first recordertest.ExecLog
	ex := newExecutor(t, st, recordertest.NewCatalog(recordertest.Options{OnExec: first.Exec}))
	s := recordertest.Chain("long", 6, 25*time.Millisecond, 0)
	r, err := ex.Start(context.Background(), runs.RunSpec{Spell: s, User: "u"})
	if err != nil {
		t.Fatal(err)
	}
	for first.Total() < 3 {
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	ex.Close(ctx)
	cancel()
	if o := wait(t, r); o.Status != runs.StatusInterrupted {
		t.Fatalf("status %q, want interrupted", o.Status)
	}
	recs, _ := readRun(t, st, r.ID())
	for _, e := range recs {
		if e.Type == events.TypeRunCancelled || e.Type == events.TypeRunCompleted || e.Type == events.TypeRunFailed {
			t.Fatalf("interrupted run got terminal %s", e.Type)
		}
	}

	var second recordertest.ExecLog
	ex2 := newExecutor(t, st, recordertest.NewCatalog(recordertest.Options{OnExec: second.Exec}))
	defer ex2.Close(context.Background())
	resumed, err := ex2.Resume(context.Background())
	if err != nil || len(resumed) != 1 || resumed[0].ID() != r.ID() {
		t.Fatalf("Resume: %v, %d runs", err, len(resumed))
	}
	o := wait(t, resumed[0])
	if o.Status != runs.StatusCompleted || o.Outputs["result"] != ">w001>w002>w003>w004>w005>w006" {
		t.Fatalf("resumed outcome %+v", o)
	}
	_, payloads := readRun(t, st, r.ID())
	completedBefore := map[string]bool{}
	resumedAt := -1
	for i, p := range payloads {
		switch e := p.(type) {
		case events.NodeCompleted:
			if resumedAt < 0 {
				completedBefore[e.NodeID] = true
			}
		case events.RunResumed:
			resumedAt = i
		}
	}
	if resumedAt < 0 || len(completedBefore) == 0 {
		t.Fatalf("resumed at %d, %d nodes completed before", resumedAt, len(completedBefore))
	}
	for id := range completedBefore {
		if second.Count(id) != 0 {
			t.Errorf("%s completed before the interruption and ran again", id)
		}
	}
	if first.Total()+second.Total() > 6+1 {
		t.Errorf("%d + %d executions for 6 nodes: at most the one in flight may repeat", first.Total(), second.Total())
	}
	// Nothing is left to resume.
	if again, err := ex2.Resume(context.Background()); err != nil || len(again) != 0 {
		t.Fatalf("second Resume: %v, %d runs", err, len(again))
	}
}

func TestRunIDsSortByTime(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	prev := ""
	for i := range 50 {
		id := runs.NewRunID(t0.Add(time.Duration(i) * time.Millisecond))
		if len(id) != 26 || id <= prev {
			t.Fatalf("id %d %q after %q", i, id, prev)
		}
		prev = id
	}
}

// TestAnAwaitedRunIsDurableWhenItEnds: a run whose caller waits for it
// (REST mode=sync) skips the sync before it starts, records the same
// history, and refuses a run id that already has a stream before running.
func TestAnAwaitedRunIsDurableWhenItEnds(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	ex := newExecutor(t, st, recordertest.NewCatalog(recordertest.Options{}))
	defer ex.Close(context.Background())

	s := recordertest.Chain("greet", 2, 0, 0)
	r, err := ex.Start(context.Background(), runs.RunSpec{RunID: "awaited-1", Spell: s, Inputs: map[string]any{"name": "Ada"}, Awaited: true, AllowExtraInputs: true})
	if err != nil {
		t.Fatal(err)
	}
	if o := wait(t, r); o.Status != runs.StatusCompleted || o.RecordErr != nil {
		t.Fatalf("outcome %+v", o)
	}
	recs, payloads := readRun(t, st, "awaited-1")
	if _, ok := payloads[0].(events.RunRequested); !ok {
		t.Fatalf("first event %T", payloads[0])
	}
	if _, ok := payloads[len(payloads)-1].(events.RunCompleted); !ok {
		t.Fatalf("last event %T", payloads[len(payloads)-1])
	}
	for i, rec := range recs {
		if rec.Revision != uint64(i) {
			t.Fatalf("event %d has revision %d", i, rec.Revision)
		}
	}
	if _, err := ex.Start(context.Background(), runs.RunSpec{RunID: "awaited-1", Spell: s, Awaited: true}); !errors.Is(err, runs.ErrRunExists) {
		t.Fatalf("a second awaited run with the same id: %v, want ErrRunExists", err)
	}
	if again, _ := readRun(t, st, "awaited-1"); len(again) != len(recs) {
		t.Fatalf("the refused run wrote to the stream: %d events, had %d", len(again), len(recs))
	}
}

// slowBus holds every Publish until released.
type slowBus struct {
	release   chan struct{}
	published atomic.Int64
}

func (b *slowBus) Publish(ctx context.Context, evs ...events.RecordedEvent) error {
	select {
	case <-b.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	b.published.Add(int64(len(evs)))
	return nil
}

// A run's caller is answered once the run's end is durable, without
// waiting for the bus; Close waits until the bus has every event.
func TestWaitAnswersWhenDurableAndCloseWaitsForTheBus(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	b := &slowBus{release: make(chan struct{})}
	ex, err := runs.New(runs.Options{Store: st, Bus: b, Runner: &graph.Runner{Catalog: recordertest.NewCatalog(recordertest.Options{})}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := ex.Start(context.Background(), runs.RunSpec{Spell: recordertest.Chain("quick", 2, 0, 10), Awaited: true})
	if err != nil {
		t.Fatal(err)
	}
	o := wait(t, r)
	if o.Status != runs.StatusCompleted {
		t.Fatalf("outcome %+v", o)
	}
	recs, _ := readRun(t, st, r.ID())
	if recs[len(recs)-1].Type != events.TypeRunCompleted || b.published.Load() != 0 {
		t.Fatalf("after Wait: last event %s, %d published", recs[len(recs)-1].Type, b.published.Load())
	}
	closed := make(chan struct{})
	go func() { ex.Close(context.Background()); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned while the bus still held the run's events")
	case <-time.After(100 * time.Millisecond):
	}
	close(b.release)
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return after the bus let go")
	}
	if b.published.Load() != int64(len(recs)) {
		t.Fatalf("published %d of %d events", b.published.Load(), len(recs))
	}
}
