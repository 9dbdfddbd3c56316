package socket

import (
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/grimoire-run/grimoire/server/auth"
)

// tokenBucket holds up to burst tokens, refilled at rate per second. The
// zero value is empty; fill it with full.
type tokenBucket struct {
	tokens float64
	last   time.Time
}

func fullBucket(burst int, now time.Time) tokenBucket {
	return tokenBucket{tokens: float64(burst), last: now}
}

func (b *tokenBucket) refill(now time.Time, rate float64, burst int) {
	b.tokens += now.Sub(b.last).Seconds() * rate
	if max := float64(burst); b.tokens > max {
		b.tokens = max
	}
	b.last = now
}

// take spends one token; when there is none it reports how long until one.
func (b *tokenBucket) take(now time.Time, rate float64, burst int) (ok bool, wait time.Duration) {
	b.refill(now, rate, burst)
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) / rate * float64(time.Second))
	}
	b.tokens--
	return true, 0
}

// maxTrackedAddrs bounds the addresses the refusal limiter remembers; past
// it, addresses whose bucket has refilled are forgotten (a full bucket is
// the same as no entry).
const maxTrackedAddrs = 16384

// refusalLimiter counts failed authentications per client address: each
// one spends a token, and once an address has none its next failures are
// answered with rate_limited (HTTP 429 and Retry-After) instead of a
// token error. A client that authenticates is never counted, so a user
// behind the same address as a flood still connects.
type refusalLimiter struct {
	rate  float64
	burst int

	mu      sync.Mutex
	buckets map[string]*tokenBucket
}

func newRefusalLimiter(rate float64, burst int) *refusalLimiter {
	return &refusalLimiter{rate: rate, burst: burst, buckets: map[string]*tokenBucket{}}
}

// refused records one failed authentication from remote; it returns a
// rate_limited error once the address is over its rate, else nil.
func (l *refusalLimiter) refused(remote string, now time.Time) *Error {
	host := hostOf(remote)
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[host]
	if b == nil {
		if len(l.buckets) >= maxTrackedAddrs {
			l.forgetRefilledLocked(now)
		}
		nb := fullBucket(l.burst, now)
		b = &nb
		l.buckets[host] = b
	}
	ok, wait := b.take(now, l.rate, l.burst)
	if ok {
		return nil
	}
	return &Error{
		Code:       CodeRateLimited,
		Message:    fmt.Sprintf("more than %g unauthenticated handshakes per second from %s: wait %v and connect with a valid token", l.rate, host, wait.Round(time.Millisecond)),
		RetryAfter: wait,
	}
}

func (l *refusalLimiter) forgetRefilledLocked(now time.Time) {
	for host, b := range l.buckets {
		b.refill(now, l.rate, l.burst)
		if b.tokens >= float64(l.burst) {
			delete(l.buckets, host)
		}
	}
}

func hostOf(remote string) string {
	if h, _, err := net.SplitHostPort(remote); err == nil {
		return h
	}
	return remote
}

// userSockets caps the sockets one user holds open at once.
type userSockets struct {
	max int

	mu   sync.Mutex
	open map[string]int
}

// admit takes one of id's slots; release gives it back (once).
func (u *userSockets) admit(id auth.Identity) (release func(), err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.open[id.User] >= u.max {
		return nil, &Error{Code: CodeTooManySockets, Message: fmt.Sprintf("user %q already has %d sockets open, the most allowed: close one first", id.User, u.max)}
	}
	u.open[id.User]++
	var once sync.Once
	return func() {
		once.Do(func() {
			u.mu.Lock()
			defer u.mu.Unlock()
			if u.open[id.User]--; u.open[id.User] <= 0 {
				delete(u.open, id.User)
			}
		})
	}, nil
}
