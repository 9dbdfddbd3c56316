package sandbox

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/internal/benchstat"
	"github.com/grimoire-run/grimoire/services"
)

// A worker's start: process start, the Go runtime's and the package inits,
// limits set, hello received (docs/benchmarks.md):
//
//	go test -run '^$' -bench BenchmarkWorkerStart -benchtime 100x ./services/sandbox/
func BenchmarkWorkerStart(b *testing.B) {
	p, err := New(Options{Workers: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	var took []time.Duration
	for b.Loop() {
		t0 := time.Now()
		w, err := p.start()
		if err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(t0))
		p.kill(w)
		<-w.exited
	}
	slices.Sort(took)
	b.ReportMetric(float64(benchstat.Percentile(took, 0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(benchstat.Percentile(took, 0.99).Microseconds())/1000, "p99-ms")
}

// One trivial activation's round trip to a warm worker (the Code node's
// share is BenchmarkCodeNode in nodes):
//
//	go test -run '^$' -bench BenchmarkCall -benchtime 5000x ./services/sandbox/
func BenchmarkCall(b *testing.B) {
	p, err := New(Options{Workers: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	call := services.SandboxCall{
		Source: `function worker(inputs, data, state) { return { out: inputs.text.toUpperCase() } }`,
		Args:   []any{map[string]any{"text": "hello"}, map[string]any{}, map[string]any{}},
	}
	ctx := context.Background()
	if _, err := p.Call(ctx, call); err != nil { // the worker starts
		b.Fatal(err)
	}
	var took []time.Duration
	for b.Loop() {
		t0 := time.Now()
		if _, err := p.Call(ctx, call); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(t0))
	}
	slices.Sort(took)
	b.ReportMetric(float64(benchstat.Percentile(took, 0.50).Microseconds()), "p50-µs")
	b.ReportMetric(float64(benchstat.Percentile(took, 0.99).Microseconds()), "p99-µs")
}
