package vectorindex_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/services"
	"github.com/grimoire-run/grimoire/services/vectorindex"
	"github.com/grimoire-run/grimoire/services/vectorstoretest"
)

func open(t testing.TB, dir string, opts vectorindex.Options) *vectorindex.Index {
	t.Helper()
	opts.Dir = dir
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	ix, err := vectorindex.Open(opts)
	if err != nil {
		t.Fatalf("Open(%q): %v", dir, err)
	}
	t.Cleanup(func() { ix.Close() })
	return ix
}

// quiet drops the index's recovery notes, which some tests provoke on purpose.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestContract(t *testing.T) {
	vectorstoretest.Run(t, func(t *testing.T) services.VectorStore {
		return open(t, t.TempDir(), vectorindex.Options{})
	})
}

// The contract again, each subtest's store reopened from disk before it is
// handed over, and once more after: nothing the suite relies on lives only
// in memory.
func TestContractAfterReopen(t *testing.T) {
	vectorstoretest.Run(t, func(t *testing.T) services.VectorStore {
		dir := t.TempDir()
		first := open(t, dir, vectorindex.Options{})
		if err := first.Close(); err != nil {
			t.Fatal(err)
		}
		return &reopening{t: t, dir: dir, ix: open(t, dir, vectorindex.Options{})}
	})
}

// reopening closes and reopens the index before every search, so every
// search reads what the log holds.
type reopening struct {
	t   *testing.T
	dir string
	mu  sync.RWMutex
	ix  *vectorindex.Index
}

func (r *reopening) Upsert(ctx context.Context, kb, tenant string, docs []services.Document) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.ix.Upsert(ctx, kb, tenant, docs)
}

func (r *reopening) Delete(ctx context.Context, kb, tenant string, ids []string) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.ix.Delete(ctx, kb, tenant, ids)
}

func (r *reopening) Search(ctx context.Context, kb, tenant string, q services.SearchQuery) ([]services.SearchHit, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.ix.Close(); err != nil {
		return nil, err
	}
	ix, err := vectorindex.Open(vectorindex.Options{Dir: r.dir, Logger: quiet})
	if err != nil {
		return nil, err
	}
	r.ix = ix
	r.t.Cleanup(func() { ix.Close() })
	return r.ix.Search(ctx, kb, tenant, q)
}

func TestWritesSurviveReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ix := open(t, dir, vectorindex.Options{})
	docs := []services.Document{
		{ID: "a", Vector: []float32{1, 0}, Text: "alpha", Metadata: map[string]any{"n": 1}},
		{ID: "b", Vector: []float32{0, 1}, Text: "bravo"},
	}
	if err := ix.Upsert(ctx, "kb", "alice", docs); err != nil {
		t.Fatal(err)
	}
	if err := ix.Upsert(ctx, "empty-kb", "alice", []services.Document{{ID: "gone", Vector: []float32{1, 1, 1}}}); err != nil {
		t.Fatal(err)
	}
	if err := ix.Delete(ctx, "empty-kb", "alice", []string{"gone"}); err != nil {
		t.Fatal(err)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := ix.Search(ctx, "kb", "alice", services.SearchQuery{Vector: []float32{1, 0}}); !errors.Is(err, vectorindex.ErrClosed) {
		t.Fatalf("Search after Close: %v, want ErrClosed", err)
	}

	ix = open(t, dir, vectorindex.Options{})
	hits, err := ix.Search(ctx, "kb", "alice", services.SearchQuery{Vector: []float32{1, 0}})
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 2 || hits[0].ID != "a" || hits[0].Text != "alpha" || hits[0].Metadata["n"] != 1.0 {
		t.Fatalf("after reopen: %+v", hits)
	}
	// An emptied knowledge base still exists and still knows its dimension.
	hits, err = ix.Search(ctx, "empty-kb", "alice", services.SearchQuery{Vector: []float32{1, 1, 1}})
	if err != nil || len(hits) != 0 {
		t.Fatalf("emptied knowledge base after reopen: hits %v err %v", hits, err)
	}
	var dimErr *vectorindex.DimensionError
	if err := ix.Upsert(ctx, "empty-kb", "alice", []services.Document{{ID: "x", Vector: []float32{1, 1}}}); !errors.As(err, &dimErr) || dimErr.Want != 3 {
		t.Fatalf("2-dim vector into emptied 3-dim knowledge base: %v, want DimensionError wanting 3", err)
	}
}

