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

// maxTrackedKeys bounds the keys a keyedBuckets remembers; past it, keys
// whose bucket has refilled are forgotten (a full bucket is the same as no
// entry).
const maxTrackedKeys = 16384

// keyedBuckets is one token bucket per key (a client address, a user).
type keyedBuckets struct {
	rate  float64
	burst int

	mu      sync.Mutex
	buckets map[string]*tokenBucket
}

func newKeyedBuckets(rate float64, burst int) *keyedBuckets {
	return &keyedBuckets{rate: rate, burst: burst, buckets: map[string]*tokenBucket{}}
}

// take spends one of key's tokens; when there is none it reports how long
// until one.
func (k *keyedBuckets) take(key string, now time.Time) (ok bool, wait time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	b := k.buckets[key]
	if b == nil {
		if len(k.buckets) >= maxTrackedKeys {
			k.forgetRefilledLocked(now)
		}
		nb := fullBucket(k.burst, now)
		b = &nb
		k.buckets[key] = b
	}
	return b.take(now, k.rate, k.burst)
}

func (k *keyedBuckets) forgetRefilledLocked(now time.Time) {
	for key, b := range k.buckets {
		b.refill(now, k.rate, k.burst)
		if b.tokens >= float64(k.burst) {
			delete(k.buckets, key)
		}
	}
}

// refused records one failed authentication from remote: each spends one
// of the address's HandshakesPerSecond tokens, and once it has none its
// next failures are answered rate_limited (HTTP 429 and Retry-After)
// instead of a token error. A client that authenticates is never counted,
// so a user behind the same address as a flood still connects.
func (s *Server) refused(remote string, now time.Time) *Error {
	host := hostOf(remote)
	if ok, wait := s.refusals.take(host, now); !ok {
		return &Error{
			Code:       CodeRateLimited,
			Message:    fmt.Sprintf("more than %g unauthenticated handshakes per second from %s: wait %v and connect with a valid token", s.opts.HandshakesPerSecond, host, wait.Round(time.Millisecond)),
			RetryAfter: wait,
		}
	}
	return nil
}

// Opening implements wire.Core: each new session of a user spends one of
// their ConnectsPerSecond tokens, so that a user cannot make the server
// open sessions as fast as they can ask (a socket cut off for flooding
// that reconnects at once).
func (s *Server) Opening(id auth.Identity) error {
	if ok, wait := s.opens.take(id.User, time.Now()); !ok {
		return &Error{
			Code:       CodeRateLimited,
			Message:    fmt.Sprintf("more than %g new sockets per second for user %q: wait %v", s.opts.ConnectsPerSecond, id.User, wait.Round(time.Millisecond)),
			RetryAfter: wait,
		}
	}
	return nil
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
