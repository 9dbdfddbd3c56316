package bus

import (
	"context"
	"fmt"
	"github.com/grimoire-run/grimoire/internal/benchstat"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/grimoire-run/grimoire/events"
)

// Benchmarks behind the bus's figures. Each runs one fixed scenario whatever
// b.N is (run them with -benchtime 1x):
//
//	go test -run '^$' -bench 'Bus' -benchtime 1x ./events/bus/
//
// Every run publishes its events from its own goroutine, a small batch per
// Publish call (1 to 3 events, what the recorder publishes after an
// append), all runs at once; the subscribers check per-run order and
// count. "saturated" publishes as fast as Publish returns and reports the
// events/s that reach every subscriber; "paced" offers GRIMOIRE_BENCH_BUS_RATE
// events/s in total (default 5000) and reports Publish-call-to-receipt
// latency. Sizes: GRIMOIRE_BENCH_BUS_RUNS concurrent runs (64),
// GRIMOIRE_BENCH_BUS_SECONDS of paced load (3).

// benchRuns makes perRun events for each of runs runs, with a node-sized
// payload, Position 1…runs*perRun.
func benchRuns(runs, perRun int) [][]events.RecordedEvent {
	out := make([][]events.RecordedEvent, runs)
	pad := strings.Repeat("x", 200)
	pos := uint64(0)
	for r := range runs {
		runID := fmt.Sprintf("bench%03d", r)
		out[r] = make([]events.RecordedEvent, 0, perRun)
		for i := range perRun {
			pos++
			out[r] = append(out[r], events.RecordedEvent{
				Stream:        events.RunStream(runID),
				Revision:      uint64(i),
				Position:      pos,
				ID:            events.RunEventID(runID, uint64(i+1)),
				Type:          events.TypeNodeCompleted,
				SchemaVersion: 1,
				Data:          []byte(fmt.Sprintf(`{"runId":%q,"seq":%d,"nodeId":"t%d","outputs":{"output":%q}}`, runID, i+1, i, pad)),
				Time:          time.Unix(1700000000, 0).UTC(),
			})
		}
	}
	return out
}

type busBench struct {
	name   string
	paced  bool
	subs   int
	nats   bool
	perRun int // saturated: events per run
}

func BenchmarkBus(b *testing.B) {
	for _, bb := range []busBench{
		{name: "gochannel/saturated/1sub", subs: 1, perRun: 300},
		{name: "gochannel/saturated/3subs", subs: 3, perRun: 300},
		{name: "gochannel/paced/1sub", paced: true, subs: 1},
		{name: "nats/saturated/1sub", nats: true, subs: 1, perRun: 100},
		{name: "nats/paced/1sub", nats: true, paced: true, subs: 1},
	} {
		b.Run(bb.name, func(b *testing.B) { runBusBench(b, bb) })
	}
}

