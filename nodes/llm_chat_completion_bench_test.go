package nodes_test

import (
	"context"
	"fmt"
	"github.com/grimoire-run/grimoire/internal/benchstat"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/nodes"
	"github.com/grimoire-run/grimoire/services/devllm"
)

// chunkClock is an Observer that times each NodeChunk against the moment
// the inference test double sent that token.
type chunkClock struct {
	mu   sync.Mutex
	sent map[string]time.Time
	lat  []time.Duration
}

func (c *chunkClock) ObserveNode(e graph.NodeEvent) {
	if e.Kind != graph.NodeChunk {
		return
	}
	now := time.Now()
	c.mu.Lock()
	if t, ok := c.sent[e.Chunk]; ok {
		c.lat = append(c.lat, now.Sub(t))
	}
	c.mu.Unlock()
}

// BenchmarkStreamingToPartialOutput measures the streaming overhead a spell
// author sees: from a token leaving the inference server (just before its
// chunk is written to the socket) to the Chat Completion node's partial
// output reaching the run's observer (NodeChunk), through the real OpenAI
// client, the node and the runner. One op is one run streaming 32 tokens,
// one per millisecond (faster than a GPU decodes one stream).
//
//	go test -run '^$' -bench StreamingToPartialOutput -benchtime 50x ./nodes/
//
// Target (docs/benchmarks.md): p99 under 1 ms.
func BenchmarkStreamingToPartialOutput(b *testing.B) {
	clock := &chunkClock{sent: map[string]time.Time{}}
	chunks := make([]string, 32)
	for i := range chunks {
		chunks[i] = fmt.Sprintf(" t%d", i)
	}
	comp, _ := inferenceClient(b, devllm.Options{
		TokenInterval: time.Millisecond,
		Reply:         func(devllm.Request) devllm.Reply { return devllm.Reply{Chunks: chunks} },
		BeforeSend: func(piece string) {
			now := time.Now()
			clock.mu.Lock()
			clock.sent[piece] = now
			clock.mu.Unlock()
		},
	})
	r := &graph.Runner{Catalog: newCatalog(nodes.Services{Completion: comp}), NodeTimeout: 10 * time.Second}
	s := newSpell("stream").
		node("start", "Module Trigger In", nil).
		node("chat", "Chat Completion", map[string]any{"prompt": "go"}).
		edge("start.trigger>chat.trigger").build()
	run := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := r.Run(ctx, s, graph.RunRequest{RunID: "bench", Observer: clock}); err != nil {
			b.Fatal(err)
		}
	}
	run() // warm the connection
	clock.mu.Lock()
	clock.lat = clock.lat[:0]
	clock.mu.Unlock()
	b.ResetTimer()
	for b.Loop() {
		run()
	}
	b.StopTimer()
	lat := clock.lat
	if len(lat) == 0 {
		b.Fatal("no chunks observed")
	}
	slices.Sort(lat)
	us := func(p float64) float64 { return float64(benchstat.Percentile(lat, p)) / float64(time.Microsecond) }
	b.ReportMetric(us(0.50), "p50-µs")
	b.ReportMetric(us(0.99), "p99-µs")
	b.ReportMetric(float64(lat[len(lat)-1])/float64(time.Microsecond), "max-µs")
	b.ReportMetric(float64(len(lat)), "tokens")
}
