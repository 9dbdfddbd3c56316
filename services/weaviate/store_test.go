package weaviate_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/services"
	"github.com/grimoire-run/grimoire/services/vectorstoretest"
	"github.com/grimoire-run/grimoire/services/weaviate"
	"github.com/grimoire-run/grimoire/services/weaviate/weaviatetest"
)

func newStore(t testing.TB, srv *weaviatetest.Server) *weaviate.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := weaviate.New(ctx, weaviate.Options{Host: srv.Host})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestContract runs the vector store contract against a real Weaviate
// server, one server for all subtests (each uses its own classes).
func TestContract(t *testing.T) {
	srv := weaviatetest.Start(t)
	vectorstoretest.Run(t, func(t *testing.T) services.VectorStore { return newStore(t, srv) })
	if t.Failed() {
		t.Logf("weaviate output:\n%s", srv.Logs())
	}
}

// A second Store (another Grimoire process) sees what the first wrote and
// can write to the same knowledge base and tenant: classes and tenants that
// already exist are not an error.
func TestSecondStoreSharesData(t *testing.T) {
	srv := weaviatetest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := newStore(t, srv), newStore(t, srv)
	doc := services.Document{ID: "x", Vector: []float32{1, 0}, Text: "from a"}
	if err := a.Upsert(ctx, "shared", "alice", []services.Document{doc}); err != nil {
		t.Fatal(err)
	}
	doc.Text = "from b"
	if err := b.Upsert(ctx, "shared", "alice", []services.Document{doc}); err != nil {
		t.Fatal(err)
	}
	hits, err := a.Search(ctx, "shared", "alice", services.SearchQuery{Vector: []float32{1, 0}})
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 1 || hits[0].Text != "from b" {
		t.Fatalf("got %+v, want b's version of x", hits)
	}
}

func TestServerDown(t *testing.T) {
	srv := weaviatetest.Start(t)
	s := newStore(t, srv)
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.Upsert(ctx, "kb", "alice", []services.Document{{ID: "x", Vector: []float32{1}}})
	if err == nil || !strings.Contains(err.Error(), "kb") {
		t.Fatalf("upsert with the server gone: %v, want an error naming the knowledge base", err)
	}
	if _, err := weaviate.New(ctx, weaviate.Options{Host: srv.Host}); err == nil {
		t.Fatal("New succeeded against a stopped server")
	}
}
