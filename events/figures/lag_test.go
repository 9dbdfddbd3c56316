package figures

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/grimoire-run/grimoire/internal/benchstat"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/events/embedded"
	"github.com/grimoire-run/grimoire/events/storetest"
)

// BenchmarkSubscriptionLag: b.N 1 KiB events appended at a paced
// lagRate events/s by lagWriters writers (event k is due at k/lagRate
// after the start; writer k%lagWriters sends it, late if it is still busy)
// while one subscription follows the log. The lag of an event is from the
// moment its Append is called (so it includes the append's fsync) to its
// delivery by Next.
//
//	go test -run '^$' -bench SubscriptionLag -benchtime 50000x ./events/figures/
func BenchmarkSubscriptionLag(b *testing.B) {
	const (
		lagRate    = 10_000
		lagWriters = 64
	)
	s, err := embedded.Open(embedded.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	sub, err := s.Subscribe(ctx, events.SubscribeOptions{FromEnd: true, StreamPrefixes: []string{"run-lag-"}})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()

	n := b.N
	payload := json.RawMessage(storetest.EventPayload(1024))
	sent := make([]time.Duration, n)  // Append called, since start
	acked := make([]time.Duration, n) // Append returned
	recv := make([]time.Duration, n)  // delivered
	interval := time.Second / lagRate

	b.ResetTimer()
	start := time.Now()
	recvDone := make(chan error, 1)
	go func() {
		for got := 0; got < n; got++ {
			e, err := sub.Next(ctx)
			if err != nil {
				recvDone <- fmt.Errorf("after %d of %d events: %w", got, n, err)
				return
			}
			at := time.Since(start)
			// Writer w's j-th event is event j*lagWriters+w.
			w, err := strconv.Atoi(strings.TrimPrefix(e.Stream, "run-lag-"))
			if err != nil {
				recvDone <- fmt.Errorf("stream %q", e.Stream)
				return
			}
			recv[int(e.Revision)*lagWriters+w] = at
		}
		recvDone <- nil
	}()
	var wg sync.WaitGroup
	var errOnce sync.Once
	var appendErr error
	for w := range lagWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := fmt.Sprintf("run-lag-%d", w)
			for j := 0; ; j++ {
				k := j*lagWriters + w
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
