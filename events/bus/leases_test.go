package bus

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// leaseBucket returns a fresh bucket name, deleted when the test ends.
func leaseBucket(t *testing.T) string {
	t.Helper()
	url := natsURL(t)
	bucket := fmt.Sprintf("test_leases_%d", time.Now().UnixNano())
	t.Cleanup(func() {
		if err := RemoveLeaseBucket(url, bucket); err != nil {
			t.Error(err)
		}
	})
	return bucket
}

func openTestLeases(t *testing.T, bucket, owner string, ttl time.Duration) *Leases {
	t.Helper()
	l, err := OpenLeases(context.Background(), LeaseOptions{URL: natsURL(t), Bucket: bucket, Owner: owner, TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func acquire(t *testing.T, l *Leases, runID string) bool {
	t.Helper()
	ok, err := l.Acquire(context.Background(), runID, nil, nil)
	if err != nil {
		t.Fatalf("%s acquires %s: %v", l.Owner(), runID, err)
	}
	return ok
}

// One holder at a time; the holder's renewals keep it for longer than the
// TTL; a release frees it at once.
func TestLeaseIsHeldByOneProcessWhileRenewed(t *testing.T) {
	bucket := leaseBucket(t)
	const ttl = time.Second
	a := openTestLeases(t, bucket, "a", ttl)
	b := openTestLeases(t, bucket, "b", ttl)
	if !acquire(t, a, "run1") {
		t.Fatal("a could not take a free lease")
	}
	if acquire(t, a, "run1") {
		t.Fatal("a took its own lease twice")
	}
	for end := time.Now().Add(3 * ttl); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if acquire(t, b, "run1") {
			t.Fatal("b took the lease a keeps renewing")
		}
	}
	owner, live, err := b.Owned(context.Background(), "run1")
	if err != nil || owner != "a" || !live {
		t.Fatalf("b sees the lease of run1 owned by %q live=%v (%v), want a", owner, live, err)
	}
	a.Release("run1")
	if !acquire(t, b, "run1") {
		t.Fatal("b could not take the lease a released")
	}
	if got := b.Held(); len(got) != 1 || got[0] != "run1" {
		t.Fatalf("b holds %v", got)
	}
}

// A holder that stops renewing (a process killed: here its Leases closed
// without a release) loses the lease after the TTL, and another takes it.
func TestLeaseOfADeadOwnerIsTakenOver(t *testing.T) {
	bucket := leaseBucket(t)
	const ttl = time.Second
	a := openTestLeases(t, bucket, "a", ttl)
	b := openTestLeases(t, bucket, "b", ttl)
	if !acquire(t, a, "run1") {
		t.Fatal("a could not take a free lease")
	}
	a.Close()
	stopped := time.Now()
	for !acquire(t, b, "run1") {
		if time.Since(stopped) > 5*ttl {
			t.Fatalf("b has not taken the lease %v after a stopped renewing (TTL %v)", time.Since(stopped), ttl)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if waited := time.Since(stopped); waited < ttl/2 {
		t.Fatalf("b took a's lease %v after a stopped, before it could have lapsed (TTL %v)", waited, ttl)
	}
	owner, live, err := observer(t, bucket).Owned(context.Background(), "run1")
	if err != nil || owner != "b" || !live {
		t.Fatalf("run1 owned by %q live=%v (%v), want b", owner, live, err)
	}
}

// observer opens a third holder that only looks.
func observer(t *testing.T, bucket string) *Leases {
	return openTestLeases(t, bucket, "observer", time.Second)
}

// A holder whose lease was taken meanwhile (it was paused past the TTL)
// is told when its next renewal is refused, and never writes over the
// new owner's lease.
func TestLeaseLostIsReported(t *testing.T) {
	bucket := leaseBucket(t)
	const ttl = 900 * time.Millisecond
	a := openTestLeases(t, bucket, "a", ttl)
	b := openTestLeases(t, bucket, "b", ttl)
	lost := make(chan struct{})
	if ok, err := a.Acquire(context.Background(), "run1", func() { close(lost) }, nil); !ok || err != nil {
		t.Fatalf("a acquires: %v %v", ok, err)
	}
	// As if a had been paused: b finds the lease expired and takes it.
	entry, err := b.kv.Get("run1")
	if err != nil {
		t.Fatal(err)
	}
	rev, err := b.kv.Update("run1", b.value(), entry.Revision())
	if err != nil {
		t.Fatal(err)
	}
	b.hold("run1", rev, nil, nil)
	select {
	case <-lost:
	case <-time.After(3 * ttl):
		t.Fatal("a was not told its lease was lost")
	}
	time.Sleep(ttl) // more renewal rounds of a, if it still renewed
	if owner, _, _ := b.Owned(context.Background(), "run1"); owner != "b" {
		t.Fatalf("run1 owned by %q after a lost it, want b", owner)
	}
	if len(a.Held()) != 0 {
		t.Fatalf("a still holds %v", a.Held())
	}
}

// Of many concurrent takers in two processes, exactly one wins.
func TestLeaseRaceHasOneWinner(t *testing.T) {
	bucket := leaseBucket(t)
	holders := []*Leases{openTestLeases(t, bucket, "a", 2*time.Second), openTestLeases(t, bucket, "b", 2*time.Second)}
	for round := range 20 {
		runID := fmt.Sprintf("run%d", round)
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := holders[i%2].Acquire(context.Background(), runID, nil, nil)
				if err != nil {
					t.Error(err)
				}
				if ok {
					wins.Add(1)
				}
			}()
		}
		wg.Wait()
		if n := wins.Load(); n != 1 {
			t.Fatalf("%s: %d winners, want 1", runID, n)
		}
	}
}

// A cancel request reaches the owner's hook and is answered; a run nobody
// owns is reported so.
func TestLeaseCancelReachesTheOwner(t *testing.T) {
	bucket := leaseBucket(t)
	a := openTestLeases(t, bucket, "a", 2*time.Second)
	b := openTestLeases(t, bucket, "b", 2*time.Second)
	reasons := make(chan string, 1)
	runID := "run with spaces:and/odd chars" // not a valid key as it is
	if ok, err := a.Acquire(context.Background(), runID, nil, func(r string) { reasons <- r }); !ok || err != nil {
		t.Fatalf("a acquires: %v %v", ok, err)
	}
	ok, err := b.RequestCancel(context.Background(), runID, "stop it")
	if err != nil || !ok {
		t.Fatalf("b asks a to cancel: %v %v", ok, err)
	}
	select {
	case r := <-reasons:
		if r != "stop it" {
			t.Fatalf("a cancelled with reason %q", r)
		}
	default:
		t.Fatal("b's request was answered before a's cancel hook ran")
	}
	if ok, err := b.RequestCancel(context.Background(), "nobody-runs-this", "x"); ok || err != nil {
		t.Fatalf("cancel of an unowned run: %v %v, want false", ok, err)
	}
}

func TestLeaseOptionsFailClearly(t *testing.T) {
	_, err := OpenLeases(context.Background(), LeaseOptions{URL: "nats://127.0.0.1:1", ConnectTimeout: 200 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "run leases") || !strings.Contains(err.Error(), EnvURL) {
		t.Fatalf("OpenLeases on a closed port: %v", err)
	}
}

// Leases longer than the bucket keeps entries would be dropped while
// alive: refused, saying what to do.
func TestLeaseTTLLongerThanTheBucketIsRefused(t *testing.T) {
	bucket := leaseBucket(t)
	openTestLeases(t, bucket, "a", time.Second)
	_, err := OpenLeases(context.Background(), LeaseOptions{URL: natsURL(t), Bucket: bucket, TTL: 5 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "shorter than the lease TTL") || !strings.Contains(err.Error(), EnvLeaseBucket) {
		t.Fatalf("lease TTL 5s on a 1s bucket: %v", err)
	}
}

// BenchmarkLeaseAcquireRelease: what owning a run costs it with NATS, a
// lease taken when it starts and dropped when it ends (two JetStream
// key-value writes).
func BenchmarkLeaseAcquireRelease(b *testing.B) {
	url := natsURL(b)
	bucket := fmt.Sprintf("test_leases_%d", time.Now().UnixNano())
	b.Cleanup(func() { RemoveLeaseBucket(url, bucket) })
	l, err := OpenLeases(context.Background(), LeaseOptions{URL: url, Bucket: bucket})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	for i := 0; b.Loop(); i++ {
		runID := fmt.Sprintf("run%d", i)
		if ok, err := l.Acquire(context.Background(), runID, nil, nil); !ok || err != nil {
			b.Fatalf("acquire %s: %v %v", runID, ok, err)
		}
		l.Release(runID)
	}
}
