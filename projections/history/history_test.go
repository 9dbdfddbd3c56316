package history_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/events/embedded"
	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/projections/history"
	"github.com/grimoire-run/grimoire/projections/internal/testspell"
	"github.com/grimoire-run/grimoire/server/runs"
)

type fixture struct {
	exec   *runs.Executor
	store  *embedded.Store
	cat    *testspell.Catalog
	runner *graph.Runner
	spell  *graph.Spell
	load   history.LoadSpell
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := embedded.Open(embedded.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{store: st, cat: testspell.New(), spell: testspell.Spell()}
	f.runner = &graph.Runner{Catalog: f.cat}
	hash := graph.Hash(f.spell)
	f.load = func(_ context.Context, id, h string) (*graph.Spell, error) {
		if id != f.spell.ID || h != hash {
			return nil, errors.New("no such spell version")
		}
		return f.spell, nil
	}
	exec, err := runs.New(runs.Options{Store: st, Runner: f.runner})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exec.Close(context.Background()) })
	f.exec = exec
	return f
}

// start runs spec through the executor and waits for it to end.
func (f *fixture) start(t *testing.T, spec runs.RunSpec) *runs.Outcome {
	t.Helper()
	run, err := f.exec.Start(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	out, err := run.Wait(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (f *fixture) run(t *testing.T, runID, q string) *runs.Outcome {
	t.Helper()
	out := f.start(t, runs.RunSpec{RunID: runID, Spell: f.spell, Inputs: map[string]any{"q": q}, User: "ann", Source: "cli"})
	if out.Status != "completed" {
		t.Fatalf("run %s: %+v", runID, out)
	}
	return out
}

func TestTheTimelineShowsEachNodeWithStatusDurationAndOutputs(t *testing.T) {
	f := newFixture(t)
	f.run(t, "r1", "hello")
	tl, err := history.LoadTimeline(context.Background(), f.store, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if tl.Status != "completed" || tl.User != "ann" || tl.SpellID != "testspell" || tl.Outputs["upper"] != "HELLO" {
		t.Errorf("timeline header %+v", tl)
	}
	byNode := map[string]history.Step{}
	for _, s := range tl.Steps {
		byNode[s.NodeID] = s
	}
	for _, id := range []string{"in", "upper", "dice", "answer", "upper-out"} {
		if byNode[id].Status != "completed" {
			t.Errorf("node %s: status %q, want completed", id, byNode[id].Status)
		}
	}
	if byNode["upper"].Outputs["out"] != "HELLO" {
		t.Errorf("upper outputs %v", byNode["upper"].Outputs)
	}
	if _, err := history.LoadTimeline(context.Background(), f.store, "nope"); !errors.Is(err, history.ErrNotFound) {
		t.Errorf("unknown run: %v, want ErrNotFound", err)
	}
	if got := history.Cut(map[string]any{"text": strings.Repeat("x", 50)}, 12); len([]rune(got)) != 12 || !strings.HasSuffix(got, "…") {
		t.Errorf("Cut = %q", got)
	}
}

func TestVerifyReexecutesDeterministicNodesAndFindsChanges(t *testing.T) {
	f := newFixture(t)
	f.run(t, "r1", "hello")
	ctx := context.Background()
	rep, err := history.Verify(ctx, f.store, f.runner, f.load, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || !rep.OutputsMatch || rep.Replayed != 1 || rep.Executed < 2 {
		t.Errorf("verify of an unchanged run: %+v", rep)
	}
	if f.cat.Count("dice") != 1 {
		t.Errorf("the non-deterministic node ran again (%d times)", f.cat.Count("dice"))
	}
	// The deterministic node now behaves differently: Verify says where.
	f.cat.Lower.Store(true)
	rep, err = history.Verify(ctx, f.store, f.runner, f.load, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || rep.OutputsMatch || len(rep.Mismatches) == 0 || rep.Mismatches[0].NodeID != "upper" {
		t.Errorf("verify after a change: %+v", rep)
	}
}

func TestAForkReusesUpstreamOutputsAndRecordsItsParent(t *testing.T) {
	f := newFixture(t)
	f.run(t, "r1", "hello")
	ctx := context.Background()
	plan, err := history.PlanFork(ctx, f.store, f.runner, f.load, history.ForkRequest{ParentRunID: "r1", FromNode: "dice"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(plan.Recompute, ",") != "answer,dice" {
		t.Errorf("recompute %v, want answer,dice", plan.Recompute)
	}
	out := f.start(t, runs.ForkSpec(plan, "r2", "bob"))
	if out.Status != "completed" || out.Outputs["upper"] != "HELLO" || out.Outputs["answer"] == "HELLO#1" {
		t.Errorf("fork outcome %+v", out)
	}
	if f.cat.Count("upper") != 1 || f.cat.Count("dice") != 2 {
		t.Errorf("executions: upper %d (want 1, reused), dice %d (want 2, recomputed)", f.cat.Count("upper"), f.cat.Count("dice"))
	}
	tl, err := history.LoadTimeline(ctx, f.store, "r2")
	if err != nil {
		t.Fatal(err)
	}
	if tl.ParentRunID != "r1" || tl.Source != history.SourceFork {
		t.Errorf("fork's RunRequested: parent %q source %q", tl.ParentRunID, tl.Source)
	}
	for _, s := range tl.Steps {
		if s.NodeID == "upper" && (s.Status != "cached" || s.Source != "replay") {
			t.Errorf("upper in the fork: %s/%s, want cached/replay", s.Status, s.Source)
		}
	}
	evs, _ := f.store.ReadStream(ctx, events.RunStream("r2"), 0, events.Forwards, 1)
	var meta struct {
		ForkOf runs.ForkOrigin `json:"forkOf"`
	}
	_ = json.Unmarshal(evs[0].Metadata, &meta)
	if meta.ForkOf != (runs.ForkOrigin{RunID: "r1", NodeID: "dice"}) {
		t.Errorf("fork origin in metadata %s", evs[0].Metadata)
	}

	// New inputs recompute the nodes that read them.
	plan, err = history.PlanFork(ctx, f.store, f.runner, f.load, history.ForkRequest{ParentRunID: "r1", FromNode: "answer", Inputs: map[string]any{"q": "bye"}})
	if err != nil {
		t.Fatal(err)
	}
	out = f.start(t, runs.ForkSpec(plan, "r3", "bob"))
	if out.Outputs["upper"] != "BYE" {
		t.Errorf("fork with a new input: outputs %v", out.Outputs)
	}
	if _, err := history.PlanFork(ctx, f.store, f.runner, f.load, history.ForkRequest{ParentRunID: "r1", FromNode: "nope"}); !errors.Is(err, history.ErrNoSuchNode) {
		t.Errorf("fork from an unknown node: %v", err)
	}
}

func TestExportWritesEventsOrNodeResultsAsJSONLinesOrCSV(t *testing.T) {
	f := newFixture(t)
	f.run(t, "r1", "hello")
	mid := time.Now()
	time.Sleep(5 * time.Millisecond)
	f.run(t, "r2", "world")
	ctx := context.Background()
	all, _ := f.store.ReadAll(ctx, 0, 0)

	var buf bytes.Buffer
	var progressed bool
	st, err := history.Export(ctx, f.store, history.ExportOptions{Progress: func(done, total uint64) { progressed = done == total }}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(buf.String(), "\n"); lines != len(all) || int(st.Written) != len(all) || !progressed {
		t.Errorf("jsonl export: %d lines, stats %+v, log has %d events, progress done %v", lines, st, len(all), progressed)
	}

	buf.Reset()
	if _, err := history.Export(ctx, f.store, history.ExportOptions{Since: mid, What: history.WhatNodes, Format: history.FormatCSV}, &buf); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1+6 || rows[0][1] != "runId" {
		t.Fatalf("csv nodes export since the second run: %d rows %v", len(rows), rows)
	}
	for _, r := range rows[1:] {
		if r[1] != "r2" {
			t.Errorf("row of run %s in an export since r2 started", r[1])
		}
	}

	buf.Reset()
	if _, err := history.Export(ctx, f.store, history.ExportOptions{SpellID: "other"}, &buf); err != nil || buf.Len() != 0 {
		t.Errorf("export of another spell wrote %d bytes (err %v)", buf.Len(), err)
	}
	if _, err := history.Export(ctx, f.store, history.ExportOptions{Format: "xml"}, &buf); !errors.Is(err, history.ErrBadFormat) {
		t.Errorf("format xml: %v", err)
	}
}
