package embedded_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/events/embedded"
	"github.com/grimoire-run/grimoire/events/storetest"
)

func openStore(t testing.TB, dir string) *embedded.Store {
	t.Helper()
	s, err := embedded.Open(embedded.Options{Dir: dir, MaxEventSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestContract(t *testing.T) {
	storetest.RunWithOptions(t, storetest.Options{MaxEventSize: 1 << 20}, func(t *testing.T) events.Store {
		return openStore(t, t.TempDir())
	})
}

// The contract holds through the blob wrapper too, with every event's data
// offloaded: reads resolve it, appends hand back the data written, and an
// event twice the store's own limit round-trips.
func TestContractWithBlobs(t *testing.T) {
	storetest.RunWithOptions(t, storetest.Options{LargeEventSize: 2 << 20}, func(t *testing.T) events.Store {
		blobs, err := events.NewFileBlobStore(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return events.WithBlobs(openStore(t, t.TempDir()), blobs, events.BlobOptions{Threshold: 8})
	})
}

// A fresh append hands its events back (what the run recorder publishes
// without reading them again); an idempotent retry does not.
func TestAppendHandsBackRecorded(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	evs := []events.EventData{{Type: "A", Data: []byte(`{"n":1}`)}, {Type: "B", Data: []byte(`{"n":2}`)}}
	res, err := s.Append(ctx, "hand-back", events.NoStream, evs...)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Recorded) != 2 || res.Recorded[0].Type != "A" || res.Recorded[1].Revision != 1 || res.Recorded[1].Position != res.Position {
		t.Fatalf("recorded %+v", res.Recorded)
	}
	again, err := s.Append(ctx, "hand-back", events.NoStream, evs...)
	if err != nil {
		t.Fatal(err)
	}
	if again.Recorded != nil || again.Position != res.Position {
		t.Fatalf("retry: %+v, first %+v", again, res)
	}
}

// Reading a stream's last event (served from a cache) never returns an
// event older than an append acknowledged before the read began, however
// reads and appends interleave, and ends on the stream's real last event.
func TestReadLastFollowsAppends(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	const streams, appends = 4, 150
	var acked [streams]atomic.Int64
	for i := range acked {
		acked[i].Store(-1)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("last-%d", w)
			for i := range appends {
				exp := events.NoStream
				if i > 0 {
					exp = events.Exact(uint64(i - 1))
				}
				if _, err := s.Append(ctx, name, exp, events.EventData{Type: "T", Data: []byte(fmt.Sprintf(`{"i":%d}`, i))}); err != nil {
					errs <- err
					return
				}
				acked[w].Store(int64(i))
			}
		}()
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for r := range 3 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				w := (n + r) % streams
				before := acked[w].Load()
				got, err := s.ReadStream(ctx, fmt.Sprintf("last-%d", w), events.End, events.Backwards, 1)
				if errors.Is(err, events.ErrStreamNotFound) && before < 0 {
					continue
				}
				if err != nil || len(got) != 1 {
					errs <- fmt.Errorf("read: %v %v", got, err)
					return
				}
				if int64(got[0].Revision) < before {
					errs <- fmt.Errorf("stream %d: read revision %d after revision %d was acknowledged", w, got[0].Revision, before)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for w := range streams {
		got, err := s.ReadStream(ctx, fmt.Sprintf("last-%d", w), events.End, events.Backwards, 1)
		if err != nil || got[0].Revision != appends-1 || string(got[0].Data) != fmt.Sprintf(`{"i":%d}`, appends-1) {
			t.Fatalf("stream %d ends at %+v %v", w, got, err)
		}
	}
	if _, err := s.ReadStream(ctx, "last-none", events.End, events.Backwards, 1); !errors.Is(err, events.ErrStreamNotFound) {
		t.Fatalf("missing stream: %v", err)
	}
}
