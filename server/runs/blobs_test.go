package runs_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/events/recorder/recordertest"
	"github.com/grimoire-run/grimoire/server/runs"
)

// Node outputs above the blob threshold (256 KiB by default) go to the
// content-addressed blob store; the log holds references only, and
// everything that reads the run — the outcome, a reader of the stream,
// a resumed run replaying the node — sees the full output.
func TestLargeOutputsGoToBlobsAndReadBackTransparently(t *testing.T) {
	const pad = 300 << 10
	dir := t.TempDir()
	raw := openStore(t, filepath.Join(dir, "log"))
	defer raw.Close()
	blobs, err := events.NewFileBlobStore(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	st := events.WithBlobs(raw, blobs, events.BlobOptions{})

	// w001 produces the large output; w002 is slow, so that the executor
	// can be closed while it runs and the run resumed from the log.
	s := recordertest.Chain("big", 3, 0, 0)
	s.Nodes[1].Config = map[string]any{"pad": pad}
	s.Nodes[2].Config = map[string]any{"delay": (300 * time.Millisecond).String()}
	want := ">w001" // after the padding
	wantLen := pad + len(">w001>w002>w003")

	var first recordertest.ExecLog
	ex := newExecutor(t, st, recordertest.NewCatalog(recordertest.Options{OnExec: first.Exec}))
	r, err := ex.Start(context.Background(), runs.RunSpec{Spell: s})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for first.Count("w002") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("w002 never started")
		}
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	ex.Close(ctx)
	cancel()
	if o := wait(t, r); o.Status != runs.StatusInterrupted {
		t.Fatalf("status %q, want interrupted", o.Status)
	}

	var second recordertest.ExecLog
	ex2 := newExecutor(t, st, recordertest.NewCatalog(recordertest.Options{OnExec: second.Exec}))
	defer ex2.Close(context.Background())
	resumed, err := ex2.Resume(context.Background())
	if err != nil || len(resumed) != 1 {
		t.Fatalf("Resume: %v, %d runs", err, len(resumed))
	}
	o := wait(t, resumed[0])
	result, _ := o.Outputs["result"].(string)
	if o.Status != runs.StatusCompleted || len(result) != wantLen || !strings.HasSuffix(result, ">w002>w003") || !strings.HasPrefix(result[pad:], want) {
		t.Fatalf("resumed run: status %q, result of %d bytes, want %d", o.Status, len(result), wantLen)
	}
	if second.Count("w001") != 0 {
		t.Fatal("w001 completed before the interruption and ran again: its blob output was not replayed")
	}

	// The log itself holds references only.
	recs, err := raw.ReadStream(context.Background(), events.RunStream(r.ID()), 0, events.Forwards, 0)
	if err != nil {
		t.Fatal(err)
	}
	refs := map[string]bool{}
	for _, e := range recs {
		if len(e.Data) > events.DefaultBlobThreshold {
			t.Fatalf("%s (seq %d) holds %d bytes in the log", e.Type, e.Revision+1, len(e.Data))
		}
		if _, ok := events.BlobRefOf(e.Data); ok {
			refs[e.Type] = true
		}
	}
	for _, typ := range []string{events.TypeNodeCompleted, events.TypeNodeCacheHit, events.TypeRunCompleted} {
		if !refs[typ] {
			t.Errorf("no %s was offloaded to a blob (offloaded: %v)", typ, refs)
		}
	}

	// Reading through the store resolves them.
	_, payloads := readRun(t, st, r.ID())
	var sawW001 bool
	for _, p := range payloads {
		if c, ok := p.(events.NodeCompleted); ok && c.NodeID == "w001" {
			out, _ := c.Outputs["out"].(string)
			sawW001 = len(out) == pad+len(">w001")
		}
	}
	if !sawW001 {
		t.Fatal("w001's NodeCompleted did not read back with its full output")
	}
	var last events.RunCompleted
	if err := json.Unmarshal(mustLast(t, st, r.ID()).Data, &last); err != nil || len(last.Outputs["result"].(string)) != wantLen {
		t.Fatalf("RunCompleted read back: %v", err)
	}
}

func mustLast(t *testing.T, st events.Store, runID string) events.RecordedEvent {
	t.Helper()
	recs, err := st.ReadStream(context.Background(), events.RunStream(runID), events.End, events.Backwards, 1)
	if err != nil || len(recs) != 1 || recs[0].Type != events.TypeRunCompleted {
		t.Fatalf("last event of run %s: %v %v", runID, recs, err)
	}
	return recs[0]
}
