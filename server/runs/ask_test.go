package runs_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/nodes"
	"github.com/grimoire-run/grimoire/projections/history"
	"github.com/grimoire-run/grimoire/server/runs"
)

// askSpell asks to approve the run input "draft" (schema: {approved:
// boolean}); the answer becomes output "decision" and a timeout output
// "late". A parallel branch echoes the draft to output "echoed" without
// waiting.
func askSpell(ask map[string]any) *graph.Spell {
	cfg := map[string]any{
		"prompt": "Publish {{context}}?",
		"schema": map[string]any{"type": "object", "required": []any{"approved"},
			"properties": map[string]any{"approved": map[string]any{"type": "boolean"}}},
	}
	for k, v := range ask {
		cfg[k] = v
	}
	return &graph.Spell{ID: "approve",
		Nodes: []graph.Node{
			{ID: "start", Type: "Module Trigger In"},
			{ID: "draft", Type: "Input", Config: map[string]any{"name": "draft"}},
			{ID: "ask", Type: "Ask", Config: cfg},
			{ID: "decision", Type: "Output", Config: map[string]any{"name": "decision"}},
			{ID: "late", Type: "Output", Config: map[string]any{"name": "late"}},
			{ID: "echo", Type: "Echo"},
			{ID: "echoed", Type: "Output", Config: map[string]any{"name": "echoed"}},
		},
		Edges: []graph.Edge{
			{From: graph.PortRef{Node: "start", Port: "trigger"}, To: graph.PortRef{Node: "ask", Port: "trigger"}},
			{From: graph.PortRef{Node: "draft", Port: "output"}, To: graph.PortRef{Node: "ask", Port: "context"}},
			{From: graph.PortRef{Node: "ask", Port: "trigger"}, To: graph.PortRef{Node: "decision", Port: "trigger"}},
			{From: graph.PortRef{Node: "ask", Port: "answer"}, To: graph.PortRef{Node: "decision", Port: "input"}},
			{From: graph.PortRef{Node: "ask", Port: "timeout"}, To: graph.PortRef{Node: "late", Port: "trigger"}},
			{From: graph.PortRef{Node: "ask", Port: "answer"}, To: graph.PortRef{Node: "late", Port: "input"}},
			{From: graph.PortRef{Node: "start", Port: "trigger"}, To: graph.PortRef{Node: "echo", Port: "trigger"}},
			{From: graph.PortRef{Node: "draft", Port: "output"}, To: graph.PortRef{Node: "echo", Port: "string"}},
			{From: graph.PortRef{Node: "echo", Port: "trigger"}, To: graph.PortRef{Node: "echoed", Port: "trigger"}},
			{From: graph.PortRef{Node: "echo", Port: "output"}, To: graph.PortRef{Node: "echoed", Port: "input"}},
		}}
}

