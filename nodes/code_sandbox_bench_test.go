package nodes_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/internal/benchstat"
	"github.com/grimoire-run/grimoire/nodes"
	"github.com/grimoire-run/grimoire/services"
	"github.com/grimoire-run/grimoire/services/jsvm"
	"github.com/grimoire-run/grimoire/services/sandbox"
)

// A trivial Code node's activation, in the server's process (none) and in a
// worker process (process), as a run of Input → Code → Output
// (docs/benchmarks.md):
//
//	go test -run '^$' -bench 'BenchmarkCodeNode' -benchtime 2000x ./nodes/
//
// Target: p99 under 1 ms in process mode.
func BenchmarkCodeNode(b *testing.B) {
	for _, mode := range []struct {
		name string
		open func(b *testing.B) services.Sandbox
	}{
		{"none", func(b *testing.B) services.Sandbox {
			s := jsvm.New(jsvm.Options{})
			b.Cleanup(func() { s.Close() })
			return s
		}},
		{"process", func(b *testing.B) services.Sandbox {
			return newProcessSandbox(b, sandbox.Options{Workers: 2, Prewarm: true})
		}},
	} {
		b.Run(mode.name, func(b *testing.B) {
			r := &graph.Runner{Catalog: newCatalog(nodes.Services{Sandbox: mode.open(b)})}
			prog, err := r.Compile(codeSpell("function worker(inputs, data) { return { double: inputs.x * 2, label: data.label } }",
				map[string]any{"label": "ok"}))
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			run := func() {
				res, err := r.RunProgram(ctx, prog, graph.RunRequest{RunID: "bench", Inputs: map[string]any{"x": 2.0}})
				if err != nil {
					b.Fatal(err)
				}
				if res.Outputs["double"] != 4.0 {
					b.Fatalf("outputs %v", res.Outputs)
				}
			}
			for range 20 { // start the workers, fill the program caches
				run()
			}
			took := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for b.Loop() {
				t0 := time.Now()
				run()
				took = append(took, time.Since(t0))
			}
			b.StopTimer()
			slices.Sort(took)
			b.ReportMetric(float64(benchstat.Percentile(took, 0.50).Microseconds()), "p50-µs")
			b.ReportMetric(float64(benchstat.Percentile(took, 0.99).Microseconds()), "p99-µs")
		})
	}
}
