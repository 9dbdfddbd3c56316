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

// BenchmarkPoolRequest is one whole non-streamed chat completion through
// the router to the inference test double on loopback: one endpoint, or a
// pool of four (four servers); the difference is the routing overhead seen
// by a caller.
func BenchmarkPoolRequest(b *testing.B) {
	for _, n := range []int{1, 4} {
		b.Run(fmt.Sprintf("endpoints-%d", n), func(b *testing.B) {
			cfg := openai.Config{Endpoints: map[string]openai.EndpointConfig{}}
			for i := range n {
				name := fmt.Sprintf("gpu%d", i)
				srv := devllm.New(b, devllm.Options{})
				cfg.Endpoints[name] = openai.EndpointConfig{BaseURL: srv.URL, Model: "m", MaxConcurrent: 64}
				cfg.Chat = append(cfg.Chat, name)
			}
			r, err := openai.NewRouter(cfg, func(string) string { return "" })
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			req := services.CompletionRequest{Messages: []services.Message{{Role: "user", Content: "go"}}}
			for range 4 * n { // warm a connection to each server
				if _, err := r.Complete(b.Context(), req, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := r.Complete(b.Context(), req, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
