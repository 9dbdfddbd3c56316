package projections_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/events/embedded"
	"github.com/grimoire-run/grimoire/projections"
	"github.com/grimoire-run/grimoire/projections/runs"
	"github.com/grimoire-run/grimoire/projections/usage"
)

// A log of benchRuns runs of benchNodes nodes each: RunRequested, per node
// NodeStarted, two NodeOutputChunk and NodeCompleted (outputs and usage),
// then RunCompleted: 2 + 4*benchNodes events per run (122,000 in all).
const (
	benchRuns  = 1000
	benchNodes = 30
)

var (
	benchOnce  sync.Once
	benchDir   string
	benchTotal int
	benchErr   error
)

// TestMain removes the benchmark's log after the run.
func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

func benchLog(b *testing.B) string {
	benchOnce.Do(func() {
		benchDir, benchErr = os.MkdirTemp("", "grimoire-rebuild-bench-")
		if benchErr != nil {
			return
		}
		st, err := embedded.Open(embedded.Options{Dir: benchDir})
		if err != nil {
			benchErr = err
			return
		}
		defer st.Close()
		t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
		var wg sync.WaitGroup
		var mu sync.Mutex
		for w := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for r := w; r < benchRuns; r += 16 {
					runID := fmt.Sprintf("bench-%05d", r)
					at := t0.Add(time.Duration(r) * time.Minute)
					seq := uint64(0)
					h := func() events.RunHeader {
						seq++
						return events.RunHeader{RunID: runID, Seq: seq, SpellID: fmt.Sprint("spell-", r%7), SpellHash: "sha256:abc", Time: at.Add(time.Duration(seq) * time.Millisecond)}
					}
					evs := []events.EventData{events.MustEncode(&events.RunRequested{RunHeader: h(), User: fmt.Sprint("user-", r%13), Source: "rest",
						Inputs: map[string]any{"question": "what is the answer to everything, in a few words?"}})}
					for n := range benchNodes {
						ref := events.NodeRef{NodeID: fmt.Sprint("node-", n), NodeType: "Generator", Activation: 1}
						evs = append(evs,
							events.MustEncode(&events.NodeStarted{RunHeader: h(), NodeRef: ref, Trigger: "trigger"}),
							events.MustEncode(&events.NodeOutputChunk{RunHeader: h(), NodeRef: ref, Index: 0, Text: "The answer is "}),
							events.MustEncode(&events.NodeOutputChunk{RunHeader: h(), NodeRef: ref, Index: 1, Text: "forty-two, as everyone knows."}),
							events.MustEncode(&events.NodeCompleted{RunHeader: h(), NodeRef: ref, Fired: []string{"trigger"}, Duration: 1500 * time.Millisecond,
								Outputs: map[string]any{"result": "The answer is forty-two, as everyone knows."},
								Usage:   &events.Usage{Model: fmt.Sprint("model-", n%3), PromptTokens: 120, CompletionTokens: 12, TotalTokens: 132, Calls: 1}}))
					}
					evs = append(evs, events.MustEncode(&events.RunCompleted{RunHeader: h(), Duration: 45 * time.Second,
						Outputs: map[string]any{"answer": "forty-two"}}))
					if _, err := st.Append(context.Background(), events.RunStream(runID), events.NoStream, evs...); err != nil {
						mu.Lock()
						benchErr = err
						mu.Unlock()
						return
					}
					mu.Lock()
					benchTotal += len(evs)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchDir
}

func openBenchStore(b *testing.B) *embedded.Store {
	st, err := embedded.Open(embedded.Options{Dir: benchLog(b)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

// BenchmarkRebuild replays the whole log (122,000 events) into the runs
// and usage read models: offline in one pass (ReplayAll, what `grimoire
// projections rebuild` does for a model the process does not follow), and
// online through the Runner's checkpointed subscription (Rebuild, what the
// server does while serving).
func BenchmarkRebuild(b *testing.B) {
	ctx := context.Background()
	b.Run("offline/runs+usage", func(b *testing.B) {
		st := openBenchStore(b)
		rm, _ := runs.Open(runs.Options{})
		um, _ := usage.Open(usage.Options{})
		// Warm up: the first pass after the log was written also pays for
		// Pebble's compactions of it.
		if _, err := projections.ReplayAll(ctx, st, rm, um); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for range b.N {
			if _, err := projections.ReplayAll(ctx, st, rm, um); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		if rm.Len() != benchRuns {
			b.Fatalf("runs model has %d runs, want %d", rm.Len(), benchRuns)
		}
		b.ReportMetric(float64(benchTotal*b.N)/b.Elapsed().Seconds(), "events/s")
	})
	for _, name := range []string{"runs", "usage"} {
		b.Run("online/"+name, func(b *testing.B) {
			st := openBenchStore(b)
			var p projections.Projection
			if name == "runs" {
				p, _ = runs.Open(runs.Options{})
			} else {
				p, _ = usage.Open(usage.Options{})
			}
			r, err := projections.NewRunner(projections.Options{Store: st}, p)
			if err != nil {
				b.Fatal(err)
			}
			if err := r.Start(); err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			if err := r.CaughtUp(ctx, name); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				if err := r.Rebuild(ctx, name); err != nil {
					b.Fatal(err)
				}
				if err := r.CaughtUp(ctx, name); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(benchTotal*b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
