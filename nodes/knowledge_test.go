package nodes_test

import (
	"context"
	"strings"
	"testing"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/nodes"
	"github.com/grimoire-run/grimoire/services"
	"github.com/grimoire-run/grimoire/services/devllm"
	"github.com/grimoire-run/grimoire/services/localembed"
	"github.com/grimoire-run/grimoire/services/vectorindex"
)

// embeddedKnowledge is what `grimoire serve` uses with nothing configured:
// the lexical local embedder and the vector index in the data directory.
func embeddedKnowledge(t *testing.T) (services.Embedder, services.VectorStore) {
	t.Helper()
	emb, err := localembed.New(localembed.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ix, err := vectorindex.Open(vectorindex.Options{Dir: t.TempDir(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	return emb, ix
}

var threeDocs = []any{
	"The Eiffel Tower is a wrought-iron lattice tower in Paris, France.",
	"Photosynthesis lets green plants turn sunlight, water and carbon dioxide into sugar.",
	"The Go programming language has goroutines and channels for concurrency.",
}

// A spell that stores three documents, searches them and feeds the best
// match into a prompt: the embedded defaults end to end, with the
// completion from the inference test double (it echoes the prompt).
func TestRetrievalAugmentedSpellEndToEnd(t *testing.T) {
	emb, vec := embeddedKnowledge(t)
	comp, srv := inferenceClient(t, devllm.Options{})
	h := newHarness(t, nodes.Services{Completion: comp, Embedder: emb, Vectors: vec})
	s := newSpell("rag").
		node("start", "Module Trigger In", nil).
		node("docs", "Input", map[string]any{"name": "documents"}).
		node("q", "Input", map[string]any{"name": "question"}).
		node("store", "Store Document", map[string]any{"knowledgeBase": "facts"}).
		node("search", "Search Knowledge", map[string]any{"knowledgeBase": "facts", "limit": 3}).
		node("chat", "Chat Completion", map[string]any{"prompt": "Context: {{best}}\nQuestion: {{question}}"},
			named(in("sk-best"), "best"), named(in("sk-q"), "question")).
		node("answer", "Output", map[string]any{"name": "answer"}).
		node("hits", "Output", map[string]any{"name": "hits"}).
		edge("start.trigger>store.trigger", "docs.output>store.content",
			"store.trigger>search.trigger", "q.output>search.query",
			"search.trigger>chat.trigger", "search.best>chat.sk-best", "q.output>chat.sk-q",
			"chat.trigger>answer.trigger", "chat.result>answer.input",
			"chat.trigger>hits.trigger", "search.documents>hits.input").build()
	outs, rec := h.mustRun(t, s, map[string]any{"documents": threeDocs, "question": "Which tower stands in Paris?"})

	hits, _ := outs["hits"].([]any)
	if len(hits) != 3 {
		t.Fatalf("hits %v, want all three documents ranked", outs["hits"])
	}
	top := hits[0].(map[string]any)
	if top["text"] != threeDocs[0] {
		t.Fatalf("best hit %q, want the Eiffel Tower document", top["text"])
	}
	if s0, s1 := top["score"].(float64), hits[1].(map[string]any)["score"].(float64); !(s0 > s1) {
		t.Errorf("scores %v then %v: want best first", s0, s1)
	}
	prompt := srv.RequestsTo(devllm.Chat)[0].JSON["messages"].([]any)[0].(map[string]any)["content"]
	want := "Context: " + threeDocs[0].(string) + "\nQuestion: Which tower stands in Paris?"
	if prompt != want {
		t.Fatalf("prompt %q\nwant %q", prompt, want)
	}
	if answer, _ := outs["answer"].(string); !strings.Contains(answer, "Eiffel Tower") {
		t.Errorf("answer %q does not carry the retrieved document", answer)
	}
	if len(rec.chunks("chat")) == 0 {
		t.Error("no streamed tokens from the completion")
	}
}

func searchSpell(cfg map[string]any) *graph.Spell {
	return newSpell("search").
		node("start", "Module Trigger In", nil).
		node("q", "Input", map[string]any{"name": "q"}).
		node("f", "Input", map[string]any{"name": "filter"}).
		node("search", "Search Knowledge", cfg).
		node("o", "Output", map[string]any{"name": "documents"}).
		node("b", "Output", map[string]any{"name": "bestScore"}).
		edge("start.trigger>search.trigger", "q.output>search.query", "f.output>search.filter",
			"search.trigger>o.trigger", "search.documents>o.input", "search.trigger>b.trigger", "search.bestScore>b.input").build()
}

func storeSpell(cfg map[string]any) *graph.Spell {
	return newSpell("store").
		node("start", "Module Trigger In", nil).
		node("c", "Input", map[string]any{"name": "content"}).
		node("m", "Input", map[string]any{"name": "metadata"}).
		node("store", "Store Document", cfg).
		node("o", "Output", map[string]any{"name": "ids"}).
		edge("start.trigger>store.trigger", "c.output>store.content", "m.output>store.metadata",
			"store.trigger>o.trigger", "store.ids>o.input").build()
}

func TestStoreDocumentChunksAndSearchFilters(t *testing.T) {
	emb, vec := embeddedKnowledge(t)
	h := newHarness(t, nodes.Services{Embedder: emb, Vectors: vec})
	long := strings.Repeat("Lighthouses guide ships along rocky coasts at night. ", 20) // ~1060 chars
	outs, _ := h.mustRun(t, storeSpell(map[string]any{"chunkSize": 300, "chunkOverlap": 50, "type": "Manual"}),
		map[string]any{"content": long, "metadata": map[string]any{"lang": "en"}})
	ids, _ := outs["ids"].([]any)
	if len(ids) < 4 || len(ids) > 6 {
		t.Fatalf("%d chunks for ~1060 characters at 300 with overlap 50: %v", len(ids), ids)
	}
	h.mustRun(t, storeSpell(nil), map[string]any{"content": "Lighthouses in German: Leuchttürme.", "metadata": map[string]any{"lang": "de"}})

	outs, _ = h.mustRun(t, searchSpell(map[string]any{"limit": 10}), map[string]any{"q": "lighthouse ships", "filter": map[string]any{"lang": "de"}})
	docs := outs["documents"].([]any)
	if len(docs) != 1 || !strings.Contains(docs[0].(map[string]any)["text"].(string), "Leuchttürme") {
		t.Fatalf("filtered search %v, want only the German document", docs)
	}
	outs, _ = h.mustRun(t, searchSpell(map[string]any{"limit": 2, "type": "manual"}), map[string]any{"q": "lighthouse ships"})
	if docs := outs["documents"].([]any); len(docs) != 2 || docs[0].(map[string]any)["metadata"].(map[string]any)["type"] != "manual" {
		t.Fatalf("top-2 of type manual: %v", docs)
	}
	outs, _ = h.mustRun(t, searchSpell(map[string]any{"minScore": 0.999}), map[string]any{"q": "unrelated zebra"})
	if docs := outs["documents"].([]any); len(docs) != 0 || outs["bestScore"] != 0.0 {
		t.Fatalf("minScore kept %v", docs)
	}
	// A knowledge base nothing was stored in is empty, not an error.
	outs, _ = h.mustRun(t, searchSpell(map[string]any{"knowledgeBase": "empty"}), map[string]any{"q": "x"})
	if docs := outs["documents"].([]any); len(docs) != 0 {
		t.Fatalf("empty knowledge base gave %v", docs)
	}
}

func TestCreateTextEmbedding(t *testing.T) {
	emb, _ := embeddedKnowledge(t)
	h := newHarness(t, nodes.Services{Embedder: emb})
	s := newSpell("emb").
		node("start", "Module Trigger In", nil).
		node("c", "Input", map[string]any{"name": "text"}).
		node("e", "Create Text Embedding", nil).
		node("f", "Find Text Embedding", nil).
		node("o", "Output", map[string]any{"name": "v"}).
		node("o2", "Output", map[string]any{"name": "found"}).
		edge("start.trigger>e.trigger", "c.output>e.input", "e.trigger>o.trigger", "e.result>o.input",
			"e.trigger>f.trigger", "c.output>f.content", "f.success>o2.trigger", "f.embedding>o2.input").build()
	outs, _ := h.mustRun(t, s, map[string]any{"text": "hello world"})
	v, ok := outs["v"].([]float32)
	if !ok || len(v) == 0 {
		t.Fatalf("embedding %T %v", outs["v"], outs["v"])
	}
	if f, ok := outs["found"].([]float32); !ok || len(f) != len(v) {
		t.Fatalf("Find Text Embedding gave %T", outs["found"])
	}
}

func TestKnowledgeNodesWithoutServices(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	_, _, err := h.run(context.Background(), storeSpell(nil), map[string]any{"content": "x"})
	if err == nil || !strings.Contains(err.Error(), "no vector store configured") {
		t.Errorf("Store Document without a vector store: %v", err)
	}
}
