package embedded

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
)

// Background write pacing.
//
// An append is durable once Pebble's WAL is synced, and a sync waits for
// the disk to take everything written before it. A memtable flush writes
// ~10 MB of table files at once and the compaction after it ~20 MB more;
// written at full speed they fill the disk's queue, and every WAL sync in
// the next few hundred milliseconds waits behind them. On the development
// VM that turned a 0.3 ms append into 5–20 ms for 0.3–0.6 s after each
// flush, which was most of the REST sync round trip's p99
// (docs/benchmarks.md). The same flush on tmpfs cost almost nothing, so it
// is the disk, not the CPU.
//
// So the table files that flushes and compactions write go through a
// token bucket (RocksDB's rate_limiter does the same for the same reason):
// the same bytes reach the disk spread over a second or two, in pieces
// small enough that a WAL sync never waits long behind them. The WAL, the
// MANIFEST and everything else are written at full speed.
//
// Pacing must never make Pebble fall behind the writes it takes: when
// more than a memtable's worth of appends waits for a flush, when level 0
// piles up, during a write stall, and while the store closes, the pacer
// steps aside until Pebble has caught up.

// DefaultBackgroundWriteRate is how fast flushes and compactions may write
// by default: 16 MiB/s. At 500 REST runs/s a flush writes ~2 MB every ~13 s
// and the compaction after it ~20 MB, which then take about 0.6 s and 1.2 s.
// Appends heavy enough to fill memtables faster than that drains them make
// the backlog checks below let Pebble write unpaced.
const DefaultBackgroundWriteRate = 16 << 20

// paceBurst is how many bytes may be written at once after a pause.
const paceBurst = 256 << 10

// paceCheckEvery is how often the pacer looks at Pebble's backlog.
const paceCheckEvery = 100 * time.Millisecond

type pacer struct {
	rate float64 // bytes per second

	mu    sync.Mutex
	avail float64 // bytes that may be written now; negative: owed
	last  time.Time

	// behind: Pebble is falling behind (or closing); writes go unpaced.
	behind atomic.Bool
	// stalled is set by Pebble's write-stall events.
	stalled atomic.Bool
	// paced counts the bytes that waited for the bucket (tests read it).
	paced atomic.Int64

	stop chan struct{}
	done chan struct{}
}

// newPacer returns a pacer at rate bytes/s, or nil (no pacing) for a rate
// of 0 or less.
func newPacer(rate int64) *pacer {
	if rate <= 0 {
		return nil
	}
	return &pacer{rate: float64(rate), avail: paceBurst, last: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
}

// wait blocks until n more bytes may be written.
func (p *pacer) wait(n int) {
	if p.behind.Load() || p.stalled.Load() {
		return
	}
	p.mu.Lock()
	now := time.Now()
	p.avail = min(paceBurst, p.avail+now.Sub(p.last).Seconds()*p.rate)
	p.last = now
	p.avail -= float64(n)
	var d time.Duration
	if p.avail < 0 {
		d = time.Duration(-p.avail / p.rate * float64(time.Second))
	}
	p.mu.Unlock()
	if d > 0 {
		p.paced.Add(int64(n))
		time.Sleep(d)
	}
}

// watch follows Pebble's backlog every paceCheckEvery until close.
func (p *pacer) watch(db *pebble.DB, opts *pebble.Options) {
	defer close(p.done)
	t := time.NewTicker(paceCheckEvery)
	defer t.Stop()
	for {
		p.behind.Store(fallingBehind(db.Metrics(), opts))
		select {
		case <-t.C:
		case <-p.stop:
			return
		}
	}
}

// fallingBehind: more than a memtable's worth of appends waits for a
// flush (the WAL's live bytes are what memtables hold unflushed; Pebble
// stops writes at two full memtables), or level 0 is half way to the
// point where Pebble stops writes.
func fallingBehind(m *pebble.Metrics, opts *pebble.Options) bool {
	return m.WAL.Size > opts.MemTableSize || int(m.Levels[0].Sublevels) >= opts.L0StopWritesThreshold/2
}

// close stops the watcher and lets everything still to be written (a
// flush or a compaction the closing DB waits for) go at full speed.
func (p *pacer) close() {
	close(p.stop)
	<-p.done
	p.behind.Store(true)
}

// listen makes the pacer step aside during Pebble's write stalls.
func (p *pacer) listen(l *pebble.EventListener) {
	l.WriteStallBegin = func(pebble.WriteStallBeginInfo) { p.stalled.Store(true) }
	l.WriteStallEnd = func() { p.stalled.Store(false) }
}

// pacedFS paces the writes of the table files Pebble creates.
type pacedFS struct {
	vfs.FS
	p *pacer
}

func (fs pacedFS) Create(name string) (vfs.File, error) {
	f, err := fs.FS.Create(name)
	if err != nil || !strings.HasSuffix(name, ".sst") {
		return f, err
	}
	return pacedFile{File: f, p: fs.p}, nil
}

type pacedFile struct {
	vfs.File
	p *pacer
}

func (f pacedFile) Write(b []byte) (int, error) {
	f.p.wait(len(b))
	return f.File.Write(b)
}