func TestTornWriteIsDropped(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ix := open(t, dir, vectorindex.Options{})
	for i := range 3 {
		if err := ix.Upsert(ctx, "kb", "alice", []services.Document{{ID: fmt.Sprint(i), Vector: []float32{1, float32(i)}}}); err != nil {
			t.Fatal(err)
		}
	}
	ix.Close()
	path := filepath.Join(dir, "vectorindex.log")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// A crash in the middle of the last record leaves part of it.
	for _, cut := range []int{1, 5, 9, 20} {
		t.Run(fmt.Sprint("cut ", cut), func(t *testing.T) {
			if err := os.WriteFile(path, data[:len(data)-cut], 0o600); err != nil {
				t.Fatal(err)
			}
			ix := open(t, dir, vectorindex.Options{})
			hits, err := ix.Search(ctx, "kb", "alice", services.SearchQuery{Vector: []float32{1, 0}})
			if err != nil {
				t.Fatal(err)
			}
			if got := len(hits); got != 2 {
				t.Fatalf("got %d documents, want the 2 whose records are whole", got)
			}
			// The index keeps working and appends after the good part.
			if err := ix.Upsert(ctx, "kb", "alice", []services.Document{{ID: "new", Vector: []float32{0, 1}}}); err != nil {
				t.Fatal(err)
			}
			ix.Close()
			ix = open(t, dir, vectorindex.Options{})
			hits, _ = ix.Search(ctx, "kb", "alice", services.SearchQuery{Vector: []float32{1, 0}})
			if len(hits) != 3 {
				t.Fatalf("after recovery and a new write: %d documents, want 3", len(hits))
			}
			ix.Close()
		})
	}
}

func TestDamageInTheMiddleIsAnError(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ix := open(t, dir, vectorindex.Options{})
	for i := range 3 {
		if err := ix.Upsert(ctx, "kb", "alice", []services.Document{{ID: fmt.Sprint(i), Vector: []float32{1, float32(i)}, Text: "some text"}}); err != nil {
			t.Fatal(err)
		}
	}
	ix.Close()
	path := filepath.Join(dir, "vectorindex.log")
	data, _ := os.ReadFile(path)
	data[40] ^= 0xff // inside the first record's payload
	os.WriteFile(path, data, 0o600)
	if ix, err := vectorindex.Open(vectorindex.Options{Dir: dir}); err == nil {
		ix.Close()
		t.Fatal("Open accepted a log damaged in the middle")
	}
}

