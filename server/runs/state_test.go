package runs_test

import (
	"context"
	"sort"
	"sync"
	"testing"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/nodes"
	"github.com/grimoire-run/grimoire/server/runs"
)

// visitsSpell appends the run input "n" to the spell state's "visits"
// (Thoth's State Write appends to an array) and outputs the state it then
// reads.
func visitsSpell() *graph.Spell {
	return &graph.Spell{ID: "visits", Meta: map[string]any{graph.MetaGameState: map[string]any{"visits": []any{}}},
		Nodes: []graph.Node{
			{ID: "start", Type: "Module Trigger In"},
			{ID: "n", Type: "Input", Config: map[string]any{"name": "n"}},
			{ID: "w", Type: "State Write", Inputs: []graph.PortDecl{{Key: "visits", Kind: graph.Data}}},
			{ID: "r", Type: "State Read", Outputs: []graph.PortDecl{{Key: "visits", Kind: graph.Data}}},
			{ID: "o", Type: "Output", Config: map[string]any{"name": "seen"}},
		},
		Edges: []graph.Edge{
			{From: graph.PortRef{Node: "start", Port: "trigger"}, To: graph.PortRef{Node: "w", Port: "trigger"}},
			{From: graph.PortRef{Node: "n", Port: "output"}, To: graph.PortRef{Node: "w", Port: "visits"}},
			{From: graph.PortRef{Node: "w", Port: "trigger"}, To: graph.PortRef{Node: "o", Port: "trigger"}},
			{From: graph.PortRef{Node: "r", Port: "visits"}, To: graph.PortRef{Node: "o", Port: "input"}},
		}}
}

func runVisit(t *testing.T, ex *runs.Executor, user string, n float64) []any {
	t.Helper()
	r, err := ex.Start(context.Background(), runs.RunSpec{Spell: visitsSpell(), Inputs: map[string]any{"n": n}, User: user, NoCache: true})
	if err != nil {
		t.Fatal(err)
	}
	o := wait(t, r)
	if o.Status != runs.StatusCompleted {
		t.Fatalf("run: %+v", o)
	}
	seen, _ := o.Outputs["seen"].([]any)
	return seen
}

// Spell state lives in the log: later runs see earlier writes, concurrent
// runs both land (the merge rule: ops apply in the order the store
// appended them), owners do not see each other's, and a restarted process
// reads it back.
func TestSpellStateIsDurable(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	cat := nodes.NewRegistry(nodes.Services{})
	ex := newExecutor(t, st, cat)

	if got := runVisit(t, ex, "ada", 1); !sameNumbers(got, 1) {
		t.Fatalf("first run read %v, want its own write [1]", got)
	}
	if got := runVisit(t, ex, "ada", 2); !sameNumbers(got, 1, 2) {
		t.Fatalf("second run read %v, want [1 2]", got)
	}
	var wg sync.WaitGroup
	for _, n := range []float64{3, 4} {
		wg.Add(1)
		go func() { defer wg.Done(); runVisit(t, ex, "ada", n) }()
	}
	wg.Wait()
	if got := runVisit(t, ex, "bob", 9); !sameNumbers(got, 9) {
		t.Fatalf("bob read %v: another owner's state leaked", got)
	}
	ex.Close(context.Background())
	st.Close()

	st = openStore(t, dir)
	defer st.Close()
	ex = newExecutor(t, st, cat)
	defer ex.Close(context.Background())
	state, err := ex.SpellState(context.Background(), visitsSpell(), "ada")
	if err != nil {
		t.Fatal(err)
	}
	visits, _ := state["visits"].([]any)
	if len(visits) != 4 || visits[0] != 1.0 || visits[1] != 2.0 {
		t.Fatalf("after restart the state is %v, want [1 2 3 4] with 3 and 4 in either order", state)
	}
	got := runVisit(t, ex, "ada", 5)
	if len(got) != 5 || got[4] != 5.0 {
		t.Fatalf("a run after restart read %v, want the four earlier visits and 5", got)
	}
	recs, err := st.ReadStream(context.Background(), events.StateStream("visits", "ada"), 0, events.Forwards, 0)
	if err != nil || len(recs) != 5 {
		t.Fatalf("state stream: %d events, %v; want one StateWritten per run", len(recs), err)
	}
}

