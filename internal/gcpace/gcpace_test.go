package gcpace_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/internal/gcpace"
)

func TestPercentFor(t *testing.T) {
	for _, tc := range []struct {
		live, headroom uint64
		want           int
	}{
		{8 << 20, 64 << 20, 800},  // small heap: grow by the headroom
		{64 << 20, 64 << 20, 100}, // equal: GOGC 100 already allows it
		{1 << 30, 64 << 20, 100},  // big heap: never below 100
		{1, 64 << 20, 100_000},    // capped
		{0, 64 << 20, 100_000},    // no division by zero
		{20 << 20, 64 << 20, 320},
	} {
		if got := gcpace.PercentFor(tc.live, tc.headroom); got != tc.want {
			t.Errorf("PercentFor(%d, %d) = %d, want %d", tc.live, tc.headroom, got, tc.want)
		}
	}
}

// waitPercent runs collections until the pace, re-read after each one by a
// finalizer, satisfies ok.
func waitPercent(t *testing.T, ok func(int) bool) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		runtime.GC()
		p := gcpace.Percent()
		if ok(p) {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("GOGC stayed %d", p)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var retained [][]byte

func TestPacesByLiveHeap(t *testing.T) {
	t.Setenv("GOGC", "")
	if !gcpace.Start(256 << 20) {
		t.Fatal("Start refused with GOGC unset")
	}
	defer gcpace.Stop()
	// The test binary's live heap is a few MiB: GOGC goes far above 100.
	small := waitPercent(t, func(p int) bool { return p > 1000 })

	// Hold 512 MiB: the headroom is less than GOGC 100 gives, so 100.
	for range 512 {
		retained = append(retained, make([]byte, 1<<20))
	}
	waitPercent(t, func(p int) bool { return p == 100 })

	// Let it go: back to a large growth.
	retained = nil
	waitPercent(t, func(p int) bool { return p > 1000 })

	gcpace.Stop()
	if p := gcpace.Percent(); p != 100 {
		t.Fatalf("after Stop GOGC is %d (was %d while pacing)", p, small)
	}
}

func TestOperatorGOGCWins(t *testing.T) {
	t.Setenv("GOGC", "150")
	if gcpace.Start(0) {
		t.Fatal("Start paced the collector although GOGC is set")
	}
	if p := gcpace.Percent(); p != 100 {
		// The test process started with GOGC unset; Start must not touch it.
		t.Fatalf("GOGC is %d", p)
	}
}
