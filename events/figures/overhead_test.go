package figures

import (
	"context"
	"fmt"
	"github.com/grimoire-run/grimoire/internal/benchstat"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/events/embedded"
	"github.com/grimoire-run/grimoire/events/recorder/recordertest"
	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/server/runs"
)

// BenchmarkRecordingOverhead: a chain of 100 Work nodes that each take
// 1 ms (and stream 10 tokens), run b.N times bare (Runner.RunProgram, no
// observer) and b.N times recorded (runs.Executor into the durable
// embedded store: RunRequested made durable before the run starts,
// NodeStarted/NodeOutputChunk/NodeCompleted batched, RunCompleted durable
// before the run counts as done), alternately so that both see the same
// machine load. overhead_% is (recorded - bare) / bare wall time, summed
// over the runs; overhead_median_% is the median paired difference over
// the median bare run, which one load spike of a shared machine moves less.
//
//	go test -run '^$' -bench RecordingOverhead -benchtime 30x ./events/figures/
func BenchmarkRecordingOverhead(b *testing.B) {
	const (
		nodes  = 100
		delay  = time.Millisecond
		tokens = 10
	)
	ctx := context.Background()
	spell := recordertest.Chain("overhead", nodes, delay, tokens)
	runner := &graph.Runner{Catalog: recordertest.NewCatalog(recordertest.Options{})}
	prog, err := runner.Compile(spell)
	if err != nil {
		b.Fatal(err)
	}
	st, err := embedded.Open(embedded.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ex, err := runs.New(runs.Options{Store: st, Runner: runner, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer ex.Close(ctx)
	want := ""
	for i := 1; i <= nodes; i++ {
		want += fmt.Sprintf(">w%03d", i)
	}

	bare := func() time.Duration {
		t0 := time.Now()
		res, err := runner.RunProgram(ctx, prog, graph.RunRequest{RunID: "bare"})
		d := time.Since(t0)
		if err != nil || res.Outputs["result"] != want {
			b.Fatalf("bare run: %v", err)
		}
		return d
	}
	recorded := func() time.Duration {
		t0 := time.Now()
		r, err := ex.Start(ctx, runs.RunSpec{Program: prog, Source: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		o, err := r.Wait(ctx)
		d := time.Since(t0)
		if err != nil || o.Status != runs.StatusCompleted || o.RecordErr != nil || o.Outputs["result"] != want {
			b.Fatalf("recorded run: %+v %v", o, err)
		}
		return d
	}
	// Warm up: the spell's first save, the store's first segment.
	bare()
	recorded()

	bares := make([]time.Duration, 0, b.N)
	recs := make([]time.Duration, 0, b.N)
	diffs := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		var db, dr time.Duration
		if i%2 == 0 {
			db, dr = bare(), recorded()
		} else {
			dr, db = recorded(), bare()
		}
		bares, recs, diffs = append(bares, db), append(recs, dr), append(diffs, dr-db)
	}
	b.StopTimer()
	var sumBare, sumRec time.Duration
	for i := range bares {
		sumBare += bares[i]
		sumRec += recs[i]
	}
	slices.Sort(bares)
	slices.Sort(diffs)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(sumBare/time.Duration(b.N)), "bare_ms/run")
	b.ReportMetric(ms(sumRec/time.Duration(b.N)), "recorded_ms/run")
	b.ReportMetric(100*float64(sumRec-sumBare)/float64(sumBare), "overhead_%")
	// The same from medians: the paired difference over the bare run.
	// A load spike of the shared machine during one run moves the mean
	// much more than this.
	b.ReportMetric(100*float64(benchstat.Percentile(diffs, 0.5))/float64(benchstat.Percentile(bares, 0.5)), "overhead_median_%")
}