func sameNumbers(got []any, want ...float64) bool {
	if len(got) != len(want) {
		return false
	}
	g := make([]float64, len(got))
	for i, v := range got {
		f, ok := v.(float64)
		if !ok {
			return false
		}
		g[i] = f
	}
	sort.Float64s(g)
	for i := range want {
		if g[i] != want[i] {
			return false
		}
	}
	return true
}

// A run that resumes after a crash between its State Write's append and
// the node's NodeCompleted runs the node again; its write is in the
// stream already and is not applied twice.
func TestResumedRunDoesNotWriteStateTwice(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	ex := newExecutor(t, st, nodes.NewRegistry(nodes.Services{}))
	defer ex.Close(context.Background())
	ctx := context.Background()

	// What State Write appends, learnt from a run of bob's.
	runVisit(t, ex, "bob", 7)
	recs, err := st.ReadStream(ctx, events.StateStream("visits", "bob"), 0, events.Forwards, 0)
	if err != nil || len(recs) != 1 {
		t.Fatalf("bob's state stream: %d events, %v", len(recs), err)
	}
	v, err := events.Decode(recs[0])
	if err != nil {
		t.Fatal(err)
	}
	sw := v.(events.StateWritten)

	// Ada's run "resumed-run-01" had appended the same write before it
	// crashed.
	sw.Owner, sw.RunID = "ada", "resumed-run-01"
	ev, err := events.Encode(&sw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Append(ctx, events.StateStream("visits", "ada"), events.Any, ev); err != nil {
		t.Fatal(err)
	}
	r, err := ex.Start(ctx, runs.RunSpec{RunID: "resumed-run-01", Spell: visitsSpell(), Inputs: map[string]any{"n": 7.0}, User: "ada", NoCache: true})
	if err != nil {
		t.Fatal(err)
	}
	o := wait(t, r)
	seen, _ := o.Outputs["seen"].([]any)
	if o.Status != runs.StatusCompleted || !sameNumbers(seen, 7) {
		t.Fatalf("run %+v read %v, want [7] once", o.Status, seen)
	}
	recs, err = st.ReadStream(ctx, events.StateStream("visits", "ada"), 0, events.Forwards, 0)
	if err != nil || len(recs) != 1 {
		t.Fatalf("ada's state stream holds %d events (%v), want the one write", len(recs), err)
	}
	// Another run of ada's writes as usual.
	if got := runVisit(t, ex, "ada", 8); !sameNumbers(got, 7, 8) {
		t.Fatalf("next run read %v, want [7 8]", got)
	}
}

// The state a process keeps between reads is only where it starts: writes
// that another process appended since are applied, and a new version of
// the spell (another gameState) folds its state from that version's start.
func TestKeptSpellStateFollowsOtherProcessesAndNewVersions(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	cat := nodes.NewRegistry(nodes.Services{})
	here, there := newExecutor(t, st, cat), newExecutor(t, st, cat)
	defer here.Close(context.Background())
	defer there.Close(context.Background())
	ctx := context.Background()

	runVisit(t, here, "ada", 1)
	if s, err := here.SpellState(ctx, visitsSpell(), "ada"); err != nil || !sameNumbers(s["visits"].([]any), 1) {
		t.Fatalf("state here: %v, %v", s, err)
	}
	runVisit(t, there, "ada", 2)
	if got := runVisit(t, here, "ada", 3); !sameNumbers(got, 1, 2, 3) {
		t.Fatalf("a run here read %v, want the other process's write too: [1 2 3]", got)
	}
	v2 := visitsSpell()
	v2.Meta = map[string]any{graph.MetaGameState: map[string]any{"visits": []any{0.0}}}
	s, err := here.SpellState(ctx, v2, "ada")
	if err != nil || !sameNumbers(s["visits"].([]any), 0, 1, 2, 3) {
		t.Fatalf("state of a version starting at [0]: %v, %v; want [0 1 2 3]", s, err)
	}
	// What a read returns is the caller's: changing it changes no later read.
	s["visits"] = "scribbled"
	if s, _ := here.SpellState(ctx, v2, "ada"); !sameNumbers(s["visits"].([]any), 0, 1, 2, 3) {
		t.Fatalf("a caller's change leaked into the kept state: %v", s)
	}
}