func startAsk(t testing.TB, ex *runs.Executor, s *graph.Spell, user string) *runs.Run {
	t.Helper()
	r, err := ex.Start(context.Background(), runs.RunSpec{Spell: s, Inputs: map[string]any{"draft": "the post"}, User: user})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func eventTypes(t testing.TB, st events.Store, runID string) []string {
	t.Helper()
	recs, _ := readRun(t, st, runID)
	var out []string
	for _, r := range recs {
		out = append(out, r.Type)
	}
	return out
}

func count(types []string, typ string) int {
	n := 0
	for _, t := range types {
		if t == typ {
			n++
		}
	}
	return n
}

// A run with an Ask node records the question, lets the parallel branch
// finish, ends waiting (no terminal event, nothing held), and an answer
// resumes it: the nodes that had completed are replayed, the answer flows
// downstream.
func TestAnAskedRunWaitsAndAnAnswerFinishesIt(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	ex := newExecutor(t, st, nodes.NewRegistry(nodes.Services{}))
	defer ex.Close(context.Background())

	r := startAsk(t, ex, askSpell(nil), "ada")
	o := wait(t, r)
	if o.Status != runs.StatusWaiting {
		t.Fatalf("outcome %+v, want waiting", o)
	}
	if len(ex.Active()) != 0 {
		t.Fatalf("a waiting run is still active: %v", ex.Active())
	}
	recs, payloads := readRun(t, st, r.ID())
	var asked *events.RunWaiting
	for _, p := range payloads {
		if w, ok := p.(events.RunWaiting); ok {
			asked = &w
		}
	}
	if asked == nil || asked.Prompt != "Publish the post?" || asked.NodeID != "ask" || asked.AnsweredBy[0] != "ada" || asked.Schema["type"] != "object" {
		t.Fatalf("RunWaiting %+v", asked)
	}
	types := eventTypes(t, st, r.ID())
	if last := types[len(types)-1]; last != events.TypeRunPaused {
		t.Fatalf("last event %s, want RunPaused: %v", last, types)
	}
	// The parallel branch completed while the question waited.
	echoed := false
	for _, p := range payloads {
		if c, ok := p.(events.NodeCompleted); ok && c.NodeID == "echo" && c.Outputs["output"] == "the post" {
			echoed = true
		}
	}
	if !echoed || count(types, events.TypeNodeSkipped) != 0 {
		t.Fatalf("parallel branch not completed, or nodes skipped: %v", types)
	}

	ans, err := ex.Answer(context.Background(), runs.Answer{RunID: r.ID(), NodeID: "ask", Value: map[string]any{"approved": true}, User: "ada"})
	if err != nil || !ans.Resumed || ans.Seq != uint64(len(recs)+1) {
		t.Fatalf("answer %+v: %v", ans, err)
	}
	o = wait(t, ans.Run)
	if o.Status != runs.StatusCompleted {
		t.Fatalf("resumed run %+v", o)
	}
	if d, _ := o.Outputs["decision"].(map[string]any); d["approved"] != true || o.Outputs["echoed"] != "the post" {
		t.Fatalf("outputs %v: want the answer and the earlier branch's output", o.Outputs)
	}
	types = eventTypes(t, st, r.ID())
	if count(types, events.TypeRunAnswered) != 1 || count(types, events.TypeRunResumed) != 1 || count(types, events.TypeRunCompleted) != 1 {
		t.Fatalf("events %v", types)
	}
	// echo completed once: the resume replayed it.
	_, payloads = readRun(t, st, r.ID())
	for _, p := range payloads {
		if c, ok := p.(events.NodeCompleted); ok && c.NodeID == "echo" && c.Seq > ans.Seq {
			t.Fatalf("echo ran again after the answer")
		}
	}
	if _, err := ex.Answer(context.Background(), runs.Answer{RunID: r.ID(), NodeID: "ask", Value: map[string]any{"approved": false}, User: "ada"}); !errors.Is(err, runs.ErrRunEnded) {
		t.Fatalf("answer to an ended run: %v", err)
	}
}

func TestAnswersAreCheckedBeforeAnythingIsRecorded(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	ex := newExecutor(t, st, nodes.NewRegistry(nodes.Services{}))
	defer ex.Close(context.Background())
	r := startAsk(t, ex, askSpell(map[string]any{"answeredBy": []any{"ada", "bob"}}), "ada")
	wait(t, r)
	before := len(eventTypes(t, st, r.ID()))

	_, err := ex.Answer(context.Background(), runs.Answer{RunID: r.ID(), NodeID: "ask", Value: map[string]any{"approved": "yes"}, User: "bob"})
	if !errors.Is(err, runs.ErrInvalidAnswer) || !strings.Contains(err.Error(), "/approved") {
		t.Fatalf("invalid answer: %v (want ErrInvalidAnswer naming /approved)", err)
	}
	_, err = ex.Answer(context.Background(), runs.Answer{RunID: r.ID(), NodeID: "ask", Value: map[string]any{"approved": true}, User: "eve"})
	if !errors.Is(err, runs.ErrNotAllowed) {
		t.Fatalf("answer by eve: %v", err)
	}
	_, err = ex.Answer(context.Background(), runs.Answer{RunID: r.ID(), NodeID: "echo", Value: true, User: "bob"})
	if !errors.Is(err, runs.ErrNotWaiting) {
		t.Fatalf("answer to a node that does not ask: %v", err)
	}
	if after := len(eventTypes(t, st, r.ID())); after != before {
		t.Fatalf("refused answers recorded %d events", after-before)
	}
	ans, err := ex.Answer(context.Background(), runs.Answer{RunID: r.ID(), NodeID: "ask", Value: map[string]any{"approved": false}, User: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if o := wait(t, ans.Run); o.Status != runs.StatusCompleted {
		t.Fatalf("%+v", o)
	}
}

// Of answers racing for one question, exactly one is recorded; the others
// learn the question was answered.
func TestRacingAnswersOneWins(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	ex := newExecutor(t, st, nodes.NewRegistry(nodes.Services{}))
	defer ex.Close(context.Background())
	r := startAsk(t, ex, askSpell(map[string]any{"answeredBy": "*"}), "ada")
	wait(t, r)

	const racers = 8
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		won     []*runs.Answered
		refused int
	)
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := ex.Answer(context.Background(), runs.Answer{RunID: r.ID(), NodeID: "ask", Value: map[string]any{"approved": i%2 == 0}, User: fmt.Sprint("u", i), MayReadRun: true})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won = append(won, a)
			case errors.Is(err, runs.ErrAlreadyAnswered), errors.Is(err, runs.ErrRunBusy), errors.Is(err, runs.ErrRunEnded):
				refused++
			default:
				t.Errorf("racer %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if len(won) != 1 || refused != racers-1 {
		t.Fatalf("%d answers won, %d refused", len(won), refused)
	}
	wait(t, won[0].Run)
	if n := count(eventTypes(t, st, r.ID()), events.TypeRunAnswered); n != 1 {
		t.Fatalf("%d RunAnswered recorded", n)
	}
}

// waitForEnd polls the log until the run has a terminal event.
func waitForEnd(t testing.TB, st events.Store, runID string) any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		_, payloads := readRun(t, st, runID)
		switch last := payloads[len(payloads)-1].(type) {
		case events.RunCompleted, events.RunFailed, events.RunCancelled:
			return last
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("run %s did not end: %v", runID, eventTypes(t, st, runID))
	return nil
}

func TestADeadlineTimesOutOrFailsTheQuestion(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	ex := newExecutor(t, st, nodes.NewRegistry(nodes.Services{}))
	defer ex.Close(context.Background())

	timeout := startAsk(t, ex, askSpell(map[string]any{"deadline": "200ms", "onDeadline": "timeout", "timeoutValue": map[string]any{"approved": false}}), "ada")
	fail := startAsk(t, ex, askSpell(map[string]any{"deadline": "200ms"}), "ada")

	end, ok := waitForEnd(t, st, timeout.ID()).(events.RunCompleted)
	if !ok {
		t.Fatalf("onDeadline timeout: run ended with %T", end)
	}
	if late, _ := end.Outputs["late"].(map[string]any); late["approved"] != false || end.Outputs["decision"] != nil {
		t.Fatalf("onDeadline timeout: outputs %v, want the timeout output with timeoutValue", end.Outputs)
	}
	_, payloads := readRun(t, st, timeout.ID())
	answered := false
	for _, p := range payloads {
		if a, ok := p.(events.RunAnswered); ok && a.TimedOut && a.By == "" {
			answered = true
		}
	}
	if !answered {
		t.Fatal("no timed-out RunAnswered recorded")
	}

	failed, ok := waitForEnd(t, st, fail.ID()).(events.RunFailed)
	if !ok || failed.NodeID != "ask" || !strings.Contains(failed.Error, "deadline") {
		t.Fatalf("onDeadline fail: %+v", failed)
	}
	if _, err := ex.Answer(context.Background(), runs.Answer{RunID: fail.ID(), NodeID: "ask", Value: map[string]any{"approved": true}, User: "ada"}); !errors.Is(err, runs.ErrRunEnded) {
		t.Fatalf("answer after a failing deadline: %v", err)
	}
}

// A waiting run survives a restart: the new executor does not resume it
// (it waits, holding nothing), and an answer given to the new executor
// finishes it.
func TestAWaitingRunIsAnsweredAfterARestart(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	cat := nodes.NewRegistry(nodes.Services{})
	ex := newExecutor(t, st, cat)
	r := startAsk(t, ex, askSpell(nil), "ada")
	wait(t, r)
	ex.Close(context.Background())
	st.Close()

	st = openStore(t, dir)
	defer st.Close()
	ex = newExecutor(t, st, cat)
	defer ex.Close(context.Background())
	resumed, err := ex.Resume(context.Background())
	if err != nil || len(resumed) != 0 {
		t.Fatalf("Resume took %d runs (%v): a waiting run must stay waiting", len(resumed), err)
	}
	ans, err := ex.Answer(context.Background(), runs.Answer{RunID: r.ID(), NodeID: "ask", Value: map[string]any{"approved": true}, User: "ada"})
	if err != nil {
		t.Fatal(err)
	}
	if o := wait(t, ans.Run); o.Status != runs.StatusCompleted || o.Outputs["echoed"] != "the post" {
		t.Fatalf("%+v", o)
	}
}

// A thousand runs waiting for answers hold no goroutine each.
func TestAThousandWaitingRunsHoldNoGoroutines(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	ex := newExecutor(t, st, nodes.NewRegistry(nodes.Services{}))
	defer ex.Close(context.Background())
	s := askSpell(map[string]any{"deadline": "24h"})
	wait(t, startAsk(t, ex, s, "ada")) // warm up: store, compiled program
	before := runtime.NumGoroutine()
	const n = 1000
	rs := make([]*runs.Run, n)
	for i := range rs {
		rs[i] = startAsk(t, ex, s, "ada")
	}
	for _, r := range rs {
		if o := wait(t, r); o.Status != runs.StatusWaiting {
			t.Fatalf("%+v", o)
		}
	}
	var after int
	for range 100 { // recorders' goroutines end just after Done
		if after = runtime.NumGoroutine(); after-before <= 10 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("goroutines: %d before, %d with %d runs waiting", before, after, n)
	if after-before > 10 || len(ex.Active()) != 0 {
		t.Fatalf("%d goroutines more with %d runs waiting (%d active), want at most 10", after-before, n, len(ex.Active()))
	}
}

// Replay and fork reproduce a recorded answer: verifying the answered run
// feeds the Ask node its answer, and a fork downstream of it reuses the
// answer instead of asking again.
func TestReplayAndForkReuseTheRecordedAnswer(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	cat := nodes.NewRegistry(nodes.Services{})
	ex := newExecutor(t, st, cat)
	defer ex.Close(context.Background())
	r := startAsk(t, ex, askSpell(nil), "ada")
	wait(t, r)
	ans, err := ex.Answer(context.Background(), runs.Answer{RunID: r.ID(), NodeID: "ask", Value: map[string]any{"approved": true}, User: "ada"})
	if err != nil {
		t.Fatal(err)
	}
	wait(t, ans.Run)

	runner := &graph.Runner{Catalog: cat}
	load := func(ctx context.Context, id, hash string) (*graph.Spell, error) { return askSpell(nil), nil }
	rep, err := history.Verify(context.Background(), st, runner, load, r.ID())
	if err != nil || !rep.OK || rep.Outputs["decision"] == nil {
		t.Fatalf("verify: %+v, %v", rep, err)
	}

	plan, err := history.PlanFork(context.Background(), st, runner, load, history.ForkRequest{ParentRunID: r.ID(), FromNode: "decision"})
	if err != nil {
		t.Fatal(err)
	}
	fork, err := ex.Start(context.Background(), runs.ForkSpec(plan, "", "ada"))
	if err != nil {
		t.Fatal(err)
	}
	o := wait(t, fork)
	if d, _ := o.Outputs["decision"].(map[string]any); o.Status != runs.StatusCompleted || d["approved"] != true {
		t.Fatalf("fork downstream of the answer: %+v", o)
	}
	if n := count(eventTypes(t, st, fork.ID()), events.TypeRunWaiting); n != 0 {
		t.Fatalf("the fork asked again (%d RunWaiting)", n)
	}

	// Forking from the Ask node asks again.
	plan, err = history.PlanFork(context.Background(), st, runner, load, history.ForkRequest{ParentRunID: r.ID(), FromNode: "ask"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := ex.Start(context.Background(), runs.ForkSpec(plan, "", "ada"))
	if err != nil {
		t.Fatal(err)
	}
	if o := wait(t, again); o.Status != runs.StatusWaiting {
		t.Fatalf("fork from the Ask node: %+v, want waiting", o)
	}
}

// withHold adds a node type "Hold" to the built-in ones: it completes
// when release is closed.
type withHold struct {
	graph.Catalog
	release chan struct{}
}

func (c withHold) Lookup(name string) (*graph.NodeType, bool) {
	if name == "Hold" {
		return &graph.NodeType{Name: "Hold", Inputs: []graph.Port{{Name: "trigger", Kind: graph.Trigger}}, Outputs: []graph.Port{{Name: "trigger", Kind: graph.Trigger}},
			New: func(*graph.Node) (graph.Worker, error) {
				return graph.WorkerFunc(func(ctx context.Context, _ *graph.Activation) (graph.Result, error) {
					select {
					case <-c.release:
						return graph.Result{}, nil
					case <-ctx.Done():
						return graph.Result{}, ctx.Err()
					}
				}), nil
			}}, true
	}
	return c.Catalog.Lookup(name)
}

// An answer that comes while a parallel branch still runs is taken into
// the run's recording; the run goes on with it once that branch ends.
func TestAnAnswerWhileAnotherBranchRuns(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	cat := withHold{Catalog: nodes.NewRegistry(nodes.Services{}), release: make(chan struct{})}
	ex := newExecutor(t, st, cat)
	defer ex.Close(context.Background())
	s := askSpell(nil)
	s.Nodes = append(s.Nodes, graph.Node{ID: "hold", Type: "Hold"})
	s.Edges = append(s.Edges, graph.Edge{From: graph.PortRef{Node: "start", Port: "trigger"}, To: graph.PortRef{Node: "hold", Port: "trigger"}})
	r := startAsk(t, ex, s, "ada")

	// Wait until the question is in the log.
	deadline := time.Now().Add(20 * time.Second)
	for count(eventTypes(t, st, r.ID()), events.TypeRunWaiting) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no RunWaiting")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := ex.Answer(context.Background(), runs.Answer{RunID: r.ID(), NodeID: "ask", Value: map[string]any{"approved": 1}, User: "ada"}); !errors.Is(err, runs.ErrInvalidAnswer) {
		t.Fatalf("invalid answer to a running run: %v", err)
	}
	ans, err := ex.Answer(context.Background(), runs.Answer{RunID: r.ID(), NodeID: "ask", Value: map[string]any{"approved": true}, User: "ada"})
	if err != nil || !ans.Resumed {
		t.Fatalf("answer while a branch runs: %+v, %v", ans, err)
	}
	if _, err := ex.Answer(context.Background(), runs.Answer{RunID: r.ID(), NodeID: "ask", Value: map[string]any{"approved": false}, User: "ada"}); !errors.Is(err, runs.ErrAlreadyAnswered) {
		t.Fatalf("second answer: %v", err)
	}
	close(cat.release)
	end, ok := waitForEnd(t, st, r.ID()).(events.RunCompleted)
	if d, _ := end.Outputs["decision"].(map[string]any); !ok || d["approved"] != true {
		t.Fatalf("run ended with %+v", end)
	}
	types := eventTypes(t, st, r.ID())
	if count(types, events.TypeRunPaused) != 0 || count(types, events.TypeRunAnswered) != 1 {
		t.Fatalf("events %v", types)
	}
}

type spellSource map[string]*graph.Spell

func (s spellSource) LoadSpell(_ context.Context, _, ref string) (*graph.Spell, error) {
	if sp, ok := s[ref]; ok {
		return sp, nil
	}
	return nil, fmt.Errorf("no spell %q", ref)
}

// An Ask inside a sub-spell makes the calling Spell node wait; the answer
// (addressed by the Ask's node id) finishes the sub-spell and the caller.
func TestAnAskInASubSpell(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	inner := askSpell(nil)
	inner.ID = "inner"
	inner.Nodes = append(inner.Nodes, graph.Node{ID: "done", Type: "Module Trigger Out", Config: map[string]any{"name": "done"}})
	inner.Edges = append(inner.Edges, graph.Edge{From: graph.PortRef{Node: "ask", Port: "trigger"}, To: graph.PortRef{Node: "done", Port: "trigger"}})
	outer := &graph.Spell{ID: "outer", Nodes: []graph.Node{
		{ID: "start", Type: "Module Trigger In"},
		{ID: "draft", Type: "Input", Config: map[string]any{"name": "draft"}},
		{ID: "sub", Type: "Spell", Config: map[string]any{"spellId": "inner"},
			Inputs:  []graph.PortDecl{{Key: "start", Kind: graph.Trigger}, {Key: "draft", Kind: graph.Data}},
			Outputs: []graph.PortDecl{{Key: "decision", Kind: graph.Data}, {Key: "done", Kind: graph.Trigger}}},
		{ID: "out", Type: "Output", Config: map[string]any{"name": "result"}},
	}, Edges: []graph.Edge{
		{From: graph.PortRef{Node: "start", Port: "trigger"}, To: graph.PortRef{Node: "sub", Port: "start"}},
		{From: graph.PortRef{Node: "draft", Port: "output"}, To: graph.PortRef{Node: "sub", Port: "draft"}},
		{From: graph.PortRef{Node: "sub", Port: "done"}, To: graph.PortRef{Node: "out", Port: "trigger"}},
		{From: graph.PortRef{Node: "sub", Port: "decision"}, To: graph.PortRef{Node: "out", Port: "input"}},
	}}
	ex, err := runs.New(runs.Options{Store: st, Runner: &graph.Runner{Catalog: nodes.NewRegistry(nodes.Services{}), Spells: spellSource{"inner": inner}}})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close(context.Background())
	r := startAsk(t, ex, outer, "ada")
	if o := wait(t, r); o.Status != runs.StatusWaiting {
		t.Fatalf("%+v", o)
	}
	ans, err := ex.Answer(context.Background(), runs.Answer{RunID: r.ID(), NodeID: "ask", Value: map[string]any{"approved": true}, User: "ada"})
	if err != nil || len(ans.Path) != 1 || ans.Path[0] != "sub" {
		t.Fatalf("answer %+v: %v", ans, err)
	}
	o := wait(t, ans.Run)
	if d, _ := o.Outputs["result"].(map[string]any); o.Status != runs.StatusCompleted || d["approved"] != true {
		t.Fatalf("outer run %+v", o)
	}
	if n := count(eventTypes(t, st, r.ID()), events.TypeRunWaiting); n != 1 {
		t.Fatalf("%d questions asked, want 1", n)
	}
}
