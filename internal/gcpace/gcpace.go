// Package gcpace keeps the garbage collector from running too often in a
// process whose live heap is small.
//
// Go starts a collection when the heap has grown by GOGC percent (100)
// since the last one. A server holding 7 MiB of live data and allocating
// 50 MiB/s at 500 requests/s then collects every ~130 ms, and the requests
// that overlap a cycle pay for it: the mark phase takes a quarter of the
// CPU plus assists, and on 2 cores that was most of the REST round trip's
// p99. gcpace sets the growth so that each cycle may allocate at least a
// headroom (64 MiB by default) before the next, and never less than GOGC
// 100 allows: a big live heap is left alone. It re-reads the live heap
// after every collection. An operator's own GOGC wins: with GOGC set in
// the environment gcpace does nothing. GOMEMLIMIT still caps the heap.
package gcpace

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
)

// DefaultHeadroom is the heap growth allowed between collections.
const DefaultHeadroom = 64 << 20

var (
	mu      sync.Mutex
	running atomic.Bool
	target  atomic.Uint64 // headroom in bytes; 0 stops
)

// Start paces the collector with the given headroom (DefaultHeadroom when
// 0) until Stop. It reports false, and does nothing, when GOGC is set in
// the environment.
func Start(headroom uint64) bool {
	if os.Getenv("GOGC") != "" {
		return false
	}
	if headroom == 0 {
		headroom = DefaultHeadroom
	}
	mu.Lock()
	defer mu.Unlock()
	target.Store(headroom)
	adjust()
	if !running.Swap(true) {
		arm()
	}
	return true
}

// Stop returns the collector to GOGC 100.
func Stop() {
	mu.Lock()
	defer mu.Unlock()
	if target.Swap(0) != 0 {
		debug.SetGCPercent(100)
	}
}

// Percent is the growth the collector runs with now (GOGC).
func Percent() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
}

// sentinel is garbage whose finalizer runs after each collection; it
// re-arms itself while pacing is on.
type sentinel struct{ _ [16]byte }

func arm() {
	s := &sentinel{}
	runtime.SetFinalizer(s, func(*sentinel) {
		if target.Load() == 0 {
			running.Store(false)
			return
		}
		mu.Lock()
		adjust()
		mu.Unlock()
		arm()
	})
}

var liveSample = []metrics.Sample{{Name: "/gc/heap/live:bytes"}}

// adjust sets the growth for the live heap of the last collection.
func adjust() {
	h := target.Load()
	if h == 0 {
		return
	}
	metrics.Read(liveSample)
	live := uint64(1 << 20)
	if liveSample[0].Value.Kind() == metrics.KindUint64 {
		live = max(liveSample[0].Value.Uint64(), 1<<20)
	}
	debug.SetGCPercent(PercentFor(live, h))
}

// PercentFor is the GOGC value that lets a heap of live bytes grow by at
// least headroom, and by no less than GOGC 100 would.
func PercentFor(live, headroom uint64) int {
	p := headroom * 100 / max(live, 1)
	return int(min(max(p, 100), 100_000))
}
