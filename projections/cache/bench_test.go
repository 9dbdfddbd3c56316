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

// BenchmarkHit compares the two places a hit's outputs can come from:
// memory (the chosen design) and the recorded event read back from the log
// (an index of key -> position only).
func BenchmarkHit(b *testing.B) {
	outputs := graph.Outputs{"out": strings.Repeat("a generated answer of some length ", 30)}
	b.Run("memory", func(b *testing.B) {
		m, _ := cache.Open(cache.Options{})
		for i := range 10_000 {
			m.Put(fmt.Sprintf("k%d", i), "Upper", "r", outputs, nil)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if _, ok := m.Get(fmt.Sprintf("k%d", i%10_000)); !ok {
				b.Fatal("miss")
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e3, "µs/hit")
	})
	b.Run("log-read", func(b *testing.B) {
		st := projtest.OpenStore(b)
		ctx := context.Background()
		var positions []uint64
		for i := range 10_000 / 100 {
			var evs []events.EventData
			for j := range 100 {
				evs = append(evs, completed(fmt.Sprint(i), uint64(j+1), fmt.Sprint(j), fmt.Sprintf("k%d", i*100+j), fmt.Sprint(outputs["out"])))
			}
			res, err := st.Append(ctx, events.RunStream(fmt.Sprint(i)), events.Any, evs...)
			if err != nil {
				b.Fatal(err)
			}
			for j := range 100 {
				positions = append(positions, res.Position-99+uint64(j))
			}
		}
		index := map[string]uint64{}
		for i, p := range positions {
			index[fmt.Sprintf("k%d", i)] = p
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			p := index[fmt.Sprintf("k%d", i%len(positions))]
			recs, err := st.ReadAll(ctx, p, 1)
			if err != nil || len(recs) != 1 {
				b.Fatal(err)
			}
			var e struct {
				Outputs graph.Outputs `json:"outputs"`
			}
			if err := json.Unmarshal(recs[0].Data, &e); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e3, "µs/hit")
	})
}

// BenchmarkCachedRun runs a chain of 100 deterministic nodes whose results
// are all in the cache: the cost of a hit per node as a run sees it, with
// and without recording each hit as a NodeCacheHit event.
func BenchmarkCachedRun(b *testing.B) {
	const nodes = 100
	s := &graph.Spell{ID: "chain", Nodes: []graph.Node{{ID: "start", Type: "Start"}, {ID: "in", Type: "In", Config: map[string]any{"name": "q"}}}}
	prev, prevOut := "start.trigger", "in.output"
	for i := range nodes {
		id := fmt.Sprintf("u%03d", i)
		s.Nodes = append(s.Nodes, graph.Node{ID: id, Type: "Upper"})
		s.Edges = append(s.Edges, edge(prev, id+".trigger"), edge(prevOut, id+".text"))
		prev, prevOut = id+".trigger", id+".out"
	}
	for _, record := range []bool{false, true} {
		name := "observer=none"
		if record {
			name = "observer=recorder"
		}
		b.Run(name, func(b *testing.B) {
			cat := testspell.New()
			m, _ := cache.Open(cache.Options{NodeTypes: cache.FromCatalog(cat)})
			runner := &graph.Runner{Catalog: cat}
			prog, err := runner.Compile(s)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			st := projtest.OpenStore(b)
			run := func(i int) {
				req := graph.RunRequest{RunID: fmt.Sprint(i), Inputs: map[string]any{"q": "hello"}, Cache: m}
				var rec *recorder.Recorder
				if record || i < 0 {
					rec, err = recorder.New(recorder.Options{Store: st, RunID: fmt.Sprintf("run%d", i), SpellID: s.ID, SpellHash: prog.Hash})
					if err != nil {
						b.Fatal(err)
					}
					req.Observer = m.Observer(req.RunID, rec)
				} else {
					req.Observer = m.Observer(req.RunID, nil)
				}
				if _, err := runner.RunProgram(ctx, prog, req); err != nil {
					b.Fatal(err)
				}
				if rec != nil {
					if err := rec.Close(ctx); err != nil {
						b.Fatal(err)
					}
				}
			}
			run(-1) // fill the cache
			if got := cat.Count("u000"); got != 1 {
				b.Fatalf("warm-up ran u000 %d times", got)
			}
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				run(i)
			}
			b.StopTimer()
			if got := cat.Count("u099"); got != 1 {
				b.Fatalf("u099 executed %d times: the cache missed", got)
			}
			b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N*nodes)/1e3, "µs/node")
		})
	}
}
