package sandbox

import (
	"context"
	"slices"
	"sync"
	"time"
)

// presence is how long a user counts as present after its last
// activation: a user running one Code activation after another is between
// two of them most of the time, and must find its share kept.
const presence = 10 * time.Second

// scheduler hands the pool's worker tokens (an idle worker, or nil where
// the call must start one) to waiting calls, fairly between users: the
// waiting user with the fewest activations running goes first, among
// equals the one served longest ago (round robin), and each user's calls
// in arrival order; while another user is present (has activations
// running or waiting, or had within the last presence), a user holds at
// most perUser tokens. A lone user may hold them all.
type scheduler struct {
	perUser int

	mu      sync.Mutex
	free    []*worker
	running map[string]int    // tokens held, by user
	waiting []*waiter         // in arrival order
	served  map[string]uint64 // when each user last got a token (serial)
	serial  uint64
	seen    map[string]time.Time // when each user last asked or finished
	now     func() time.Time
}

type waiter struct {
	user string
	got  chan *worker // buffered: dispatch never blocks
}

func newScheduler(perUser int) *scheduler {
	return &scheduler{perUser: max(1, perUser), running: map[string]int{}, served: map[string]uint64{},
		seen: map[string]time.Time{}, now: time.Now}
}

// take waits for a token for user; it returns false when ctx or closed
// ends first.
func (s *scheduler) take(ctx context.Context, user string, closed <-chan struct{}) (*worker, bool) {
	wt := s.enqueue(user)
	select {
	case w := <-wt.got:
		return w, true
	case <-ctx.Done():
	case <-closed:
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := slices.Index(s.waiting, wt); i >= 0 {
		s.waiting = slices.Delete(s.waiting, i, i+1)
		s.dispatch() // a user capped because this one waited may go now
		return nil, false
	}
	// A token came as the wait ended: hand it on.
	s.release(user, <-wt.got)
	return nil, false
}

// waitingCalls is how many calls wait for a token.
func (s *scheduler) waitingCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.waiting)
}

// enqueue adds a waiter for user, served at once when its turn has come.
func (s *scheduler) enqueue(user string) *waiter {
	wt := &waiter{user: user, got: make(chan *worker, 1)}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen[user] = s.now()
	s.waiting = append(s.waiting, wt)
	s.dispatch()
	return wt
}

// put adds a token that no call holds (a worker started in the background).
func (s *scheduler) put(w *worker) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.free = append(s.free, w)
	s.dispatch()
}

// done gives back the token user's call held: the worker, or nil where it
// is gone (its replacement is put later).
func (s *scheduler) done(user string, w *worker) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.release(user, w)
}

// forget ends user's hold on a token without giving one back: the token
// travels with a worker being started in the background, which puts it.
func (s *scheduler) forget(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drop(user)
	s.dispatch()
}

func (s *scheduler) release(user string, w *worker) {
	s.drop(user)
	s.free = append(s.free, w)
	s.dispatch()
}

func (s *scheduler) drop(user string) {
	s.seen[user] = s.now()
	if s.running[user]--; s.running[user] <= 0 {
		delete(s.running, user)
	}
}

// dispatch gives free tokens to the waiters whose turn it is. Called with
// s.mu held.
func (s *scheduler) dispatch() {
	for len(s.free) > 0 && len(s.waiting) > 0 {
		i := s.next()
		if i < 0 {
			return
		}
		wt := s.waiting[i]
		s.waiting = slices.Delete(s.waiting, i, i+1)
		s.running[wt.user]++
		s.serial++
		s.served[wt.user] = s.serial
		wt.got <- s.takeFree()
	}
	if len(s.seen) > 2*(len(s.running)+len(s.waiting))+64 {
		s.forgetAbsent()
	}
}

// forgetAbsent drops what is kept of users no longer present.
func (s *scheduler) forgetAbsent() {
	now := s.now()
	for u, t := range s.seen {
		if now.Sub(t) >= presence && s.running[u] == 0 && !slices.ContainsFunc(s.waiting, func(wt *waiter) bool { return wt.user == u }) {
			delete(s.seen, u)
			delete(s.served, u)
		}
	}
}

// next is the index of the waiter to serve, -1 if every waiting user is
// at its share while others are present.
func (s *scheduler) next() int {
	alone := s.alone()
	best := -1
	for i, wt := range s.waiting {
		n := s.running[wt.user]
		if !alone && n >= s.perUser {
			continue
		}
		if best < 0 {
			best = i
			continue
		}
		b := s.waiting[best].user
		if n < s.running[b] || n == s.running[b] && s.served[wt.user] < s.served[b] {
			best = i
		}
	}
	return best
}

// alone reports whether one user at most is present: has activations
// running or waiting, or had within the last presence. (Every such user
// is in seen: it is set when a call asks and when it ends.)
func (s *scheduler) alone() bool {
	now := s.now()
	user, found := "", false
	for u, t := range s.seen {
		if now.Sub(t) >= presence && s.running[u] == 0 && !slices.ContainsFunc(s.waiting, func(wt *waiter) bool { return wt.user == u }) {
			continue
		}
		if found && u != user {
			return false
		}
		user, found = u, true
	}
	return true
}

// takeFree removes a free token, an idle worker rather than nil: a call
// should not start a process while a worker idles.
func (s *scheduler) takeFree() *worker {
	i := len(s.free) - 1
	for j := i; j >= 0; j-- {
		if s.free[j] != nil {
			i = j
			break
		}
	}
	w := s.free[i]
	s.free = slices.Delete(s.free, i, i+1)
	return w
}
