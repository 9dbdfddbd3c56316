package sandbox

import (
	"context"
	"slices"
	"sync"
)

// scheduler hands the pool's worker tokens (an idle worker, or nil where
// the call must start one) to waiting calls, fairly between users: the
// waiting user with the fewest activations running goes first, among
// equals the one served longest ago (round robin), and each user's calls
// in arrival order; while another user has activations running or
// waiting, a user holds at most perUser tokens. A lone user may hold them
// all.
type scheduler struct {
	perUser int

	mu      sync.Mutex
	free    []*worker
	running map[string]int    // tokens held, by user
	waiting []*waiter         // in arrival order
	served  map[string]uint64 // when each user last got a token (serial)
	serial  uint64
}

type waiter struct {
	user string
	got  chan *worker // buffered: dispatch never blocks
}

func newScheduler(perUser int) *scheduler {
	return &scheduler{perUser: max(1, perUser), running: map[string]int{}, served: map[string]uint64{}}
}

// take waits for a token for user; it returns false when ctx or closed
// ends first.
func (s *scheduler) take(ctx context.Context, user string, closed <-chan struct{}) (*worker, bool) {
	wt := &waiter{user: user, got: make(chan *worker, 1)}
	s.mu.Lock()
	s.waiting = append(s.waiting, wt)
	s.dispatch()
	s.mu.Unlock()
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
	if len(s.served) > 2*(len(s.running)+len(s.waiting))+64 {
		s.forgetServed()
	}
}

// forgetServed drops the turns of users with nothing running or waiting.
func (s *scheduler) forgetServed() {
	present := map[string]bool{}
	for _, wt := range s.waiting {
		present[wt.user] = true
	}
	for u := range s.served {
		if s.running[u] == 0 && !present[u] {
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

// alone reports whether one user at most has activations running or
// waiting.
func (s *scheduler) alone() bool {
	user, seen := "", false
	for u := range s.running {
		if seen && u != user {
			return false
		}
		user, seen = u, true
	}
	for _, wt := range s.waiting {
		if seen && wt.user != user {
			return false
		}
		user, seen = wt.user, true
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
