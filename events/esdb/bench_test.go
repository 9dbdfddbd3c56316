package esdb_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/events/esdb"
	"github.com/grimoire-run/grimoire/events/esdb/esdbtest"
	"github.com/grimoire-run/grimoire/events/storetest"
)

// BenchmarkAppend measures single-event appends with exact expected
// revisions (what the run recorder does), 1 KiB events, 64 writers, each
// on its own stream. Against the test double the figure is the adapter's
// and gRPC's overhead over loopback, not EventStoreDB's throughput; set
// GRIMOIRE_TEST_ESDB_URL for a real server's.
func BenchmarkAppend(b *testing.B) {
	targets := map[string]func(b *testing.B) string{
		"FakeServer": func(b *testing.B) string { return esdbtest.StartT(b, esdbtest.Options{}).URL() },
		"RealServer": func(b *testing.B) string {
			url := os.Getenv(EnvTestURL)
			if url == "" {
				b.Skipf("%s is not set", EnvTestURL)
			}
			return url
		},
	}
	for _, name := range []string{"FakeServer", "RealServer"} {
		b.Run(name, func(b *testing.B) {
			url := targets[name](b)
			s, err := esdb.New(context.Background(), esdb.Options{URL: url})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			const writers = 64
			prefix := fmt.Sprintf("bench-%d-%d-", os.Getpid(), b.N)
			storetest.MeasureAppends(b, writers, 1024, func(ctx context.Context, w, i int, payload []byte) error {
				exp := events.NoStream
				if i > 0 {
					exp = events.Exact(uint64(i - 1))
				}
				_, err := s.Append(ctx, fmt.Sprintf("%s%d", prefix, w), exp, events.EventData{Type: "Bench", Data: payload})
				return err
			})
		})
	}
}
