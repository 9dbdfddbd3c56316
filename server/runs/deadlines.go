package runs

import (
	"container/heap"
	"strconv"
	"sync"
	"time"

	"github.com/grimoire-run/grimoire/events"
)

// deadlineQueue holds the deadlines of the questions waiting runs ask, and
// one timer for the earliest: a thousand waiting runs cost a thousand heap
// entries, not a thousand goroutines or timers. It is fed as runs begin to
// wait and, at start-up, by Resume from the waiting runs in the log.
type deadlineQueue struct {
	now  func() time.Time
	fire func(runID string, ref events.NodeRef)

	mu      sync.Mutex
	due     deadlineHeap
	at      map[string]time.Time // key -> the deadline in force (removed: absent)
	timer   *time.Timer
	stopped bool
	firing  sync.WaitGroup
}

type deadline struct {
	at    time.Time
	runID string
	ref   events.NodeRef
	key   string
}

type deadlineHeap []deadline

func (h deadlineHeap) Len() int           { return len(h) }
func (h deadlineHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h deadlineHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *deadlineHeap) Push(x any)        { *h = append(*h, x.(deadline)) }
func (h *deadlineHeap) Pop() any {
	old := *h
	d := old[len(old)-1]
	*h = old[:len(old)-1]
	return d
}

func newDeadlineQueue(now func() time.Time, fire func(string, events.NodeRef)) *deadlineQueue {
	return &deadlineQueue{now: now, fire: fire, at: map[string]time.Time{}}
}

func deadlineKey(runID string, ref events.NodeRef) string {
	return runID + "\x00" + waitKey(ref)
}

// waitKey names one activation, sub-spell path included.
func waitKey(ref events.NodeRef) string {
	k := ref.NodeID
	for i := len(ref.Path) - 1; i >= 0; i-- {
		k = ref.Path[i] + "/" + k
	}
	return k + "#" + strconv.Itoa(ref.Activation)
}

// add sets the deadline of a question (replacing one set before).
func (q *deadlineQueue) add(runID string, ref events.NodeRef, at time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stopped {
		return
	}
	k := deadlineKey(runID, ref)
	if old, ok := q.at[k]; ok && old.Equal(at) {
		return // already scheduled (a run looked at again by a takeover scan)
	}
	q.at[k] = at
	heap.Push(&q.due, deadline{at: at, runID: runID, ref: ref, key: k})
	q.armLocked()
}

// remove forgets a question's deadline (it was answered).
func (q *deadlineQueue) remove(runID string, ref events.NodeRef) {
	q.mu.Lock()
	delete(q.at, deadlineKey(runID, ref))
	q.mu.Unlock()
}

// len is how many deadlines are in force.
func (q *deadlineQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.at)
}

func (q *deadlineQueue) armLocked() {
	for q.due.Len() > 0 {
		d := q.due[0]
		if at, ok := q.at[d.key]; !ok || !at.Equal(d.at) {
			heap.Pop(&q.due) // answered, or replaced by a later add
			continue
		}
		wait := max(d.at.Sub(q.now()), 0)
		if q.timer == nil {
			q.timer = time.AfterFunc(wait, q.expire)
		} else {
			q.timer.Reset(wait)
		}
		return
	}
	if q.timer != nil {
		q.timer.Stop()
	}
}

// expire runs on the timer's goroutine: it fires every deadline that has
// passed, one after the other, then arms the timer for the next.
func (q *deadlineQueue) expire() {
	q.mu.Lock()
	if q.stopped {
		q.mu.Unlock()
		return
	}
	q.firing.Add(1)
	defer q.firing.Done()
	now := q.now()
	var passed []deadline
	for q.due.Len() > 0 && !q.due[0].at.After(now) {
		d := heap.Pop(&q.due).(deadline)
		if at, ok := q.at[d.key]; ok && at.Equal(d.at) {
			delete(q.at, d.key)
			passed = append(passed, d)
		}
	}
	q.mu.Unlock()
	for _, d := range passed {
		q.fire(d.runID, d.ref)
	}
	q.mu.Lock()
	if !q.stopped {
		q.armLocked()
	}
	q.mu.Unlock()
}

// stop ends the timer and waits for deadlines being fired.
func (q *deadlineQueue) stop() {
	q.mu.Lock()
	q.stopped = true
	if q.timer != nil {
		q.timer.Stop()
	}
	q.mu.Unlock()
	q.firing.Wait()
}
