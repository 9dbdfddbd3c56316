package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/grimoire-run/grimoire/internal/benchstat"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/events"
)

// AppendFunc appends one event carrying payload for writer w's i-th
// append and returns once it is durable.
type AppendFunc func(ctx context.Context, w, i int, payload []byte) error

// EventPayload returns a JSON object of exactly size bytes (size >= 16),
// the event body the published append figures use.
func EventPayload(size int) []byte {
	b := []byte(`{"text":"`)
	for len(b) < size-2 {
		b = append(b, 'a'+byte(len(b)%26))
	}
	return append(b, `"}`...)
}

// MeasureAppends runs b.N appends spread over writers concurrent
// goroutines and reports events/s and the p50/p99 latency of one append
// (µs) with b.ReportMetric. Every backend's figure (embedded engines,
// PostgreSQL) comes from this one function, so they are comparable.
func MeasureAppends(b *testing.B, writers, size int, appendFn AppendFunc) {
	payload := EventPayload(size)
	lat := make([][]time.Duration, writers)
	ctx := context.Background()
	var wg sync.WaitGroup
	var errOnce sync.Once
	var firstErr error
	b.SetBytes(int64(size))
	b.ResetTimer()
	start := time.Now()
	for w := range writers {
		count := b.N / writers
		if w < b.N%writers {
			count++
		}
		lat[w] = make([]time.Duration, 0, count)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range count {
				t0 := time.Now()
				if err := appendFn(ctx, w, i, payload); err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("writer %d append %d: %w", w, i, err) })
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(benchstat.Percentile(all, 0.50).Microseconds()), "p50_µs")
	b.ReportMetric(float64(benchstat.Percentile(all, 0.99).Microseconds()), "p99_µs")
}

// StoreAppender appends to a Store: writer w writes to its own stream
// under prefix with expected revisions Exact (NoStream first), as the run
// recorder does.
func StoreAppender(s events.Store, prefix string) AppendFunc {
	return func(ctx context.Context, w, i int, payload []byte) error {
		exp := events.NoStream
		if i > 0 {
			exp = events.Exact(uint64(i - 1))
		}
		_, err := s.Append(ctx, fmt.Sprintf("%s%d", prefix, w), exp, events.EventData{Type: "BenchEvent", Data: json.RawMessage(payload)})
		return err
	}
}
