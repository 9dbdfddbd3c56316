package embedded

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"

	"github.com/grimoire-run/grimoire/events"
)

// Past the burst, bytes leave the bucket no faster than the rate.
func TestPacerHoldsWritesToItsRate(t *testing.T) {
	const rate = 4 << 20
	p := newPacer(rate)
	start := time.Now()
	const total = 1 << 20
	for range total / (32 << 10) {
		p.wait(32 << 10)
	}
	min := time.Duration(float64(total-paceBurst) / rate * float64(time.Second))
	if took := time.Since(start); took < min {
		t.Fatalf("1 MiB at 4 MiB/s (burst %d KiB) took %v, less than %v", paceBurst>>10, took, min)
	}
	if p.paced.Load() == 0 {
		t.Fatal("no write waited")
	}
}

// When Pebble falls behind, stalls or closes, nothing waits.
func TestPacerStepsAside(t *testing.T) {
	for name, set := range map[string]func(p *pacer){
		"behind": func(p *pacer) { p.behind.Store(true) },
		"write stall": func(p *pacer) {
			var l pebble.EventListener
			p.listen(&l)
			l.WriteStallBegin(pebble.WriteStallBeginInfo{Reason: "memtable count limit reached"})
		},
	} {
		t.Run(name, func(t *testing.T) {
			p := newPacer(1 << 10) // 1 KiB/s: any wait would show
			set(p)
			for range 64 {
				p.wait(64 << 10)
			}
			if n := p.paced.Load(); n != 0 {
				t.Fatalf("%d bytes waited", n)
			}
		})
	}
	var l pebble.EventListener
	p := newPacer(1 << 10)
	p.listen(&l)
	l.WriteStallBegin(pebble.WriteStallBeginInfo{})
	l.WriteStallEnd()
	p.wait(paceBurst + 1)
	if p.paced.Load() == 0 {
		t.Fatal("still unpaced after the write stall ended")
	}
	if newPacer(0) != nil || newPacer(-1) != nil {
		t.Fatal("a rate of 0 or less must mean no pacer")
	}
}

func TestFallingBehind(t *testing.T) {
	opts := (&pebble.Options{MemTableSize: 32 << 20}).EnsureDefaults()
	for _, tc := range []struct {
		unflushed uint64
		sublevels int
		want      bool
	}{
		{0, 0, false},
		{20 << 20, 2, false}, // a memtable being flushed, a few L0 sublevels
		{33 << 20, 0, true},  // more than a memtable's worth waits
		{1 << 20, opts.L0StopWritesThreshold / 2, true},
	} {
		var m pebble.Metrics
		m.WAL.Size = tc.unflushed
		m.Levels[0].Sublevels = int32(tc.sublevels)
		if got := fallingBehind(&m, opts); got != tc.want {
			t.Errorf("%d MiB unflushed, %d L0 sublevels: falling behind %v, want %v", tc.unflushed>>20, tc.sublevels, got, tc.want)
		}
	}
}

// The table files of a flush go through the pacer, the WAL does not, and
// closing the store does not wait for the pacing of a flush in progress.
func TestStorePacesTableWritesOnly(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, BackgroundWriteRate: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	eng := s.engine.(*pebbleEngine)
	ctx := context.Background()
	for i := range 64 {
		evs := make([]events.EventData, 64)
		for j := range evs {
			noise := make([]byte, 750) // incompressible: the table is as big as the data
			rand.Read(noise)
			evs[j] = events.EventData{Type: "T", Data: fmt.Appendf(nil, `{"text":%q}`, base64.StdEncoding.EncodeToString(noise))}
		}
		if _, err := s.Append(ctx, fmt.Sprintf("run-%d", i), events.Any, evs...); err != nil {
			t.Fatal(err)
		}
	}
	if n := eng.pacer.paced.Load(); n != 0 {
		t.Fatalf("%d bytes of WAL writes waited for the pacer", n)
	}
	// ~4 MiB of events make a table that takes seconds at 64 KiB/s.
	flushed, err := eng.db.AsyncFlush()
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for eng.pacer.paced.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the flush's table writes never waited for the pacer")
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case <-flushed:
		t.Fatal("the flush finished at once: it was not paced")
	default:
	}
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Paced, the rest of the flush would take about a minute.
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("Close waited %v for the paced flush", took)
	}
	// Nothing was lost: the flush completed unpaced before Close returned.
	s, err = Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	evs, err := s.ReadStream(ctx, "run-63", events.Start, events.Forwards, 1000)
	if err != nil || len(evs) != 64 {
		t.Fatalf("after reopening: %d events of run-63, %v", len(evs), err)
	}
}
