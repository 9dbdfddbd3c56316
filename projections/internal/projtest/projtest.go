// Package projtest starts what the read models' tests share: an embedded
// event store in a temporary directory and a projections.Runner over it,
// closed when the test ends, and a bounded wait for a projection to catch
// up. Tests only; it must not import a read model.
package projtest

import (
	"context"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/events/embedded"
	"github.com/grimoire-run/grimoire/projections"
)

// OpenStore opens an embedded store in a temporary directory, closed when
// the test ends.
func OpenStore(t testing.TB) *embedded.Store {
	t.Helper()
	st, err := embedded.Open(embedded.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// Start starts a runner of ps over st (retrying a failed event after
// 10 ms), closed when the test ends.
func Start(t testing.TB, st events.Store, ps ...projections.Projection) *projections.Runner {
	t.Helper()
	r, err := projections.NewRunner(projections.Options{Store: st, RetryDelay: 10 * time.Millisecond}, ps...)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// CaughtUp waits, 10 seconds at most, until projection name has applied
// the log up to its head.
func CaughtUp(t testing.TB, r *projections.Runner, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.CaughtUp(ctx, name); err != nil {
		t.Fatal(err)
	}
}
