package openai

import (
	"sync"
	"sync/atomic"
	"time"
)

// BreakerState is where an endpoint's circuit breaker stands.
type BreakerState int32

// The breaker's states, in the order of the breaker_state metric.
const (
	// BreakerClosed: requests flow; consecutive failures are counted.
	BreakerClosed BreakerState = iota
	// BreakerHalfOpen: the cool-down is over; one probe request may go
	// through, and its outcome closes or reopens the breaker.
	BreakerHalfOpen
	// BreakerOpen: the endpoint failed Failures times in a row; no request
	// reaches it until the cool-down ends.
	BreakerOpen
)

func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerHalfOpen:
		return "half-open"
	default:
		return "open"
	}
}

// BreakerPolicy configures an endpoint's circuit breaker.
type BreakerPolicy struct {
	// Failures is the number of consecutive failed attempts (connection
	// errors, timeouts, 5xx, cut or stalled streams, failed health checks)
	// that opens the breaker (default 5).
	Failures int
	// CoolDown is how long an open breaker keeps requests away before one
	// probe may go through (default 30s).
	CoolDown time.Duration
}

func (p BreakerPolicy) withDefaults() BreakerPolicy {
	if p.Failures <= 0 {
		p.Failures = 5
	}
	if p.CoolDown <= 0 {
		p.CoolDown = 30 * time.Second
	}
	return p
}

// outcome is what an attempt (or a health check) says about its endpoint.
type outcome int

const (
	outcomeOK outcome = iota
	// outcomeFailed: the endpoint is down or broken; counts toward opening.
	outcomeFailed
	// outcomeRefused: the endpoint answered, but not with a result (4xx,
	// 429, malformed): it is up, so a probe succeeds, but the count of
	// failures does not reset.
	outcomeRefused
	// outcomeCancelled: the caller gave up; says nothing of the endpoint.
	outcomeCancelled
)

// breaker is one endpoint's circuit breaker. Its hot path (closed, no
// recent failure) reads two atomics and takes no lock. A nil *breaker
// admits everything and records nothing (a Client used on its own).
//
// Outcomes carry the generation they were admitted in: an attempt that
// started before the breaker changed state cannot close or reopen it.
type breaker struct {
	policy BreakerPolicy
	// onChange, when set, hears of every opening and closing (after the
	// lock is released).
	onChange func(to BreakerState, at time.Time)

	state    atomic.Int32 // BreakerState
	failures atomic.Int32 // consecutive, while closed
	gen      atomic.Uint64
	opened   atomic.Uint64 // times the breaker opened

	mu       sync.Mutex
	openedAt time.Time
	probing  bool // the half-open probe is in flight
}

func newBreaker(p BreakerPolicy) *breaker { return &breaker{policy: p.withDefaults()} }

// availability is what pick may expect of an endpoint, without claiming it.
type availability int

const (
	unavailable availability = iota
	availableClosed
	availableProbe // open past its cool-down or half-open without a probe
)

// clock reads the time once, and only when asked: routing through closed
// breakers never needs it, and time.Now costs 50-200 ns on a virtual
// machine.
type clock struct{ t time.Time }

func (c *clock) now() time.Time {
	if c.t.IsZero() {
		c.t = time.Now()
	}
	return c.t
}

func (b *breaker) available(clk *clock) availability {
	if b == nil || BreakerState(b.state.Load()) == BreakerClosed {
		return availableClosed
	}
	now := clk.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	switch BreakerState(b.state.Load()) {
	case BreakerClosed:
		return availableClosed
	case BreakerHalfOpen:
		if !b.probing {
			return availableProbe
		}
	case BreakerOpen:
		if now.Sub(b.openedAt) >= b.policy.CoolDown {
			return availableProbe
		}
	}
	return unavailable
}

