package recorder_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/events/bus"
	"github.com/grimoire-run/grimoire/events/embedded"
	"github.com/grimoire-run/grimoire/events/recorder"
	"github.com/grimoire-run/grimoire/events/recorder/recordertest"
	"github.com/grimoire-run/grimoire/graph"
)

func openStore(t testing.TB) *embedded.Store {
	t.Helper()
	st, err := embedded.Open(embedded.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func readRun(t testing.TB, st events.Store, runID string) ([]events.RecordedEvent, []any) {
	t.Helper()
	recs, err := st.ReadStream(context.Background(), events.RunStream(runID), 0, events.Forwards, 0)
	if err != nil {
		t.Fatal(err)
	}
	payloads := make([]any, len(recs))
	for i, e := range recs {
		if payloads[i], err = events.Decode(e); err != nil {
			t.Fatal(err)
		}
	}
	return recs, payloads
}

// checkSeq asserts what every run stream must satisfy: Seq n at revision
// n-1, each event's ID derived from its run and Seq (but for the claims
// RunRequested and RunResumed, whose IDs are their writer's own), every ID
// once.
func checkSeq(t testing.TB, runID string, recs []events.RecordedEvent, payloads []any) {
	t.Helper()
	seen := map[string]bool{}
	for i, e := range recs {
		h, ok := events.Header(payloads[i])
		if !ok {
			t.Fatalf("event %d (%s) has no run header", i, e.Type)
		}
		if h.Seq != uint64(i+1) || e.Revision != uint64(i) {
			t.Fatalf("event %d (%s): seq %d revision %d, want seq %d", i, e.Type, h.Seq, e.Revision, i+1)
		}
		claim := e.Type == events.TypeRunRequested || e.Type == events.TypeRunResumed
		if h.RunID != runID || (!claim && e.ID != events.RunEventID(runID, h.Seq)) {
			t.Fatalf("event %d: run %q id %s", i, h.RunID, e.ID)
		}
		if seen[e.ID] {
			t.Fatalf("event id %s twice", e.ID)
		}
		seen[e.ID] = true
	}
}

func runSpell(t testing.TB, cat graph.Catalog, s *graph.Spell, runID string, obs graph.Observer, rec graph.Recorded) *graph.RunResult {
	t.Helper()
	runner := &graph.Runner{Catalog: cat}
	res, err := runner.Run(context.Background(), s, graph.RunRequest{RunID: runID, Observer: obs, Recorded: rec})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestRecorderWritesTheRunInOrderAndPublishesAfterCommit(t *testing.T) {
	st := openStore(t)
	b, err := bus.New(context.Background(), bus.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sub, err := b.Subscribe(ctx, bus.TopicRuns)
	if err != nil {
		t.Fatal(err)
	}

	cat := recordertest.NewCatalog(recordertest.Options{})
	s := recordertest.Chain("chain", 5, time.Millisecond, 200)
	rec, err := recorder.New(recorder.Options{Store: st, Bus: b, RunID: "r1", SpellID: s.ID, SpellHash: graph.Hash(s), CorrelationID: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rec.Record(&events.RunRequested{User: "u"}, nil); err != nil {
		t.Fatal(err)
	}
	res := runSpell(t, cat, s, "r1", rec, nil)
	if _, err := rec.Record(&events.RunCompleted{Outputs: res.Outputs, Usage: rec.Usage()}, nil); err != nil {
		t.Fatal(err)
	}
	if err := rec.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	recs, payloads := readRun(t, st, "r1")
	checkSeq(t, "r1", recs, payloads)
	for _, p := range payloads {
		h, _ := events.Header(p)
		if h.SpellID != "chain" || h.SpellHash != graph.Hash(s) || h.CorrelationID != "c1" || h.Time.IsZero() {
			t.Fatalf("header %+v", h)
		}
	}
	if recs[0].Type != events.TypeRunRequested || recs[len(recs)-1].Type != events.TypeRunCompleted {
		t.Fatalf("first %s last %s", recs[0].Type, recs[len(recs)-1].Type)
	}
	if got := payloads[len(payloads)-1].(events.RunCompleted).Outputs["result"]; got != ">w001>w002>w003>w004>w005" {
		t.Fatalf("run output %v", got)
	}
	if u := payloads[len(payloads)-1].(events.RunCompleted).Usage; u == nil || u.CompletionTokens != 1000 || u.Calls != 5 {
		t.Fatalf("run usage %+v", u)
	}

	// Per activation: started, chunks carrying every token in order, completed.
	type act struct {
		state  string
		text   strings.Builder
		chunks int
	}
	acts := map[string]*act{}
	for _, p := range payloads {
		switch e := p.(type) {
		case events.NodeStarted:
			if acts[e.NodeID] != nil {
				t.Fatalf("%s started twice", e.NodeID)
			}
			acts[e.NodeID] = &act{state: "started"}
		case events.NodeOutputChunk:
			a := acts[e.NodeID]
			if a == nil || a.state != "started" || e.Index != a.chunks {
				t.Fatalf("chunk %d of %s out of place", e.Index, e.NodeID)
			}
			a.chunks++
			a.text.WriteString(e.Text)
		case events.NodeCompleted:
			a := acts[e.NodeID]
			if a == nil || a.state != "started" {
				t.Fatalf("%s completed without starting", e.NodeID)
			}
			a.state = "completed"
			if e.Duration <= 0 {
				t.Fatalf("%s duration %v", e.NodeID, e.Duration)
			}
		}
	}
	for i := 1; i <= 5; i++ {
		id := fmt.Sprintf("w%03d", i)
		a := acts[id]
		if a == nil || a.state != "completed" {
			t.Fatalf("%s: %+v", id, a)
		}
		var want strings.Builder
		for k := range 200 {
			fmt.Fprintf(&want, "t%d ", k)
		}
		if a.text.String() != want.String() {
			t.Fatalf("%s: streamed text differs: %q", id, a.text.String())
		}
		// 200 tokens of ~5 bytes in well under 20ms: coalesced into few events.
		if a.chunks > 4 {
			t.Fatalf("%s: %d chunk events for 200 tokens, want them coalesced", id, a.chunks)
		}
	}

	// The bus saw exactly the committed events, in order, with positions.
	for i, want := range recs {
		select {
		case got := <-sub:
			if got.ID != want.ID || got.Position != want.Position || got.Revision != want.Revision {
				t.Fatalf("bus event %d: %s@%d pos %d, want %s@%d pos %d", i, got.Type, got.Revision, got.Position, want.Type, want.Revision, want.Position)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("bus: timed out at event %d", i)
		}
	}
}

func TestChunksAreCutBySize(t *testing.T) {
	st := openStore(t)
	cat := recordertest.NewCatalog(recordertest.Options{})
	s := recordertest.Chain("chunks", 1, 0, 100)
	rec, _ := recorder.New(recorder.Options{Store: st, RunID: "r", ChunkBytes: 32, ChunkInterval: time.Hour})
	rec.Record(&events.RunRequested{}, nil)
	runSpell(t, cat, s, "r", rec, nil)
	if err := rec.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, payloads := readRun(t, st, "r")
	n := 0
	for _, p := range payloads {
		if c, ok := p.(events.NodeOutputChunk); ok {
			n++
			if len(c.Text) < 32 && c.Index != 0 && n < 10 {
				// Only the last chunk of an activation may be short.
				if c.Text[len(c.Text)-1] != ' ' {
					t.Fatalf("chunk %d: %q", c.Index, c.Text)
				}
			}
		}
	}
	// ~490 bytes in 32-byte pieces.
	if n < 10 || n > 20 {
		t.Fatalf("%d chunk events, want about 15", n)
	}
}

func TestChunksOfASlowNodeAreWrittenWhileItRuns(t *testing.T) {
	st := openStore(t)
	rec, _ := recorder.New(recorder.Options{Store: st, RunID: "slow", ChunkInterval: 5 * time.Millisecond})
	defer rec.Close(context.Background())
	rec.Record(&events.RunRequested{}, nil)
	rec.ObserveNode(graph.NodeEvent{Kind: graph.NodeStarted, NodeID: "n", Activation: 1})
	rec.ObserveNode(graph.NodeEvent{Kind: graph.NodeChunk, NodeID: "n", Activation: 1, Chunk: "hello"})
	// No Flush, no completion: the chunk must reach the store by itself.
	deadline := time.Now().Add(5 * time.Second)
	for {
		recs, err := st.ReadStream(context.Background(), events.RunStream("slow"), 0, events.Forwards, 0)
		if err == nil && len(recs) == 3 && recs[2].Type == events.TypeNodeOutputChunk {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("chunk not written while the node runs: %d events", len(recs))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestFlushMakesEverythingReadable(t *testing.T) {
	st := openStore(t)
	rec, _ := recorder.New(recorder.Options{Store: st, RunID: "f"})
	defer rec.Close(context.Background())
	rec.Record(&events.RunRequested{}, nil)
	for i := 1; i <= 100; i++ {
		rec.ObserveNode(graph.NodeEvent{Kind: graph.NodeStarted, NodeID: fmt.Sprint(i), Activation: 1})
		rec.ObserveNode(graph.NodeEvent{Kind: graph.NodeChunk, NodeID: fmt.Sprint(i), Activation: 1, Chunk: "x"})
	}
	if err := rec.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	recs, payloads := readRun(t, st, "f")
	checkSeq(t, "f", recs, payloads)
	if len(recs) != 201 || rec.LastSeq() != 201 {
		t.Fatalf("%d events, last seq %d, want 201", len(recs), rec.LastSeq())
	}
}

func TestAnotherWriterStopsTheRecorder(t *testing.T) {
	st := openStore(t)
	var onErr atomic.Value
	rec, _ := recorder.New(recorder.Options{Store: st, RunID: "taken", OnError: func(err error) { onErr.Store(err) }})
	rec.Record(&events.RunRequested{}, nil)
	if err := rec.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Another process resumes the run and appends Seq 2 first.
	other, _ := recorder.New(recorder.Options{Store: st, RunID: "taken", AfterSeq: 1})
	other.Record(&events.RunResumed{AfterSeq: 1}, nil)
	if err := other.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec.ObserveNode(graph.NodeEvent{Kind: graph.NodeStarted, NodeID: "n", Activation: 1})
	err := rec.Close(context.Background())
	if !errors.Is(err, recorder.ErrRunTakenOver) {
		t.Fatalf("Close: %v, want ErrRunTakenOver", err)
	}
	if e, _ := onErr.Load().(error); !errors.Is(e, recorder.ErrRunTakenOver) {
		t.Fatalf("OnError got %v", e)
	}
	recs, _ := readRun(t, st, "taken")
	if len(recs) != 2 || recs[1].Type != events.TypeRunResumed {
		t.Fatalf("the stream forked: %d events", len(recs))
	}
	if _, err := rec.Record(&events.RunCompleted{}, nil); err == nil {
		t.Fatal("Record after Close: want an error")
	}
}

// branchSpell: start → b (Branch) → yes: w1 → out ; no: w2 (must not run).
func branchSpell() *graph.Spell {
	ref := func(n, p string) graph.PortRef { return graph.PortRef{Node: n, Port: p} }
	return &graph.Spell{
		ID: "branch",
		Nodes: []graph.Node{
			{ID: "start", Type: recordertest.TypeStart},
			{ID: "b", Type: recordertest.TypeBranch},
			{ID: "w1", Type: recordertest.TypeWork},
			{ID: "w2", Type: recordertest.TypeWork},
			{ID: "out", Type: recordertest.TypeOutput, Config: map[string]any{"name": "result"}},
		},
		Edges: []graph.Edge{
			{From: ref("start", "out"), To: ref("b", "run")},
			{From: ref("b", "yes"), To: ref("w1", "run")},
			{From: ref("b", "no"), To: ref("w2", "run")},
			{From: ref("w1", "done"), To: ref("out", "run")},
			{From: ref("w1", "out"), To: ref("out", "value")},
		},
	}
}

func TestRecordedRunReplaysCompletedActivationsInsteadOfRunningThem(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spell *graph.Spell
		work  []string
	}{
		{"chain", recordertest.Chain("chain", 4, 0, 3), []string{"w001", "w002", "w003", "w004"}},
		{"closed trigger", branchSpell(), []string{"w1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := openStore(t)
			var first, second recordertest.ExecLog
			cat1 := recordertest.NewCatalog(recordertest.Options{OnExec: first.Exec})
			rec, _ := recorder.New(recorder.Options{Store: st, RunID: "r"})
			rec.Record(&events.RunRequested{}, nil)
			want := runSpell(t, cat1, tc.spell, "r", rec, nil)
			if err := rec.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			if first.Total() != len(tc.work) {
				t.Fatalf("first run executed %d work nodes, want %d", first.Total(), len(tc.work))
			}

			cat2 := recordertest.NewCatalog(recordertest.Options{OnExec: second.Exec})
			prog, err := graph.Compile(tc.spell, cat2)
			if err != nil {
				t.Fatal(err)
			}
			recorded, lastSeq, err := recorder.Recorded(context.Background(), st, "r", recorder.ProgramPorts(prog, cat2))
			if err != nil {
				t.Fatal(err)
			}
			if lastSeq != rec.LastSeq() || recorded.Terminal != "" || recorded.Completed() < len(tc.work) {
				t.Fatalf("recording: last seq %d (want %d), terminal %q, %d completed", lastSeq, rec.LastSeq(), recorded.Terminal, recorded.Completed())
			}
			var replayed []string
			obs := graph.ObserverFunc(func(e graph.NodeEvent) {
				if e.Kind == graph.NodeReplayed && e.Source == recorder.SourceResume {
					replayed = append(replayed, e.NodeID)
				}
			})
			got := runSpell(t, cat2, tc.spell, "r", obs, recorded)
			if second.Total() != 0 {
				t.Fatalf("resumed run executed %d work nodes again", second.Total())
			}
			if fmt.Sprint(got.Outputs) != fmt.Sprint(want.Outputs) {
				t.Fatalf("outputs %v, want %v", got.Outputs, want.Outputs)
			}
			if len(replayed) < len(tc.work) {
				t.Fatalf("replayed %v", replayed)
			}
		})
	}
}

func TestOutputsWithoutAJSONFormAreRecordedAsANote(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	rec, err := recorder.New(recorder.Options{Store: st, RunID: "nan"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	rec.ObserveNode(graph.NodeEvent{Kind: graph.NodeStarted, NodeID: "n1", NodeType: "T", Activation: 1, Time: now})
	rec.ObserveNode(graph.NodeEvent{Kind: graph.NodeCompleted, NodeID: "n1", NodeType: "T", Activation: 1, Outputs: graph.Outputs{"x": math.NaN()}, Time: now})
	rec.ObserveNode(graph.NodeEvent{Kind: graph.NodeStarted, NodeID: "n2", NodeType: "T", Activation: 1, Time: now})
	if err := rec.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	recs, payloads := readRun(t, st, "nan")
	if len(recs) != 3 {
		t.Fatalf("%d events, want 3", len(recs))
	}
	done, ok := payloads[1].(events.NodeCompleted)
	if !ok {
		t.Fatalf("event 2 is %T", payloads[1])
	}
	if _, noted := done.Outputs["$unrecordable"]; !noted {
		t.Fatalf("outputs recorded as %v, want the unrecordable note", done.Outputs)
	}
	// The recorder's first event is its claim: its ID is its own, the
	// others' are derived from run and Seq.
	if recs[0].ID == events.RunEventID("nan", 1) || recs[1].ID != events.RunEventID("nan", 2) {
		t.Fatalf("ids %s %s", recs[0].ID, recs[1].ID)
	}
}

// heldBus is a Publisher that holds every Publish until released, and
// records what it was given.
type heldBus struct {
	release chan struct{}
	got     atomic.Int64
	fromAck atomic.Int64 // events that arrived with a position (handed back by the append)
}

func (b *heldBus) Publish(ctx context.Context, evs ...events.RecordedEvent) error {
	select {
	case <-b.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	for _, e := range evs {
		if e.Position > 0 && !e.Time.IsZero() {
			b.fromAck.Add(1)
		}
	}
	b.got.Add(int64(len(evs)))
	return nil
}

// Sync returns once the events are durable, whatever the bus does; Flush
// and Close wait for the bus too. What is published carries the store's
// positions and times.
func TestSyncDoesNotWaitForTheBus(t *testing.T) {
	st := openStore(t)
	b := &heldBus{release: make(chan struct{})}
	rec, err := recorder.New(recorder.Options{Store: st, Bus: b, RunID: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	rec.Record(&events.RunRequested{}, nil)
	rec.Record(&events.RunCompleted{}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rec.Sync(ctx); err != nil {
		t.Fatalf("Sync with the bus held: %v", err)
	}
	recs, _ := readRun(t, st, "s1")
	if len(recs) != 2 || b.got.Load() != 0 {
		t.Fatalf("after Sync: %d events stored, %d published", len(recs), b.got.Load())
	}
	short, cancelShort := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancelShort()
	if err := rec.Flush(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Flush with the bus held: %v, want a deadline error", err)
	}
	close(b.release)
	if err := rec.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if b.got.Load() != 2 || b.fromAck.Load() != 2 {
		t.Fatalf("published %d events, %d with positions", b.got.Load(), b.fromAck.Load())
	}
}
