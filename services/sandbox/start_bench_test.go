package sandbox

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/internal/benchstat"
	"github.com/grimoire-run/grimoire/services"
	"github.com/grimoire-run/grimoire/services/jsvm"
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

// Innocent calls while another caller's catastrophic RegExp runs (issue 13:
// 3 ms → 200 ms in the server's process), in the server's process (none)
// and in worker processes (process):
//
//	go test -run '^$' -bench BenchmarkCallBesideABomb -benchtime 400x ./services/sandbox/
func BenchmarkCallBesideABomb(b *testing.B) {
	js := jsvm.Options{Timeout: 500 * time.Millisecond}
	for _, mode := range []struct {
		name string
		open func() services.Sandbox
	}{
		{"process", func() services.Sandbox {
			p, err := New(Options{Workers: 2, JS: js, Prewarm: true})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { p.Close() })
			return p
		}},
		// Last, and not closed: the RegExps it abandons burn the CPU of
		// this process for good (Close would wait for them).
		{"none", func() services.Sandbox { return jsvm.New(js) }},
	} {
		b.Run(mode.name, func(b *testing.B) {
			sb := mode.open()
			ctx := context.Background()
			innocent := services.SandboxCall{Source: `function worker(i) { return { out: i.n * 2 } }`, Args: []any{map[string]any{"n": 1}}}
			bomb := services.SandboxCall{Source: `function worker() { return /(a+)+\1$/.test('a'.repeat(40) + 'b') }`}
			for range 5 {
				if _, err := sb.Call(ctx, innocent); err != nil {
					b.Fatal(err)
				}
			}
			stop := make(chan struct{})
			bombed := make(chan struct{})
			go func() {
				defer close(bombed)
				for {
					select {
					case <-stop:
						return
					default:
						sb.Call(ctx, bomb)
					}
				}
			}()
			var took []time.Duration
			for b.Loop() {
				t0 := time.Now()
				if _, err := sb.Call(ctx, innocent); err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(t0))
			}
			close(stop)
			<-bombed
			slices.Sort(took)
			b.ReportMetric(float64(benchstat.Percentile(took, 0.50).Microseconds()), "p50-µs")
			b.ReportMetric(float64(benchstat.Percentile(took, 0.99).Microseconds()), "p99-µs")
		})
	}
}
