package nodes_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/nodes"
)

// Runner overhead per node, with trivial nodes (docs/benchmarks.md):
//
//	go test -run '^$' -bench 'BenchmarkRunner' -benchmem ./nodes/
//
// Target: at most 5 µs and 2 KiB allocated per node.

func chainSpell(n int) *graph.Spell {
	b := newSpell(fmt.Sprintf("chain-%d", n)).node("start", "Module Trigger In", nil)
	prev := "start"
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("n%04d", i)
		b.node(id, "Test Pass", nil).edge(prev + ".trigger>" + id + ".trigger")
		prev = id
	}
	return b.build()
}

func fanOutSpell(n int) *graph.Spell {
	b := newSpell(fmt.Sprintf("fanout-%d", n)).node("start", "Module Trigger In", nil)
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("n%04d", i)
		b.node(id, "Test Pass", nil).edge("start.trigger>" + id + ".trigger")
	}
	return b.build()
}

func benchmarkRunner(b *testing.B, s *graph.Spell) {
	r := &graph.Runner{Catalog: newCatalog(nodes.Services{})}
	prog, err := r.Compile(s)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	nodes := float64(len(s.Nodes))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := r.RunProgram(ctx, prog, graph.RunRequest{RunID: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		if res.Activations != len(s.Nodes) {
			b.Fatalf("%d activations, want %d", res.Activations, len(s.Nodes))
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/nodes, "ns/node")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/nodes, "B/node")
}

func BenchmarkRunnerChain1000(b *testing.B)  { benchmarkRunner(b, chainSpell(1000)) }
func BenchmarkRunnerFanOut1000(b *testing.B) { benchmarkRunner(b, fanOutSpell(1000)) }

// With an observer attached, as every real run has (the recorder).
func BenchmarkRunnerChain1000Observed(b *testing.B) {
	s := chainSpell(1000)
	r := &graph.Runner{Catalog: newCatalog(nodes.Services{})}
	prog, err := r.Compile(s)
	if err != nil {
		b.Fatal(err)
	}
	obs := graph.ObserverFunc(func(graph.NodeEvent) {})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.RunProgram(context.Background(), prog, graph.RunRequest{RunID: "bench", Observer: obs}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1001, "ns/node")
}
