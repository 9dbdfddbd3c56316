package vectorindex_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/grimoire-run/grimoire/services"
	"github.com/grimoire-run/grimoire/services/vectorindex"
)

// FuzzOpen feeds arbitrary log contents to Open: it must fail cleanly or
// open an index that answers searches, never panic or hang.
func FuzzOpen(f *testing.F) {
	// Seed with a real log.
	dir := f.TempDir()
	ix, err := vectorindex.Open(vectorindex.Options{Dir: dir, Logger: quiet})
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	ix.Upsert(ctx, "kb", "alice", []services.Document{{ID: "a", Vector: []float32{1, 0}, Text: "t", Metadata: map[string]any{"k": 1}}})
	ix.Delete(ctx, "kb", "alice", []string{"a"})
	ix.Close()
	seed, err := os.ReadFile(filepath.Join(dir, "vectorindex.log"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte("GRIMOIRE-VECTORINDEX 1\n"))
	f.Add([]byte("GRIMOIRE-VECTOR"))
	f.Add([]byte("not a log"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "vectorindex.log"), data, 0o600); err != nil {
			t.Fatal(err)
		}
		ix, err := vectorindex.Open(vectorindex.Options{Dir: dir, NoSync: true, Logger: quiet})
		if err != nil {
			return
		}
		defer ix.Close()
		ix.Search(ctx, "kb", "alice", services.SearchQuery{Vector: []float32{1, 0}})
		if err := ix.Upsert(ctx, "kb2", "bob", []services.Document{{ID: "b", Vector: []float32{0, 1}}}); err != nil {
			t.Fatalf("index opened from fuzzed log cannot take a write: %v", err)
		}
	})
}