// admit claims the endpoint for one attempt: always while closed, as the
// single probe when the cool-down is over. ok is false when another
// caller took the probe first or the breaker is open.
func (b *breaker) admit(clk *clock) (gen uint64, ok bool) {
	if b == nil {
		return 0, true
	}
	if BreakerState(b.state.Load()) == BreakerClosed {
		return b.gen.Load(), true
	}
	now := clk.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	switch BreakerState(b.state.Load()) {
	case BreakerClosed:
		return b.gen.Load(), true
	case BreakerOpen:
		if now.Sub(b.openedAt) < b.policy.CoolDown {
			return 0, false
		}
		b.state.Store(int32(BreakerHalfOpen))
		b.gen.Add(1)
		fallthrough
	case BreakerHalfOpen:
		if b.probing {
			return 0, false
		}
		b.probing = true
		return b.gen.Load(), true
	}
	return 0, false
}

// settle is record at the current time; the hot path (a closed breaker
// that nothing changes) does not even read the clock.
func (b *breaker) settle(gen uint64, o outcome) {
	if b == nil || b.unchanged(o) {
		return
	}
	b.record(gen, o, time.Now())
}

// unchanged reports that o leaves a closed breaker as it is.
func (b *breaker) unchanged(o outcome) bool {
	return o != outcomeFailed && BreakerState(b.state.Load()) == BreakerClosed && (o != outcomeOK || b.failures.Load() == 0)
}

// record applies the outcome of an attempt admitted in generation gen.
func (b *breaker) record(gen uint64, o outcome, now time.Time) {
	if b == nil || b.unchanged(o) {
		return
	}
	defer b.notify(b.gen.Load(), now)
	b.mu.Lock()
	defer b.mu.Unlock()
	if gen != b.gen.Load() {
		return // admitted before the last change of state: stale
	}
	switch BreakerState(b.state.Load()) {
	case BreakerClosed:
		switch o {
		case outcomeOK:
			b.failures.Store(0)
		case outcomeFailed:
			if int(b.failures.Add(1)) >= b.policy.Failures {
				b.open(now)
			}
		}
	case BreakerHalfOpen:
		b.probing = false
		switch o {
		case outcomeOK, outcomeRefused:
			b.close()
		case outcomeFailed:
			b.open(now)
		}
	}
}

// checked applies a health check's outcome, which needs no admission:
// a failure counts as a failed attempt; a success closes a breaker whose
// cool-down is over (a probe that cost no request), but does not reset
// the failures of a closed one (a server may list its models and still
// fail every completion).
func (b *breaker) checked(o outcome, now time.Time) {
	if b == nil {
		return
	}
	defer b.notify(b.gen.Load(), now)
	b.mu.Lock()
	defer b.mu.Unlock()
	switch BreakerState(b.state.Load()) {
	case BreakerClosed:
		if o == outcomeFailed && int(b.failures.Add(1)) >= b.policy.Failures {
			b.open(now)
		}
	case BreakerHalfOpen, BreakerOpen:
		if BreakerState(b.state.Load()) == BreakerOpen && now.Sub(b.openedAt) < b.policy.CoolDown {
			return
		}
		switch o {
		case outcomeOK, outcomeRefused:
			b.close()
		case outcomeFailed:
			b.open(now)
		}
	}
}

// notify tells onChange when the generation moved past before: the
// breaker opened or closed meanwhile.
func (b *breaker) notify(before uint64, now time.Time) {
	if b.onChange != nil && b.gen.Load() != before {
		b.onChange(BreakerState(b.state.Load()), now)
	}
}

func (b *breaker) open(now time.Time) {
	b.state.Store(int32(BreakerOpen))
	b.gen.Add(1)
	b.openedAt = now
	b.probing = false
	b.failures.Store(0)
	b.opened.Add(1)
}

func (b *breaker) close() {
	b.state.Store(int32(BreakerClosed))
	b.gen.Add(1)
	b.probing = false
	b.failures.Store(0)
}

// current is the state as a caller would find it now: an open breaker
// past its cool-down reads as half-open.
func (b *breaker) current(now time.Time) BreakerState {
	if b == nil {
		return BreakerClosed
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	s := BreakerState(b.state.Load())
	if s == BreakerOpen && now.Sub(b.openedAt) >= b.policy.CoolDown {
		return BreakerHalfOpen
	}
	return s
}

// retryIn is how long until an open breaker lets a probe through.
func (b *breaker) retryIn(now time.Time) time.Duration {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if BreakerState(b.state.Load()) != BreakerOpen {
		return 0
	}
	return max(0, b.policy.CoolDown-now.Sub(b.openedAt))
}
