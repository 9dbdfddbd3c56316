package memory_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/events/embedded"
	"github.com/grimoire-run/grimoire/events/memory"
	"github.com/grimoire-run/grimoire/services"
)

func newMemory(t *testing.T, opts memory.Options) *memory.Memory {
	t.Helper()
	st, err := embedded.Open(embedded.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return memory.New(st, opts)
}

func contents(evs []services.MemoryEvent) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Content
	}
	return out
}

func TestRecallRecentInConversationOrder(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m := newMemory(t, memory.Options{})
	for i := range 5 {
		ch := "general"
		if i == 2 {
			ch = "other"
		}
		if _, err := m.Remember(ctx, "alice", services.MemoryEvent{Content: fmt.Sprint("m", i), Sender: "bob", Channel: ch, Observer: "agent"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.Remember(ctx, "carol", services.MemoryEvent{Content: "not alice's", Channel: "general"}); err != nil {
		t.Fatal(err)
	}
	got, err := m.Recall(ctx, "alice", services.MemoryQuery{Channel: "general", Observer: "agent", Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(contents(got)) != "[m1 m3 m4]" {
		t.Fatalf("recall %v, want the three newest of channel general, oldest first: [m1 m3 m4]", contents(got))
	}
	if got[0].Type != "conversation" || got[0].Date.IsZero() || got[0].ID == "" {
		t.Errorf("stored event lacks defaults: %+v", got[0])
	}
	none, err := m.Recall(ctx, "nobody", services.MemoryQuery{})
	if err != nil || len(none) != 0 {
		t.Fatalf("recall for a tenant with no memory: %v, %v; want nothing and no error", none, err)
	}
}

func TestRecallNearest(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m := newMemory(t, memory.Options{ScanLimit: 300})
	// Enough events to need several backward pages.
	for i := range 600 {
		v := []float32{1, float32(i % 7), 0}
		c := fmt.Sprint("filler", i)
		if i == 450 {
			v, c = []float32{0, 0, 1}, "the one"
		}
		if i == 10 { // beyond the scan limit: never seen
			v, c = []float32{0, 0, 1}, "too old"
		}
		if _, err := m.Remember(ctx, "alice", services.MemoryEvent{Content: c, Embedding: v}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := m.Recall(ctx, "alice", services.MemoryQuery{Embedding: []float32{0, 0.1, 1}, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Content != "the one" {
		t.Fatalf("nearest %v, want \"the one\" first", contents(got))
	}
}

func TestForgetHidesTheEventFromRecall(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m := newMemory(t, memory.Options{})
	var ids []string
	for i := range 3 {
		e, err := m.Remember(ctx, "alice", services.MemoryEvent{Content: fmt.Sprint("m", i), Channel: "c", Embedding: []float32{1, float32(i)}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	if err := m.Forget(ctx, "alice", ids[1]); err != nil {
		t.Fatal(err)
	}
	// Forgetting again, or an id never stored, is not an error.
	if err := m.Forget(ctx, "alice", ids[1]); err != nil {
		t.Fatal(err)
	}
	if err := m.Forget(ctx, "alice", "never-stored"); err != nil {
		t.Fatal(err)
	}
	got, err := m.Recall(ctx, "alice", services.MemoryQuery{Channel: "c"})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(contents(got)) != "[m0 m2]" {
		t.Fatalf("recall after forgetting m1: %v, want [m0 m2]", contents(got))
	}
	near, err := m.Recall(ctx, "alice", services.MemoryQuery{Embedding: []float32{1, 1}})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range near {
		if e.ID == ids[1] {
			t.Fatalf("nearest recall returned the forgotten event %v", e)
		}
	}
	if err := m.Forget(ctx, "alice", ""); err == nil {
		t.Error("Forget with an empty id succeeded")
	}
	if err := m.Forget(ctx, "", ids[0]); err == nil {
		t.Error("Forget with an empty tenant succeeded")
	}
}
