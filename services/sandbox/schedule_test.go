package sandbox

import (
	"context"
	"testing"
	"time"
)

func tokens(s *scheduler, n int) {
	for range n {
		s.put(&worker{})
	}
}

func served(wt *waiter) bool { return len(wt.got) == 1 }

func TestLoneUserHoldsEveryWorker(t *testing.T) {
	s := newScheduler(1)
	tokens(s, 3)
	for i := range 3 {
		if !served(s.enqueue("alice")) {
			t.Fatalf("alice's call %d waits while a worker is free and nobody else uses the pool", i)
		}
	}
}

// While another user is present, a user at its share waits even though a
// worker is free: that worker is kept for the others.
func TestShareIsCappedWhileAnotherUserIsPresent(t *testing.T) {
	s := newScheduler(1)
	tokens(s, 3)
	if !served(s.enqueue("alice")) || !served(s.enqueue("bob")) {
		t.Fatal("first calls of two users wait with workers free")
	}
	if a := s.enqueue("alice"); served(a) {
		t.Fatal("alice got a second worker while bob is using the pool (share 1)")
	}
	if c := s.enqueue("carol"); !served(c) {
		t.Fatal("carol waits for the worker kept free for other users")
	}
}

// A flood from one user holds every worker; a call of another user is
// served at the first free worker, before the flood's queued calls; then
// users alternate.
func TestQueuedCallsAreServedUserByUser(t *testing.T) {
	s := newScheduler(1)
	tokens(s, 2)
	a1, a2 := s.enqueue("alice"), s.enqueue("alice") // alice alone: both workers
	a3, a4, a5 := s.enqueue("alice"), s.enqueue("alice"), s.enqueue("alice")
	b1, b2 := s.enqueue("bob"), s.enqueue("bob")
	finish := func(wt *waiter) { s.done(wt.user, <-wt.got) }
	steps := []struct {
		finish     *waiter
		next, wait *waiter
		why        string
	}{
		{a1, b1, a3, "bob's first call goes before alice's queued ones"},
		{a2, a3, b2, "alice (none running) before bob (one running)"},
		{b1, b2, a4, "bob (none running) before alice (one running)"},
		{a3, a4, a5, "alice's calls in their order"},
		{b2, nil, a5, "bob just left: alice keeps to her share"},
		{a4, a5, nil, "alice's last call"},
	}
	for i, st := range steps {
		if i == 0 && (served(a3) || served(b1)) {
			t.Fatal("a call was served with every worker busy")
		}
		finish(st.finish)
		if st.next != nil && !served(st.next) || st.wait != nil && served(st.wait) {
			t.Fatalf("step %d: %s", i, st.why)
		}
	}
	finish(a5)
	if len(s.running) != 0 || len(s.free) != 2 {
		t.Fatalf("after every call: running %v, %d free workers, want none and 2", s.running, len(s.free))
	}
}

// A user who stopped asking counts as present for a while, then the
// other may use every worker again.
func TestAUserWhoLeftStopsCountingAfterAWhile(t *testing.T) {
	s := newScheduler(1)
	now := time.Unix(0, 0)
	s.now = func() time.Time { return now }
	tokens(s, 2)
	b := s.enqueue("bob")
	s.done("bob", <-b.got)
	a1, a2 := s.enqueue("alice"), s.enqueue("alice")
	if !served(a1) || served(a2) {
		t.Fatal("alice took both workers right after bob's call")
	}
	now = now.Add(presence - time.Second)
	s.done("alice", <-a1.got)
	if !served(a2) {
		t.Fatal("alice's second call waits with her first done")
	}
	a3 := s.enqueue("alice")
	if served(a3) {
		t.Fatal("alice took both workers while bob counts as present")
	}
	now = now.Add(time.Second)
	s.done("alice", <-a2.got) // any event lets the scheduler look again
	a4 := s.enqueue("alice")
	if !served(a3) || !served(a4) {
		t.Fatalf("alice, alone %s after bob's last call, does not get both workers", presence)
	}
}

// A call that gives up waiting leaves the queue, and the worker it would
// have had goes to the next.
func TestAbandonedWaitLosesNoWorker(t *testing.T) {
	s := newScheduler(1)
	tokens(s, 1)
	a := s.enqueue("alice")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, ok := s.take(ctx, "bob", nil); ok {
		t.Fatal("a cancelled wait got a worker")
	}
	s.done("alice", <-a.got)
	if c := s.enqueue("carol"); !served(c) {
		t.Fatal("the worker was lost with bob's abandoned wait")
	}
	if len(s.running) != 1 || s.running["carol"] != 1 {
		t.Fatalf("running %v, want carol's one", s.running)
	}
}