func TestCompactionKeepsLiveDocuments(t *testing.T) {
	ctx := context.Background()
	// The same 200 overwrites of 10 documents, with and without compaction.
	workload := func(dir string, minDead int) int64 {
		ix := open(t, dir, vectorindex.Options{CompactMinDead: minDead})
		for round := range 20 {
			var docs []services.Document
			for i := range 10 {
				docs = append(docs, services.Document{ID: fmt.Sprint(i), Vector: []float32{1, float32(round)}, Text: fmt.Sprint("round ", round)})
			}
			if err := ix.Upsert(ctx, "kb", "alice", docs); err != nil {
				t.Fatal(err)
			}
		}
		if err := ix.Delete(ctx, "kb", "alice", []string{"9"}); err != nil {
			t.Fatal(err)
		}
		ix.Close()
		st, err := os.Stat(filepath.Join(dir, "vectorindex.log"))
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	full := workload(t.TempDir(), 1<<30)
	dir := t.TempDir()
	compacted := workload(dir, 50)
	t.Logf("log without compaction %d bytes, with %d bytes", full, compacted)
	if compacted*2 > full {
		t.Errorf("compaction kept the log at %d bytes of %d", compacted, full)
	}
	ix := open(t, dir, vectorindex.Options{})
	hits, err := ix.Search(ctx, "kb", "alice", services.SearchQuery{Vector: []float32{1, 19}, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 9 {
		t.Fatalf("after compaction and reopen: %d documents, want 9", len(hits))
	}
	for _, h := range hits {
		if h.Text != "round 19" {
			t.Fatalf("document %s has text %q, want the last round's", h.ID, h.Text)
		}
	}
	// Explicit compaction leaves the same documents.
	if err := ix.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if again, _ := ix.Search(ctx, "kb", "alice", services.SearchQuery{Vector: []float32{1, 19}, Limit: 100}); len(again) != 9 {
		t.Fatalf("after Compact: %d documents, want 9", len(again))
	}
}

func TestSecondOpenOfSameDirectoryFails(t *testing.T) {
	dir := t.TempDir()
	open(t, dir, vectorindex.Options{})
	if ix, err := vectorindex.Open(vectorindex.Options{Dir: dir}); err == nil {
		ix.Close()
		t.Fatal("two indexes opened one directory")
	}
}

func TestCancelledContext(t *testing.T) {
	ix := open(t, t.TempDir(), vectorindex.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := ix.Upsert(ctx, "kb", "alice", []services.Document{{ID: "a", Vector: []float32{1}}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Upsert with cancelled context: %v", err)
	}
}

// Exact search must agree with a brute-force sort, for random data.
func TestMatchesBruteForce(t *testing.T) {
	ctx := context.Background()
	ix := open(t, t.TempDir(), vectorindex.Options{NoSync: true})
	rng := rand.New(rand.NewPCG(1, 2))
	const n, dims = 500, 32
	docs := make([]services.Document, n)
	for i := range docs {
		docs[i] = services.Document{ID: fmt.Sprintf("d%03d", i), Vector: randomVector(rng, dims)}
	}
	if err := ix.Upsert(ctx, "kb", "alice", docs); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		q := randomVector(rng, dims)
		want := slices.Clone(docs)
		sort.SliceStable(want, func(i, j int) bool { return services.Cosine(q, want[i].Vector) > services.Cosine(q, want[j].Vector) })
		hits, err := ix.Search(ctx, "kb", "alice", services.SearchQuery{Vector: q, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		for i, h := range hits {
			if h.ID != want[i].ID {
				t.Fatalf("rank %d: got %s, want %s", i, h.ID, want[i].ID)
			}
		}
	}
}

func randomVector(rng *rand.Rand, dims int) []float32 {
	v := make([]float32, dims)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

// BenchmarkSearch measures exact search over one tenant of 10,000
// 384-dimension documents (the localembed size), with and without a
// keyword half.
func BenchmarkSearch(b *testing.B) {
	ctx := context.Background()
	ix := open(b, b.TempDir(), vectorindex.Options{NoSync: true})
	rng := rand.New(rand.NewPCG(3, 4))
	const n, dims = 10000, 384
	words := []string{"spell", "wizard", "potion", "dragon", "scroll", "rune", "tower", "raven"}
	for start := 0; start < n; start += 1000 {
		docs := make([]services.Document, 1000)
		for i := range docs {
			docs[i] = services.Document{
				ID:       fmt.Sprint(start + i),
				Vector:   randomVector(rng, dims),
				Text:     words[rng.IntN(len(words))] + " " + words[rng.IntN(len(words))] + " and more text",
				Metadata: map[string]any{"shard": (start + i) % 4},
			}
		}
		if err := ix.Upsert(ctx, "kb", "alice", docs); err != nil {
			b.Fatal(err)
		}
	}
	q := randomVector(rng, dims)
	for _, bc := range []struct {
		name string
		q    services.SearchQuery
	}{
		{"vector", services.SearchQuery{Vector: q, Limit: 10}},
		{"vector+filter", services.SearchQuery{Vector: q, Limit: 10, Filter: map[string]any{"shard": 1}}},
		{"hybrid", services.SearchQuery{Vector: q, Text: "dragon rune", Alpha: 0.5, Limit: 10}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			start := time.Now()
			for b.Loop() {
				if _, err := ix.Search(ctx, "kb", "alice", bc.q); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N)/1000, "ms/search")
		})
	}
}

// BenchmarkUpsertDurable measures one fsync'd upsert of 16 documents.
func BenchmarkUpsertDurable(b *testing.B) {
	ctx := context.Background()
	ix := open(b, b.TempDir(), vectorindex.Options{})
	rng := rand.New(rand.NewPCG(5, 6))
	docs := make([]services.Document, 16)
	for i := range docs {
		docs[i] = services.Document{ID: fmt.Sprint(i), Vector: randomVector(rng, 384), Text: "some text"}
	}
	start := time.Now()
	for b.Loop() {
		if err := ix.Upsert(ctx, "kb", "alice", docs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N)/1000, "ms/upsert")
}
