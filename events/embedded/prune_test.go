package embedded_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/events/embedded"
)

func TestPruneLeavesRevisionsAndPositions(t *testing.T) {
	ctx := context.Background()
	st, err := embedded.Open(embedded.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var evs []events.EventData
	for i := range 5 {
		evs = append(evs, events.EventData{Type: "E", Data: []byte(fmt.Sprintf(`{"i":%d}`, i))})
	}
	if _, err := st.Append(ctx, "run-a", events.NoStream, evs...); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Append(ctx, "run-b", events.NoStream, evs[0]); err != nil {
		t.Fatal(err)
	}
	before, _ := st.ReadStream(ctx, "run-a", events.Start, events.Forwards, 0)

	n, err := st.Prune(ctx, "run-a", []uint64{1, 2, 7})
	if err != nil || n != 2 {
		t.Fatalf("Prune = %d, %v; want 2 deleted", n, err)
	}
	after, err := st.ReadStream(ctx, "run-a", events.Start, events.Forwards, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != 3 || after[0].Revision != 0 || after[1].Revision != 3 || after[2].Revision != 4 ||
		after[1].Position != before[3].Position || string(after[2].Data) != `{"i":4}` {
		t.Fatalf("after prune: %+v", after)
	}
	back, _ := st.ReadStream(ctx, "run-a", events.End, events.Backwards, 2)
	if len(back) != 2 || back[0].Revision != 4 || back[1].Revision != 3 {
		t.Errorf("backwards after prune: %+v", back)
	}
	all, _ := st.ReadAll(ctx, events.Start, 0)
	if len(all) != 4 {
		t.Errorf("$all holds %d events, want 4", len(all))
	}
	if n, err := st.Prune(ctx, "run-a", []uint64{1, 2}); err != nil || n != 0 {
		t.Errorf("second prune = %d, %v; want 0", n, err)
	}
	if _, err := st.Prune(ctx, "run-a", []uint64{4}); !errors.Is(err, embedded.ErrPruneHead) {
		t.Errorf("pruning the head: %v, want ErrPruneHead", err)
	}
	// The stream goes on from its head as before; a stale append is refused.
	if _, err := st.Append(ctx, "run-a", events.Exact(4), evs[0]); err != nil {
		t.Errorf("append after prune: %v", err)
	}
	if _, err := st.Append(ctx, "run-a", events.Exact(2), evs[0]); !errors.Is(err, events.ErrWrongExpectedRevision) {
		t.Errorf("stale append after prune: %v", err)
	}
	// The blob wrapper forwards Prune.
	wrapped := events.WithBlobs(st, nil, events.BlobOptions{})
	p, ok := wrapped.(interface {
		Prune(context.Context, string, []uint64) (int, error)
	})
	if !ok {
		t.Fatal("events.WithBlobs hides Prune")
	}
	if n, err := p.Prune(ctx, "run-a", []uint64{0}); err != nil || n != 1 {
		t.Errorf("Prune through the blob wrapper = %d, %v", n, err)
	}
}
