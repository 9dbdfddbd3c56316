package cache_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/events/recorder"
	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/projections/cache"
	"github.com/grimoire-run/grimoire/projections/internal/projtest"
	"github.com/grimoire-run/grimoire/projections/internal/testspell"
)

func edge(from, to string) graph.Edge {
	f, _ := graph.ParsePortRef(from)
	t, _ := graph.ParsePortRef(to)
	return graph.Edge{From: f, To: t}
}

// spell: Start -> Upper(text=In q) -> Dice -> Out "answer".
func testSpell() *graph.Spell {
	return &graph.Spell{ID: "cached", Nodes: []graph.Node{
		{ID: "1", Type: "Start"},
		{ID: "2", Type: "In", Config: map[string]any{"name": "q"}},
		{ID: "3", Type: "Upper"},
		{ID: "4", Type: "Dice"},
		{ID: "5", Type: "Out", Config: map[string]any{"name": "answer"}},
		{ID: "6", Type: "Out", Config: map[string]any{"name": "upper"}},
	}, Edges: []graph.Edge{
		edge("1.trigger", "3.trigger"), edge("2.output", "3.text"), edge("3.trigger", "4.trigger"),
		edge("3.out", "4.text"), edge("4.trigger", "5.trigger"), edge("4.out", "5.input"),
		edge("3.trigger", "6.trigger"), edge("3.out", "6.input"),
	}}
}

