package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/internal/benchstat"

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

// MeasureSubscriptionLag: b.N 1 KiB events appended at a paced rate
// events/s by writers writers (event k is due at k/rate after the start;
// writer k%writers sends it, late if it is still busy) while one
// subscription (FromEnd) follows s. The lag of an event is from the moment
// its Append is called (so it includes the append's commit) to its
// delivery by Next. Reports sent_events/s, lag_p50_ms, lag_p99_ms,
// lag_max_ms and after_ack_p99_ms (from the Append's return). Writers
// append to streams run-lag-<w>, which must be new, in s; the subscriber
// follows sub, which is s or another handle on the same log (another
// process's).
func MeasureSubscriptionLag(b *testing.B, s, sub events.Store, rate, writers int) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	subscription, err := sub.Subscribe(ctx, events.SubscribeOptions{FromEnd: true, StreamPrefixes: []string{"run-lag-"}})
	if err != nil {
		b.Fatal(err)
	}
	defer subscription.Close()

	n := b.N
	payload := json.RawMessage(EventPayload(1024))
	sent := make([]time.Duration, n)  // Append called, since start
	acked := make([]time.Duration, n) // Append returned
	recv := make([]time.Duration, n)  // delivered
	interval := time.Second / time.Duration(rate)

	b.ResetTimer()
	start := time.Now()
	recvDone := make(chan error, 1)
	go func() {
		for got := 0; got < n; got++ {
			e, err := subscription.Next(ctx)
			if err != nil {
				recvDone <- fmt.Errorf("after %d of %d events: %w", got, n, err)
				return
			}
			at := time.Since(start)
			// Writer w's j-th event is event j*writers+w.
			w, err := strconv.Atoi(strings.TrimPrefix(e.Stream, "run-lag-"))
			if err != nil {
				recvDone <- fmt.Errorf("stream %q", e.Stream)
				return
			}
			recv[int(e.Revision)*writers+w] = at
		}
		recvDone <- nil
	}()
	var wg sync.WaitGroup
	var errOnce sync.Once
	var appendErr error
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := fmt.Sprintf("run-lag-%d", w)
			for j := 0; ; j++ {
				k := j*writers + w
				if k >= n {
					return
				}
				if d := time.Duration(k)*interval - time.Since(start); d > 0 {
					time.Sleep(d)
				}
				exp := events.NoStream
				if j > 0 {
					exp = events.Exact(uint64(j - 1))
				}
				sent[k] = time.Since(start)
				if _, err := s.Append(ctx, stream, exp, events.EventData{Type: "LagEvent", Data: payload}); err != nil {
					errOnce.Do(func() { appendErr = fmt.Errorf("writer %d append %d: %w", w, j, err) })
					cancel()
					return
				}
				acked[k] = time.Since(start)
			}
		}()
	}
	wg.Wait()
	sendTime := time.Since(start)
	if appendErr != nil {
		b.Fatal(appendErr)
	}
	if err := <-recvDone; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()

	lag := make([]time.Duration, n)
	commitLag := make([]time.Duration, n)
	for k := range n {
		lag[k] = recv[k] - sent[k]
		commitLag[k] = max(0, recv[k]-acked[k]) // delivery may beat the writer's wake-up
	}
	slices.Sort(lag)
	slices.Sort(commitLag)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(float64(n)/sendTime.Seconds(), "sent_events/s")
	b.ReportMetric(ms(benchstat.Percentile(lag, 0.50)), "lag_p50_ms")
	b.ReportMetric(ms(benchstat.Percentile(lag, 0.99)), "lag_p99_ms")
	b.ReportMetric(ms(lag[n-1]), "lag_max_ms")
	b.ReportMetric(ms(benchstat.Percentile(commitLag, 0.99)), "after_ack_p99_ms")
}
