package embedbatch_test

import (
	"context"
	"fmt"
	"github.com/grimoire-run/grimoire/internal/benchstat"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/services"
	"github.com/grimoire-run/grimoire/services/devllm"
	"github.com/grimoire-run/grimoire/services/embedbatch"
	"github.com/grimoire-run/grimoire/services/openai"
)

// gpuEmbedLatency is the shape of a GPU embedding server: a fixed cost per
// forward pass plus a small cost per text, one pass at a time.
var gpuEmbedLatency = devllm.Latency{Fixed: 4 * time.Millisecond, PerItem: 100 * time.Microsecond, Slots: 1}

const benchCallers = 64

// closedLoop runs callers goroutines, each embedding one text per call,
// perCaller calls in a row, and returns the elapsed time.
func closedLoop(tb testing.TB, e services.Embedder, callers, perCaller int) time.Duration {
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	start := time.Now()
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perCaller {
				if _, err := e.Embed(context.Background(), []string{fmt.Sprintf("caller %d call %d", c, i)}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
	return elapsed
}

// BenchmarkMicroBatching: 64 concurrent callers against the inference test
// double with GPU-shaped latency, through the OpenAI client, with and
// without the Batcher. One op is one text embedded per caller.
func BenchmarkMicroBatching(b *testing.B) {
	srv := devllm.New(b, devllm.Options{EmbedLatency: gpuEmbedLatency})
	client, err := openai.New(openai.Options{BaseURL: srv.URL, EmbeddingModel: "bge-m3", MaxConcurrent: benchCallers})
	if err != nil {
		b.Fatal(err)
	}
	const maxWait = 5 * time.Millisecond
	var mu sync.Mutex
	var waits []time.Duration
	batches, texts := 0, 0
	batcher := embedbatch.New(client, embedbatch.Options{MaxBatch: 64, MaxWait: maxWait, OnBatch: func(bt embedbatch.Batch) {
		mu.Lock()
		waits = append(waits, bt.Waits...)
		batches++
		texts += bt.Texts
		mu.Unlock()
	}})
	defer batcher.Close()

	// Unbatched baseline, a bounded number of rounds (it is slow by nature).
	closedLoop(b, client, benchCallers, 1) // warm connections
	rounds := min(b.N, 5)
	unbatched := float64(benchCallers*rounds) / closedLoop(b, client, benchCallers, rounds).Seconds()

	closedLoop(b, batcher, benchCallers, 1) // warm
	mu.Lock()
	waits, batches, texts = nil, 0, 0
	mu.Unlock()
	b.ResetTimer()
	elapsed := closedLoop(b, batcher, benchCallers, b.N)
	b.StopTimer()
	batched := float64(benchCallers*b.N) / elapsed.Seconds()

	mu.Lock()
	defer mu.Unlock()
	slices.Sort(waits)
	pct := func(p float64) float64 {
		return float64(benchstat.Percentile(waits, p)) / float64(time.Millisecond)
	}
	b.ReportMetric(batched, "texts/s")
	b.ReportMetric(unbatched, "unbatched-texts/s")
	b.ReportMetric(batched/unbatched, "speedup")
	b.ReportMetric(pct(0.50), "p50-wait-ms")
	b.ReportMetric(pct(0.99), "p99-wait-ms")
	b.ReportMetric(float64(waits[len(waits)-1])/float64(time.Millisecond), "max-wait-ms")
	b.ReportMetric(float64(maxWait)/float64(time.Millisecond), "MaxWait-ms")
	b.ReportMetric(float64(texts)/float64(batches), "texts/batch")
}