func runBusBench(b *testing.B, bb busBench) {
	nRuns := benchstat.EnvInt("GRIMOIRE_BENCH_BUS_RUNS", 64)
	rate := benchstat.EnvInt("GRIMOIRE_BENCH_BUS_RATE", 5000)
	seconds := benchstat.EnvInt("GRIMOIRE_BENCH_BUS_SECONDS", 3)
	perRun := bb.perRun
	if bb.paced {
		perRun = rate * seconds / nRuns
	}
	opts := Options{}
	if bb.nats {
		url := natsURL(b)
		suffix := fmt.Sprintf("%d", time.Now().UnixNano())
		opts = Options{URL: url, NATSStream: "GRIMOIRE_BENCH_" + suffix, NATSSubjectPrefix: "grimoirebench." + suffix + ".", NATSMaxAge: time.Minute}
		b.Cleanup(func() {
			if nc, err := nats.Connect(url); err == nil {
				if js, err := nc.JetStream(); err == nil {
					_ = js.DeleteStream(opts.NATSStream)
				}
				nc.Close()
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bus, err := New(ctx, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer bus.Close()
	runs := benchRuns(nRuns, perRun)
	total := nRuns * perRun
	sent := make([]atomic.Int64, total+1) // by Position: when Publish was called

	var subsWG sync.WaitGroup
	lats := make([][]float64, bb.subs)
	subErrs := make([]error, bb.subs)
	var lastRecv atomic.Int64
	for s := range bb.subs {
		ch, err := bus.Subscribe(ctx, TopicRuns)
		if err != nil {
			b.Fatal(err)
		}
		subsWG.Add(1)
		go func() {
			defer subsWG.Done()
			next := map[string]uint64{}
			lat := make([]float64, 0, total)
			for got := 0; got < total; got++ {
				select {
				case e, ok := <-ch:
					if !ok {
						subErrs[s] = fmt.Errorf("subscription closed after %d of %d events", got, total)
						return
					}
					now := time.Now().UnixNano()
					if e.Revision != next[e.Stream] {
						subErrs[s] = fmt.Errorf("%s: got revision %d, want %d", e.Stream, e.Revision, next[e.Stream])
						return
					}
					next[e.Stream]++
					lat = append(lat, float64(now-sent[e.Position].Load())/1e6)
					lastRecv.Store(now)
				case <-ctx.Done():
					subErrs[s] = fmt.Errorf("timed out after %d of %d events", got, total)
					return
				}
			}
			lats[s] = lat
		}()
	}

	// Each run publishes batches of 1–3 events; paced runs spread their
	// batches evenly over the load period, staggered.
	interval := time.Duration(0)
	if bb.paced {
		interval = time.Duration(float64(time.Second) * 2 / float64(rate) * float64(nRuns)) // 2 events per batch on average
	}
	b.ResetTimer()
	start := time.Now()
	var pubWG sync.WaitGroup
	pubErr := make(chan error, nRuns)
	for r, evs := range runs {
		pubWG.Add(1)
		go func() {
			defer pubWG.Done()
			at := start.Add(time.Duration(r) * interval / time.Duration(nRuns))
			for k := 0; len(evs) > 0; k++ {
				n := min(1+(r+k)%3, len(evs))
				if bb.paced {
					if d := time.Until(at); d > 0 {
						time.Sleep(d)
					}
					at = at.Add(interval)
				}
				now := time.Now().UnixNano()
				for _, e := range evs[:n] {
					sent[e.Position].Store(now)
				}
				if err := bus.Publish(ctx, evs[:n]...); err != nil {
					pubErr <- err
					return
				}
				evs = evs[n:]
			}
		}()
	}
	pubWG.Wait()
	offered := time.Since(start)
	subsWG.Wait()
	elapsed := time.Duration(lastRecv.Load() - start.UnixNano())
	b.StopTimer()
	close(pubErr)
	for err := range pubErr {
		b.Fatal(err)
	}
	var all []float64
	for s, err := range subErrs {
		if err != nil {
			b.Fatalf("subscriber %d: %v", s, err)
		}
		all = append(all, lats[s]...)
	}
	slices.Sort(all)
	load, _ := os.ReadFile("/proc/loadavg")
	b.ReportMetric(float64(total)/elapsed.Seconds(), "events/s")
	b.ReportMetric(benchstat.Percentile(all, 0.50), "p50-ms")
	b.ReportMetric(benchstat.Percentile(all, 0.99), "p99-ms")
	b.ReportMetric(all[len(all)-1], "max-ms")
	b.ReportMetric(0, "ns/op")
	b.Logf("%s: %d runs × %d events to %d subscribers in %v (publishing took %v): %.0f events/s, latency p50 %.2f ms p99 %.2f ms max %.2f ms; loadavg %s",
		bus.Kind(), nRuns, perRun, bb.subs, elapsed.Round(time.Millisecond), offered.Round(time.Millisecond),
		float64(total)/elapsed.Seconds(), benchstat.Percentile(all, 0.50), benchstat.Percentile(all, 0.99), all[len(all)-1], strings.TrimSpace(string(load)))
}
