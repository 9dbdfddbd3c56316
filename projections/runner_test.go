package projections_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/events/embedded"
	"github.com/grimoire-run/grimoire/projections"
)

// counting is a projection that counts events, can be held (to build up
// lag) and can fail its next Handle.
type counting struct {
	mu     sync.Mutex
	cp     uint64
	n      int
	hold   chan struct{}
	failOn uint64
	// failAlways keeps failing on failOn (a stuck projection).
	failAlways bool
}

func (c *counting) Name() string                    { return "counting" }
func (c *counting) Filter() events.SubscribeOptions { return events.SubscribeOptions{} }
func (c *counting) Checkpoint(context.Context) (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cp, nil
}
func (c *counting) Reset(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cp, c.n = 0, 0
	return nil
}
func (c *counting) Handle(ctx context.Context, e events.RecordedEvent) error {
	c.mu.Lock()
	hold := c.hold
	c.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.Position <= c.cp {
		return nil
	}
	if c.failOn == e.Position {
		if !c.failAlways {
			c.failOn = 0
		}
		return errors.New("disk full")
	}
	c.cp, c.n = e.Position, c.n+1
	return nil
}

func appendN(t *testing.T, st events.Store, n int) uint64 {
	t.Helper()
	var last uint64
	for range n {
		res, err := st.Append(context.Background(), "things", events.Any, events.EventData{Type: "Thing", Data: []byte(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
		last = res.Position
	}
	return last
}

func TestHeadFindsTheLastPosition(t *testing.T) {
	st, err := embedded.Open(embedded.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, n := range []int{0, 1, 2, 3, 17, 64} {
		if n > 0 {
			appendN(t, st, n)
		}
		want, _ := st.ReadAll(context.Background(), 0, 0)
		var last uint64
		if len(want) > 0 {
			last = want[len(want)-1].Position
		}
		if got, err := projections.Head(context.Background(), st); err != nil || got != last {
			t.Fatalf("Head = %d, %v; want %d", got, err, last)
		}
	}
}

func TestStatusShowsLagAndFailures(t *testing.T) {
	st, err := embedded.Open(embedded.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c := &counting{hold: make(chan struct{})}
	r, err := projections.NewRunner(projections.Options{Store: st, RetryDelay: 10 * time.Millisecond}, c)
	if err != nil {
		t.Fatal(err)
	}
	r.Start()
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	head := appendN(t, st, 5)
	c.mu.Lock()
	c.failOn = 3
	c.mu.Unlock()
	sts, err := r.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s := sts[0]; s.Head != head || s.Lag != head || s.Checkpoint != 0 {
		t.Fatalf("held projection: %+v", s)
	}
	close(c.hold)
	c.mu.Lock()
	c.hold = nil
	c.mu.Unlock()

	// Event 3 fails once: the projection reports it, then retries from its
	// checkpoint and catches up without applying anything twice.
	for {
		sts, _ = r.Status(ctx)
		if !sts[0].Healthy {
			if sts[0].LastError == "" || sts[0].Checkpoint != 2 {
				t.Fatalf("failed projection: %+v", sts[0])
			}
			break
		}
		if sts[0].Checkpoint == head {
			t.Fatal("the failure was never reported")
		}
		time.Sleep(time.Millisecond)
	}
	if err := r.CaughtUp(ctx, "counting"); err != nil {
		t.Fatal(err)
	}
	sts, _ = r.Status(ctx)
	c.mu.Lock()
	n := c.n
	c.mu.Unlock()
	if s := sts[0]; !s.Healthy || s.Lag != 0 || s.Checkpoint != head || n != 5 || s.Failures != 0 {
		t.Fatalf("after retry: %+v, %d applied", s, n)
	}
	if stuck := r.Stuck(); len(stuck) != 0 {
		t.Fatalf("a projection that recovered is reported stuck: %+v", stuck)
	}
}

// A projection that fails on the same event at every retry is stuck (what
// /readyz reports); once the event goes through it is not.
func TestStuckProjection(t *testing.T) {
	st, err := embedded.Open(embedded.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c := &counting{failOn: 3, failAlways: true}
	r, err := projections.NewRunner(projections.Options{Store: st, RetryDelay: 5 * time.Millisecond}, c)
	if err != nil {
		t.Fatal(err)
	}
	head := appendN(t, st, 5)
	r.Start()
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var stuck []projections.Status
	for len(stuck) == 0 {
		if ctx.Err() != nil {
			t.Fatal("a projection failing on every retry was never reported stuck")
		}
		time.Sleep(time.Millisecond)
		stuck = r.Stuck()
	}
	if s := stuck[0]; s.Name != "counting" || !strings.Contains(s.LastError, "disk full") || s.Failures < projections.StuckAfter || s.Checkpoint != 2 {
		t.Fatalf("stuck: %+v", s)
	}
	c.mu.Lock()
	c.failAlways, c.failOn = false, 0
	c.mu.Unlock()
	if err := r.WaitFor(ctx, "counting", head); err != nil {
		t.Fatal(err)
	}
	if stuck := r.Stuck(); len(stuck) != 0 {
		t.Fatalf("after the event went through: %+v", stuck)
	}
}
