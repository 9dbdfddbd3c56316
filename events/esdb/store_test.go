package esdb_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/events/esdb"
	"github.com/grimoire-run/grimoire/events/esdb/esdbtest"
	"github.com/grimoire-run/grimoire/events/storetest"
)

// EnvTestURL points the contract suite at a real EventStoreDB, for example
// GRIMOIRE_TEST_ESDB_URL=esdb://localhost:2113?tls=false.
const EnvTestURL = "GRIMOIRE_TEST_ESDB_URL"

// TestContractFakeServer runs the events.Store contract over real gRPC
// against the in-process EventStoreDB test double. It always runs (CI
// included): no EventStoreDB server can run here.
func TestContractFakeServer(t *testing.T) {
	storetest.RunWithOptions(t, storetest.Options{MaxEventSize: esdb.DefaultMaxAppendSize}, func(t *testing.T) events.Store {
		srv := esdbtest.StartT(t, esdbtest.Options{})
		return openStore(t, srv.URL(), esdb.Options{})
	})
}

// TestContractRealServer runs the same contract against the EventStoreDB
// named by GRIMOIRE_TEST_ESDB_URL. It is opt-in even in CI, where the
// adapter is covered by TestContractFakeServer.
func TestContractRealServer(t *testing.T) {
	url := os.Getenv(EnvTestURL)
	if url == "" {
		t.Skipf("%s is not set: no EventStoreDB to test against (start one, e.g. docker run -p 2113:2113 eventstore/eventstore:24.10 --insecure, and set %s=esdb://localhost:2113?tls=false)", EnvTestURL, EnvTestURL)
	}
	storetest.RunWithOptions(t, storetest.Options{MaxEventSize: esdb.DefaultMaxAppendSize, Timeout: 10 * time.Second}, func(t *testing.T) events.Store {
		return openStore(t, url, esdb.Options{})
	})
}

// openStore opens the adapter for one test and closes it when the test
// ends, checking that no goroutine of the adapter outlives Close.
func openStore(t *testing.T, url string, opts esdb.Options) *esdb.Store {
	t.Helper()
	opts.URL = url
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	if opts.ResubscribeMin == 0 {
		opts.ResubscribeMin, opts.ResubscribeMax = 10*time.Millisecond, 100*time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := esdb.New(ctx, opts)
	if err != nil {
		t.Fatalf("open EventStoreDB store: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		checkNoAdapterGoroutines(t)
	})
	return s
}

// checkNoAdapterGoroutines fails if a goroutine is still running code of
// package esdb (the client's own goroutines are the client's business).
func checkNoAdapterGoroutines(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "grimoire/events/esdb.") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines of the adapter outlived Close:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testLogger logs to t until the test's cleanups are done.
func testLogger(t *testing.T) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(w.stop) // registered first, runs last
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

type testWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

func (w *testWriter) stop() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}

var _ io.Writer = (*testWriter)(nil)
