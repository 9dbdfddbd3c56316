package openai_test

import (
	"fmt"
	"github.com/grimoire-run/grimoire/internal/benchstat"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/services"
	"github.com/grimoire-run/grimoire/services/devllm"
	"github.com/grimoire-run/grimoire/services/openai"
)

// BenchmarkStreamingOverhead measures the time from a token leaving the
// inference test double (just before its chunk is written to the socket)
// to the client's onToken callback. One op is one streamed answer of 32
// tokens; "paced" sends a token every millisecond (faster than any GPU
// decodes), "burst" sends them back to back.
func BenchmarkStreamingOverhead(b *testing.B) {
	for _, tc := range []struct {
		name     string
		interval time.Duration
	}{{"paced-1ms", time.Millisecond}, {"burst", 0}} {
		b.Run(tc.name, func(b *testing.B) {
			var mu sync.Mutex
			sent := map[string]time.Time{}
			var lat []time.Duration
			chunks := make([]string, 32)
			for i := range chunks {
				chunks[i] = fmt.Sprintf(" t%d", i)
			}
			srv := devllm.New(b, devllm.Options{
				TokenInterval: tc.interval,
				Reply:         func(devllm.Request) devllm.Reply { return devllm.Reply{Chunks: chunks} },
				BeforeSend: func(piece string) {
					now := time.Now()
					mu.Lock()
					sent[piece] = now
					mu.Unlock()
				},
			})
			c, err := openai.New(openai.Options{BaseURL: srv.URL, Model: "m", Logger: quietLogger})
			if err != nil {
				b.Fatal(err)
			}
			onToken := func(piece string) {
				now := time.Now()
				mu.Lock()
				lat = append(lat, now.Sub(sent[piece]))
				mu.Unlock()
			}
			req := services.CompletionRequest{Messages: []services.Message{{Role: "user", Content: "go"}}}
			if _, err := c.Complete(b.Context(), req, onToken); err != nil { // warm the connection
				b.Fatal(err)
			}
			lat = lat[:0]
			b.ResetTimer()
			for b.Loop() {
				if _, err := c.Complete(b.Context(), req, onToken); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			slices.Sort(lat)
			us := func(p float64) float64 { return float64(benchstat.Percentile(lat, p)) / float64(time.Microsecond) }
			b.ReportMetric(us(0.50), "p50-µs")
			b.ReportMetric(us(0.99), "p99-µs")
			b.ReportMetric(float64(lat[len(lat)-1])/float64(time.Microsecond), "max-µs")
		})
	}
}
