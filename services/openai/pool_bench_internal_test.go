package openai

import (
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/grimoire-run/grimoire/services/devllm"
)

// BenchmarkRouting is what choosing the endpoint costs one attempt: pick
// (breaker admission, least-busy scan, in-flight reservation) and release
// (counters, breaker outcome), for a Client alone (no breaker), a pool of
// one and a pool of four, from one goroutine and from all of them at once.
func BenchmarkRouting(b *testing.B) {
	newClient := func(b *testing.B, name string) *Client {
		c, err := New(Options{Name: name, BaseURL: "http://127.0.0.1:1/v1", Model: "m"})
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	routes := []struct {
		name string
		rt   func(b *testing.B) route
	}{
		{"client", func(b *testing.B) route { return newClient(b, "solo") }},
	}
	for _, n := range []int{1, 4} {
		routes = append(routes, struct {
			name string
			rt   func(b *testing.B) route
		}{fmt.Sprintf("pool-%d", n), func(b *testing.B) route {
			p := &pool{name: "chat"}
			for i := range n {
				c := newClient(b, fmt.Sprintf("gpu%d", i))
				c.health = newBreaker(BreakerPolicy{})
				p.members = append(p.members, c)
			}
			return p
		}})
	}
	for _, r := range routes {
		b.Run(r.name+"/serial", func(b *testing.B) {
			rt := r.rt(b)
			for b.Loop() {
				l, err := rt.pick(nil)
				if err != nil {
					b.Fatal(err)
				}
				l.release(outcomeOK)
			}
		})
		b.Run(r.name+"/parallel", func(b *testing.B) {
			rt := r.rt(b)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					l, err := rt.pick(nil)
					if err != nil {
						b.Error(err)
						return
					}
					l.release(outcomeOK)
				}
			})
		})
	}
}

// BenchmarkHealthCheck is one active health check (GET /models on a kept
// connection to the inference test double on loopback): the client-side
// cost of healthCheck per endpoint per interval.
func BenchmarkHealthCheck(b *testing.B) {
	srv := devllm.New(b, devllm.Options{})
	c, err := New(Options{Name: "gpu1", BaseURL: srv.URL})
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for b.Loop() {
		if o := c.checkHealth(b.Context(), log); o != outcomeOK {
			b.Fatalf("check: outcome %v", o)
		}
	}
}