// runRecorded runs the spell with the cache and a recorder, as the
// executor does, and returns the run's events.
func runRecorded(t *testing.T, st events.Store, cat *testspell.Catalog, m *cache.Model, runID string, s *graph.Spell, q string, noCache bool) (*graph.RunResult, []events.RecordedEvent) {
	t.Helper()
	ctx := context.Background()
	runner := &graph.Runner{Catalog: cat}
	prog, err := runner.Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := recorder.New(recorder.Options{Store: st, RunID: runID, SpellID: s.ID, SpellHash: prog.Hash})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rec.Record(&events.RunRequested{Inputs: map[string]any{"q": q}, User: "ann"}, nil); err != nil {
		t.Fatal(err)
	}
	res, err := runner.RunProgram(ctx, prog, graph.RunRequest{RunID: runID, Inputs: map[string]any{"q": q},
		Observer: m.Observer(runID, rec), Cache: m.For(s, noCache)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rec.Record(&events.RunCompleted{Outputs: res.Outputs}, nil); err != nil {
		t.Fatal(err)
	}
	if err := rec.Close(ctx); err != nil {
		t.Fatal(err)
	}
	evs, err := st.ReadStream(ctx, events.RunStream(runID), 0, events.Forwards, 0)
	if err != nil {
		t.Fatal(err)
	}
	return res, evs
}

func cacheHits(evs []events.RecordedEvent) map[string]string {
	out := map[string]string{}
	for _, e := range evs {
		if e.Type != events.TypeNodeCacheHit {
			continue
		}
		var p events.NodeCacheHit
		_ = json.Unmarshal(e.Data, &p)
		out[p.NodeID] = p.Source
	}
	return out
}

func TestARerunReusesDeterministicOutputsAndRecordsTheHits(t *testing.T) {
	st := projtest.OpenStore(t)
	cat := testspell.New()
	m, err := cache.Open(cache.Options{NodeTypes: cache.FromCatalog(cat)})
	if err != nil {
		t.Fatal(err)
	}
	s := testSpell()
	first, evs := runRecorded(t, st, cat, m, "r1", s, "hello", false)
	if len(cacheHits(evs)) != 0 {
		t.Fatalf("first run had cache hits: %v", cacheHits(evs))
	}
	second, evs := runRecorded(t, st, cat, m, "r2", s, "hello", false)

	if got := cat.Count("3"); got != 1 {
		t.Errorf("deterministic node 3 executed %d times over two identical runs, want 1", got)
	}
	if got := cat.Count("4"); got != 2 {
		t.Errorf("non-deterministic node 4 executed %d times, want 2 (it opts out)", got)
	}
	if second.Outputs["upper"] != "HELLO" || first.Outputs["upper"] != "HELLO" {
		t.Errorf("outputs: first %v, second %v; want upper HELLO in both", first.Outputs, second.Outputs)
	}
	hits := cacheHits(evs)
	if hits["3"] != "cache" || hits["2"] != "cache" {
		t.Errorf("second run's NodeCacheHit events = %v, want nodes 2 and 3 from source cache", hits)
	}
	if _, ok := hits["4"]; ok {
		t.Error("a non-deterministic node was served from the cache")
	}
	if _, ok := hits["5"]; ok {
		t.Error("an Output node was served from the cache (its run output would be lost)")
	}

	// Other inputs: other keys, no hits for the nodes that depend on them.
	_, evs = runRecorded(t, st, cat, m, "r3", s, "other", false)
	if _, ok := cacheHits(evs)["3"]; ok {
		t.Error("node 3 hit the cache with a different input")
	}
	if st := m.Stats(); st.Hits == 0 || st.Entries == 0 {
		t.Errorf("stats %+v, want hits and entries", st)
	}
}

func TestARunOrASpellCanTurnTheCacheOff(t *testing.T) {
	st := projtest.OpenStore(t)
	cat := testspell.New()
	m, _ := cache.Open(cache.Options{NodeTypes: cache.FromCatalog(cat)})
	s := testSpell()
	runRecorded(t, st, cat, m, "r1", s, "hello", false)
	_, evs := runRecorded(t, st, cat, m, "r2", s, "hello", true)
	if len(cacheHits(evs)) != 0 || cat.Count("3") != 2 {
		t.Errorf("run with the cache off: hits %v, node 3 ran %d times (want none, 2)", cacheHits(evs), cat.Count("3"))
	}
	off := testSpell()
	off.Meta = map[string]any{"cache": false}
	_, evs = runRecorded(t, st, cat, m, "r3", off, "hello", false)
	if len(cacheHits(evs)) != 0 || cat.Count("3") != 3 {
		t.Errorf("spell with meta cache=false: hits %v, node 3 ran %d times (want none, 3)", cacheHits(evs), cat.Count("3"))
	}
	if m.For(off, false) != nil {
		t.Error("For returned a cache for a spell that turns it off")
	}
}

// completed is a NodeCompleted with a cache key, as the recorder writes it
// once it copies graph.NodeEvent.CacheKey.
func completed(runID string, seq uint64, node, key, out string) events.EventData {
	ev := events.MustEncode(&events.NodeCompleted{RunHeader: events.RunHeader{RunID: runID, Seq: seq, SpellID: "s"},
		NodeRef: events.NodeRef{NodeID: node, NodeType: "Upper", Activation: 1}, Outputs: map[string]any{"out": out}})
	var m map[string]any
	_ = json.Unmarshal(ev.Data, &m)
	m["cacheKey"] = key
	ev.Data, _ = json.Marshal(m)
	return ev
}

func TestTheCacheIsFedByTheLogIdempotentAndRebuildable(t *testing.T) {
	ctx := context.Background()
	st := projtest.OpenStore(t)
	dir := t.TempDir()
	m, _ := cache.Open(cache.Options{Dir: dir})
	if _, err := st.Append(ctx, events.RunStream("a"), events.Any,
		events.MustEncode(&events.RunRequested{RunHeader: events.RunHeader{RunID: "a", Seq: 1, SpellID: "s"}}),
		completed("a", 2, "n1", "k1", "ONE"), completed("a", 3, "n2", "k2", "TWO")); err != nil {
		t.Fatal(err)
	}
	r := projtest.Start(t, st, m)
	projtest.CaughtUp(t, r, "cache")
	res, ok := m.Get("k2")
	if !ok || res.Outputs["out"] != "TWO" {
		t.Fatalf("Get(k2) = %v, %v; want out TWO", res, ok)
	}
	// An event seen twice changes nothing.
	evs, _ := st.ReadAll(ctx, 0, 0)
	before := m.Stats()
	for _, e := range evs {
		if err := m.Handle(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if after := m.Stats(); after.Entries != before.Entries || after.Bytes != before.Bytes {
		t.Errorf("handling the log again changed the cache: %+v -> %+v", before, after)
	}
	// Rebuild drops it and replays the log into it.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := r.Rebuild(wctx, "cache"); err != nil {
		t.Fatal(err)
	}
	projtest.CaughtUp(t, r, "cache")
	if _, ok := m.Get("k1"); !ok {
		t.Error("k1 missing after rebuild")
	}
	// The snapshot brings it back after a restart.
	if err := m.Save(); err != nil {
		t.Fatal(err)
	}
	again, err := cache.Open(cache.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if res, ok := again.Get("k1"); !ok || res.Outputs["out"] != "ONE" {
		t.Errorf("after reopening: Get(k1) = %v, %v", res, ok)
	}
	if cp, _ := again.Checkpoint(ctx); cp != evs[len(evs)-1].Position {
		t.Errorf("reopened checkpoint %d, want %d", cp, evs[len(evs)-1].Position)
	}
}

func TestTheCacheStaysWithinItsBudget(t *testing.T) {
	m, _ := cache.Open(cache.Options{MaxBytes: 4 << 10})
	for i := range 200 {
		if err := m.Put(fmt.Sprintf("k%d", i), "Upper", "r", graph.Outputs{"out": strings.Repeat("x", 100)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if st := m.Stats(); st.Bytes > 4<<10 || st.Entries == 0 {
		t.Errorf("stats %+v, want at most 4 KiB", st)
	}
	if _, ok := m.Get("k0"); ok {
		t.Error("the oldest entry survived past the budget")
	}
	if _, ok := m.Get("k199"); !ok {
		t.Error("the newest entry was dropped")
	}
}

type types map[string]*graph.NodeType

func (c types) Lookup(name string) (*graph.NodeType, bool) { t, ok := c[name]; return t, ok }

func TestFromCatalogServesOnlyTypesWhoseResultsCanStandIn(t *testing.T) {
	trig := graph.Port{Name: "trigger", Kind: graph.Trigger}
	cat := types{
		"Upper":    {Name: "Upper", Family: "text", Outputs: []graph.Port{trig, {Name: "out", Kind: graph.Data}}},
		"Template": {Name: "Template", Family: "text", DynamicPorts: true, Outputs: []graph.Port{trig}},
		"Switch":   {Name: "Switch", Family: "flow", DynamicPorts: true},
		"LLM":      {Name: "LLM", Family: "llm", Nondeterministic: true},
		"Out":      {Name: "Out", Role: graph.RoleOutput},
	}
	nodeTypes := cache.FromCatalog(cat)
	for name, want := range map[string]bool{"Upper": true, "Template": true, "Switch": false, "LLM": false, "Out": false, "Unknown": false} {
		trigs, ok := nodeTypes(name)
		if ok != want {
			t.Errorf("%s cacheable = %v, want %v", name, ok, want)
		}
		if ok && (len(trigs) != 1 || trigs[0] != "trigger") {
			t.Errorf("%s trigger outputs %v", name, trigs)
		}
	}
	// A hit closes the fixed trigger outputs that had not fired.
	m, _ := cache.Open(cache.Options{NodeTypes: nodeTypes})
	m.Put("fired", "Upper", "r", graph.Outputs{"out": "A"}, []string{"trigger"})
	m.Put("closed", "Upper", "r", graph.Outputs{"out": "B"}, nil)
	if res, ok := m.Get("fired"); !ok || len(res.Closed) != 0 {
		t.Errorf("fired: %+v %v", res, ok)
	}
	if res, ok := m.Get("closed"); !ok || len(res.Closed) != 1 || res.Closed[0] != "trigger" {
		t.Errorf("closed: %+v %v", res, ok)
	}
}
