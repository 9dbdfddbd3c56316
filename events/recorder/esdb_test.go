package recorder_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/events/esdb"
	"github.com/grimoire-run/grimoire/events/esdb/esdbtest"
	"github.com/grimoire-run/grimoire/events/recorder"
	"github.com/grimoire-run/grimoire/graph"
)

// EventStoreDB caps one append at 1 MiB. Outputs above the blob threshold
// are offloaded, but several outputs just below it still add up to more
// than one append may hold: the recorder must split its batches rather
// than fail the run.
func TestOutputsBelowTheBlobThresholdThatAddUpPastTheAppendCapAreRecorded(t *testing.T) {
	srv := esdbtest.StartT(t, esdbtest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	inner, err := esdb.New(ctx, esdb.Options{URL: srv.URL(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	blobs, err := events.NewFileBlobStore(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	// The first append (RunRequested) waits until every output is queued,
	// so that the recorder has them all at hand for its next batch.
	gate := make(chan struct{})
	st := &gatedStore{Store: events.WithBlobs(inner, blobs, events.BlobOptions{}), gate: gate}

	rec, err := recorder.New(recorder.Options{Store: st, RunID: "esdb-big", SpellID: "s", SpellHash: "h"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rec.Record(&events.RunRequested{}, nil); err != nil {
		t.Fatal(err)
	}
	const nodes = 8
	out := strings.Repeat("x", events.DefaultBlobThreshold-1024) // just below: stays inline
	for i := range nodes {
		rec.ObserveNode(graph.NodeEvent{Kind: graph.NodeCompleted, NodeID: "n" + string(rune('a'+i)), NodeType: "T", Outputs: map[string]any{"out": out}, Time: time.Now()})
	}
	close(gate)
	if err := rec.Close(ctx); err != nil {
		t.Fatalf("recording %d outputs of %d bytes over EventStoreDB: %v", nodes, len(out), err)
	}
	recs, payloads := readRun(t, st, "esdb-big")
	if len(recs) != nodes+1 {
		t.Fatalf("%d events recorded, want %d", len(recs), nodes+1)
	}
	checkSeq(t, "esdb-big", recs, payloads)
	if st.maxEvents < 2 {
		t.Fatalf("the recorder never batched (at most %d events per append): the test proves nothing", st.maxEvents)
	}
}

type gatedStore struct {
	events.Store
	gate      chan struct{}
	mu        sync.Mutex
	maxEvents int
}

func (g *gatedStore) Append(ctx context.Context, stream string, exp events.ExpectedRevision, evs ...events.EventData) (events.AppendResult, error) {
	<-g.gate
	res, err := g.Store.Append(ctx, stream, exp, evs...)
	if err == nil {
		g.mu.Lock()
		g.maxEvents = max(g.maxEvents, len(evs))
		g.mu.Unlock()
	}
	return res, err
}
