package runs

import (
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/grimoire-run/grimoire/events"
)

// The queue fires each deadline once, in order, at its time; a removed
// one never fires; a replaced one fires at its new time.
func TestDeadlineQueueFiresInOrderWithOneTimer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var (
			mu    sync.Mutex
			fired []string
			at    []time.Duration
		)
		start := time.Now()
		q := newDeadlineQueue(time.Now, func(runID string, ref events.NodeRef) {
			mu.Lock()
			fired = append(fired, runID)
			at = append(at, time.Since(start))
			mu.Unlock()
		})
		ref := events.NodeRef{NodeID: "ask", Activation: 1}
		q.add("c", ref, start.Add(3*time.Hour))
		q.add("a", ref, start.Add(time.Hour))
		q.add("b", ref, start.Add(2*time.Hour))
		q.add("gone", ref, start.Add(90*time.Minute))
		q.remove("gone", ref)
		q.add("moved", ref, start.Add(30*time.Minute))
		q.add("moved", ref, start.Add(4*time.Hour))
		if q.len() != 4 {
			t.Fatalf("%d deadlines in force, want 4", q.len())
		}
		time.Sleep(5 * time.Hour)
		synctest.Wait()
		q.stop()
		mu.Lock()
		defer mu.Unlock()
		want := []string{"a", "b", "c", "moved"}
		wantAt := []time.Duration{time.Hour, 2 * time.Hour, 3 * time.Hour, 4 * time.Hour}
		if len(fired) != len(want) {
			t.Fatalf("fired %v, want %v", fired, want)
		}
		for i := range want {
			if fired[i] != want[i] || at[i] != wantAt[i] {
				t.Fatalf("fired %v at %v, want %v at %v", fired, at, want, wantAt)
			}
		}
		if q.len() != 0 {
			t.Fatalf("%d deadlines left", q.len())
		}
	})
}
