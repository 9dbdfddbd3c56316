package openai

import (
	"testing"
	"time"
)

func TestBreakerStateMachine(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := newBreaker(BreakerPolicy{Failures: 3, CoolDown: 10 * time.Second})
	admit := func(at time.Time) uint64 {
		t.Helper()
		gen, ok := b.admit(&clock{t: at})
		if !ok {
			t.Fatalf("not admitted at %v in state %v", at.Sub(t0), b.current(at))
		}
		return gen
	}
	want := func(at time.Time, s BreakerState) {
		t.Helper()
		if got := b.current(at); got != s {
			t.Fatalf("at %v: %v, want %v", at.Sub(t0), got, s)
		}
	}

	// Failures that are not consecutive do not open it.
	for range 2 {
		b.record(admit(t0), outcomeFailed, t0)
	}
	b.record(admit(t0), outcomeOK, t0)
	for range 2 {
		b.record(admit(t0), outcomeFailed, t0)
	}
	// Refusals (4xx) and cancellations neither count nor reset.
	b.record(admit(t0), outcomeRefused, t0)
	b.record(admit(t0), outcomeCancelled, t0)
	want(t0, BreakerClosed)
	stale := admit(t0) // an attempt started before the breaker opens
	b.record(admit(t0), outcomeFailed, t0)
	want(t0, BreakerOpen)
	if b.opened.Load() != 1 {
		t.Fatalf("opened %d times", b.opened.Load())
	}
	b.record(stale, outcomeOK, t0.Add(time.Second))
	want(t0.Add(time.Second), BreakerOpen)

	// Open: nothing is admitted until the cool-down ends.
	if _, ok := b.admit(&clock{t: t0.Add(9 * time.Second)}); ok || b.available(&clock{t: t0.Add(9 * time.Second)}) != unavailable {
		t.Fatal("admitted during the cool-down")
	}
	if d := b.retryIn(t0.Add(4 * time.Second)); d != 6*time.Second {
		t.Fatalf("retryIn = %v, want 6s", d)
	}

	// Half-open: exactly one probe at a time; a cancelled probe frees the slot.
	t1 := t0.Add(10 * time.Second)
	want(t1, BreakerHalfOpen)
	if b.available(&clock{t: t1}) != availableProbe {
		t.Fatal("no probe offered after the cool-down")
	}
	probe := admit(t1)
	if _, ok := b.admit(&clock{t: t1}); ok {
		t.Fatal("a second request admitted while the probe is in flight")
	}
	b.record(probe, outcomeCancelled, t1)
	probe = admit(t1)

	// A failed probe reopens it for another cool-down.
	b.record(probe, outcomeFailed, t1)
	want(t1.Add(9*time.Second), BreakerOpen)
	t2 := t1.Add(10 * time.Second)
	probe = admit(t2)
	// A successful probe (a 4xx counts: the endpoint answered) closes it.
	b.record(probe, outcomeRefused, t2)
	want(t2, BreakerClosed)
	if b.opened.Load() != 2 {
		t.Fatalf("opened %d times, want 2", b.opened.Load())
	}
}

func TestHealthCheckOutcomes(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := newBreaker(BreakerPolicy{Failures: 2, CoolDown: time.Second})
	b.record(b.gen.Load(), outcomeFailed, t0)
	// A passed check does not reset a closed breaker's failures: a server
	// may list its models and fail every completion.
	b.checked(outcomeOK, t0)
	b.checked(outcomeFailed, t0)
	if s := b.current(t0); s != BreakerOpen {
		t.Fatalf("%v after a failed request and a failed check, want open", s)
	}
	// During the cool-down a check changes nothing; after it, a passed check
	// closes the breaker without costing a request.
	b.checked(outcomeOK, t0.Add(500*time.Millisecond))
	if s := b.current(t0.Add(500 * time.Millisecond)); s != BreakerOpen {
		t.Fatalf("%v: a check closed the breaker during its cool-down", s)
	}
	b.checked(outcomeOK, t0.Add(time.Second))
	if s := b.current(t0.Add(time.Second)); s != BreakerClosed {
		t.Fatalf("%v after a passed check past the cool-down, want closed", s)
	}
}
