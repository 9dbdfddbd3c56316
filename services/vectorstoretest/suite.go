package vectorstoretest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/services"
)

// NewStore returns the store one subtest uses. It may return the same
// backend every time; cleanup belongs in t.Cleanup.
type NewStore func(t *testing.T) services.VectorStore

// Timeout bounds each subtest's calls.
const Timeout = 60 * time.Second

// Run runs the contract suite against the stores newStore returns.
func Run(t *testing.T, newStore NewStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, ctx context.Context, s services.VectorStore, kb string)
	}{
		{"NearestFirstWithCosineScores", testNearestFirst},
		{"HitsCarryTextAndMetadata", testRoundTrip},
		{"UpsertOverwrites", testOverwrite},
		{"DuplicateIDsInOneBatchKeepTheLast", testDuplicateInBatch},
		{"Limit", testLimit},
		{"Filters", testFilters},
		{"HybridKeywordOnly", testHybridKeywordOnly},
		{"HybridFusesBothSignals", testHybridFusion},
		{"HybridAlphaOneIsVectorSearch", testHybridAlphaOne},
		{"TenantsAreIsolated", testTenants},
		{"Delete", testDelete},
		{"KnowledgeBaseNotFound", testNotFound},
		{"DimensionMismatch", testDimensionMismatch},
		{"BadInput", testBadInput},
		{"AnyNames", testAnyNames},
		{"ConcurrentUse", testConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), Timeout)
			defer cancel()
			s := newStore(t)
			tt.fn(t, ctx, s, "kb-"+tt.name)
		})
	}
}

func doc(id string, vec []float32, text string, meta map[string]any) services.Document {
	return services.Document{ID: id, Vector: vec, Text: text, Metadata: meta}
}

func mustUpsert(t *testing.T, ctx context.Context, s services.VectorStore, kb, tenant string, docs ...services.Document) {
	t.Helper()
	if err := s.Upsert(ctx, kb, tenant, docs); err != nil {
		t.Fatalf("Upsert(%q, %q, %d docs): %v", kb, tenant, len(docs), err)
	}
}

func mustSearch(t *testing.T, ctx context.Context, s services.VectorStore, kb, tenant string, q services.SearchQuery) []services.SearchHit {
	t.Helper()
	hits, err := s.Search(ctx, kb, tenant, q)
	if err != nil {
		t.Fatalf("Search(%q, %q): %v", kb, tenant, err)
	}
	return hits
}

func ids(hits []services.SearchHit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.ID
	}
	return out
}

// jsonNormal is what a value looks like after a JSON round trip.
func jsonNormal(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

var fourDocs = []services.Document{
	doc("a", []float32{1, 0, 0, 0}, "alpha", nil),
	doc("b", []float32{0.8, 0.6, 0, 0}, "bravo", nil),
	doc("c", []float32{0.2, 0.3, 0.9, 0.1}, "charlie", nil),
	doc("d", []float32{-0.5, 0, 0.1, 0.9}, "delta", nil),
}

func testNearestFirst(t *testing.T, ctx context.Context, s services.VectorStore, kb string) {
	mustUpsert(t, ctx, s, kb, "alice", fourDocs...)
	tests := []struct {
		name  string
		query []float32
	}{
		{"exact a", []float32{1, 0, 0, 0}},
		{"between a and b, nearer b", []float32{0.9, 0.4, 0, 0}}, // {0.9, 0.3} ties a and b exactly
		{"near c", []float32{0.1, 0.2, 1, 0}},
		{"near d, scaled", []float32{-5, 0, 1, 9}}, // cosine ignores length
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := slices.Clone(fourDocs)
			slices.SortFunc(want, func(x, y services.Document) int {
				cx, cy := services.Cosine(tt.query, x.Vector), services.Cosine(tt.query, y.Vector)
				switch {
				case cx > cy:
					return -1
				case cx < cy:
					return 1
				}
				return 0
			})
			hits := mustSearch(t, ctx, s, kb, "alice", services.SearchQuery{Vector: tt.query, Limit: 4})
			if len(hits) != 4 {
				t.Fatalf("got %d hits %v, want 4", len(hits), ids(hits))
			}
			for i, h := range hits {
				if h.ID != want[i].ID {
					t.Fatalf("order %v, want %v", ids(hits), []string{want[0].ID, want[1].ID, want[2].ID, want[3].ID})
				}
				if c := services.Cosine(tt.query, want[i].Vector); math.Abs(float64(h.Score)-c) > 1e-3 {
					t.Errorf("hit %q: score %v, want cosine %v", h.ID, h.Score, c)
				}
			}
		})
	}
}

func testRoundTrip(t *testing.T, ctx context.Context, s services.VectorStore, kb string) {
	meta := map[string]any{
		"lang":                        "en",
		"year":                        2024,
		"score":                       0.5,
		"draft":                       false,
		"tags":                        []string{"x", "y"},
		"nested":                      map[string]any{"k": "v"},
		"odd key-name.with/symbols ü": "ok",
	}
	text := "Line one.\nLine \"two\" with ünïcödé and emoji 🪄."
	mustUpsert(t, ctx, s, kb, "alice",
		doc("doc/1 ü", []float32{1, 2, 3}, text, meta),
		doc("plain", []float32{3, 2, 1}, "", nil),
	)
	hits := mustSearch(t, ctx, s, kb, "alice", services.SearchQuery{Vector: []float32{1, 2, 3}, Limit: 2})
	if len(hits) != 2 || hits[0].ID != "doc/1 ü" {
		t.Fatalf("got %v, want [doc/1 ü plain]", ids(hits))
	}
	if hits[0].Text != text {
		t.Errorf("text %q, want %q", hits[0].Text, text)
	}
	if got, want := jsonNormal(t, hits[0].Metadata), jsonNormal(t, meta); !reflect.DeepEqual(got, want) {
		t.Errorf("metadata %v, want %v", got, want)
	}
	if len(hits[1].Metadata) != 0 || hits[1].Text != "" {
		t.Errorf("document without text or metadata came back with text %q metadata %v", hits[1].Text, hits[1].Metadata)
	}
	for _, h := range hits {
		if h.Vector != nil {
			t.Errorf("hit %q carries its vector; hits must not", h.ID)
		}
	}
}

func testOverwrite(t *testing.T, ctx context.Context, s services.VectorStore, kb string) {
	mustUpsert(t, ctx, s, kb, "alice", fourDocs...)
	mustUpsert(t, ctx, s, kb, "alice", doc("a", []float32{0, 0, 0, 1}, "alpha v2", map[string]any{"v": 2}))
	hits := mustSearch(t, ctx, s, kb, "alice", services.SearchQuery{Vector: []float32{0, 0, 0, 1}, Limit: 10})
	if len(hits) != 4 {
		t.Fatalf("got %d hits %v after overwriting one of 4, want 4", len(hits), ids(hits))
	}
	if hits[0].ID != "a" || hits[0].Text != "alpha v2" || jsonNormal(t, hits[0].Metadata).(map[string]any)["v"] != 2.0 {
		t.Fatalf("first hit %+v, want the new version of a", hits[0])
	}
	if math.Abs(float64(hits[0].Score)-1) > 1e-3 {
		t.Errorf("score of the new vector %v, want 1", hits[0].Score)
	}
}

func testDuplicateInBatch(t *testing.T, ctx context.Context, s services.VectorStore, kb string) {
	mustUpsert(t, ctx, s, kb, "alice",
		doc("x", []float32{1, 0}, "first", nil),
		doc("y", []float32{0, 1}, "other", nil),
		doc("x", []float32{1, 0}, "second", nil),
	)
	hits := mustSearch(t, ctx, s, kb, "alice", services.SearchQuery{Vector: []float32{1, 0}})
	if len(hits) != 2 || hits[0].ID != "x" || hits[0].Text != "second" {
		t.Fatalf("got %+v, want x (text %q) then y", hits, "second")
	}
}

func testLimit(t *testing.T, ctx context.Context, s services.VectorStore, kb string) {
	var docs []services.Document
	for i := range 15 {
		angle := float64(i) * 0.1
		docs = append(docs, doc(fmt.Sprintf("d%02d", i), []float32{float32(math.Cos(angle)), float32(math.Sin(angle))}, "", nil))
	}
	mustUpsert(t, ctx, s, kb, "alice", docs...)
	tests := []struct {
		limit int
		want  []string
	}{
		{1, []string{"d00"}},
		{3, []string{"d00", "d01", "d02"}},
		{0, []string{"d00", "d01", "d02", "d03", "d04", "d05", "d06", "d07", "d08", "d09"}},
		{100, nil}, // all 15
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint("limit ", tt.limit), func(t *testing.T) {
			hits := mustSearch(t, ctx, s, kb, "alice", services.SearchQuery{Vector: []float32{1, 0}, Limit: tt.limit})
			if tt.want == nil {
				if len(hits) != 15 {
					t.Fatalf("got %d hits, want all 15", len(hits))
				}
				return
			}
			if !slices.Equal(ids(hits), tt.want) {
				t.Fatalf("got %v, want %v", ids(hits), tt.want)
			}
		})
	}
}

func testFilters(t *testing.T, ctx context.Context, s services.VectorStore, kb string) {
	mustUpsert(t, ctx, s, kb, "alice",
		doc("en-2024", []float32{1, 0, 0}, "", map[string]any{"lang": "en", "year": 2024, "draft": false}),
		doc("en-2023", []float32{0.9, 0.1, 0}, "", map[string]any{"lang": "en", "year": 2023, "draft": true}),
		doc("de-2024", []float32{0.8, 0.2, 0}, "", map[string]any{"lang": "de", "year": 2024.0, "draft": false}),
		doc("none", []float32{0.7, 0.3, 0}, "", nil),
		doc("tagged", []float32{0.6, 0.4, 0}, "", map[string]any{"tags": []any{"a", "b"}, "lang": "EN"}),
	)
	tests := []struct {
		name   string
		filter map[string]any
		want   []string
	}{
		{"string", map[string]any{"lang": "en"}, []string{"en-2024", "en-2023"}},
		{"case matters", map[string]any{"lang": "EN"}, []string{"tagged"}},
		{"int matches float", map[string]any{"year": 2024}, []string{"en-2024", "de-2024"}},
		{"float matches int", map[string]any{"year": 2023.0}, []string{"en-2023"}},
		{"bool", map[string]any{"draft": true}, []string{"en-2023"}},
		{"every key must match", map[string]any{"lang": "en", "year": 2024}, []string{"en-2024"}},
		{"no match", map[string]any{"lang": "fr"}, nil},
		{"absent key", map[string]any{"author": "x"}, nil},
		{"whole array", map[string]any{"tags": []string{"a", "b"}}, []string{"tagged"}},
		{"empty filter", map[string]any{}, []string{"en-2024", "en-2023", "de-2024", "none", "tagged"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hits := mustSearch(t, ctx, s, kb, "alice", services.SearchQuery{Vector: []float32{1, 0, 0}, Filter: tt.filter})
			if got := ids(hits); !slices.Equal(got, tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
				t.Fatalf("filter %v: got %v, want %v", tt.filter, got, tt.want)
			}
		})
	}
	t.Run("with hybrid", func(t *testing.T) {
		mustUpsert(t, ctx, s, kb, "bob",
			doc("en", []float32{1, 0, 0}, "wizard spell book", map[string]any{"lang": "en"}),
			doc("de", []float32{1, 0, 0}, "wizard spell book", map[string]any{"lang": "de"}),
		)
		hits := mustSearch(t, ctx, s, kb, "bob", services.SearchQuery{Text: "spell", Alpha: 0, Filter: map[string]any{"lang": "de"}})
		if !slices.Equal(ids(hits), []string{"de"}) {
			t.Fatalf("keyword search with filter lang=de: got %v, want [de]", ids(hits))
		}
	})
}

// Hybrid documents: vectors point one way, words another, so each signal
// can be seen on its own.
var hybridDocs = []services.Document{
	doc("zebra-short", []float32{0, 1, 0}, "zebra zebra stripes", nil),
	doc("zebra-long", []float32{0, 0, 1}, "a long report on the animals of the savanna, mentioning one zebra among lions, elephants, giraffes and many birds", nil),
	doc("vector-match", []float32{1, 0, 0}, "tea kettle", nil),
	doc("nothing", []float32{-1, 0, 0}, "copper pipes", nil),
}

func testHybridKeywordOnly(t *testing.T, ctx context.Context, s services.VectorStore, kb string) {
	mustUpsert(t, ctx, s, kb, "alice", hybridDocs...)
	for _, q := range []services.SearchQuery{
		{Text: "zebra", Alpha: 0},                             // no vector needed
		{Text: "zebra", Alpha: 0, Vector: []float32{1, 0, 0}}, // a vector is ignored
	} {
		hits := mustSearch(t, ctx, s, kb, "alice", q)
		if !slices.Equal(ids(hits), []string{"zebra-short", "zebra-long"}) {
			t.Fatalf("keyword-only search for zebra: got %v, want [zebra-short zebra-long]", ids(hits))
		}
		if !(hits[0].Score > hits[1].Score) {
			t.Errorf("scores %v, %v: want the better match higher", hits[0].Score, hits[1].Score)
		}
	}
	hits := mustSearch(t, ctx, s, kb, "alice", services.SearchQuery{Text: "unicorn", Alpha: 0})
	if len(hits) != 0 {
		t.Fatalf("keyword search for a word no document has: got %v, want none", ids(hits))
	}
	hits = mustSearch(t, ctx, s, kb, "alice", services.SearchQuery{Text: "ZEBRA!", Alpha: 0, Limit: 1})
	if !slices.Equal(ids(hits), []string{"zebra-short"}) {
		t.Fatalf("keyword search is case-insensitive and ignores punctuation, limit 1: got %v", ids(hits))
	}
}

func testHybridFusion(t *testing.T, ctx context.Context, s services.VectorStore, kb string) {
	mustUpsert(t, ctx, s, kb, "alice", hybridDocs...)
	q := services.SearchQuery{Text: "kettle zebra", Vector: []float32{0.2, 0.9, 0}, Alpha: 0.5, Limit: 4}
	hits := mustSearch(t, ctx, s, kb, "alice", q)
	if len(hits) < 3 {
		t.Fatalf("got %v, want at least the three documents that match by word or vector", ids(hits))
	}
	// zebra-short is best by vector and by keyword.
	if hits[0].ID != "zebra-short" {
		t.Fatalf("got %v, want zebra-short first (best on both signals)", ids(hits))
	}
	if !slices.Contains(ids(hits), "vector-match") || !slices.Contains(ids(hits), "zebra-long") {
		t.Fatalf("got %v, want keyword matches vector-match and zebra-long included", ids(hits))
	}
	for i := 1; i < len(hits); i++ {
		if hits[i].Score > hits[i-1].Score {
			t.Fatalf("scores not descending: %v", hits)
		}
	}
	// Leaning on the vector promotes what the vector likes.
	vecHeavy := mustSearch(t, ctx, s, kb, "alice", services.SearchQuery{Text: "pipes", Vector: []float32{1, 0, 0}, Alpha: 0.9, Limit: 1})
	kwHeavy := mustSearch(t, ctx, s, kb, "alice", services.SearchQuery{Text: "pipes", Vector: []float32{1, 0, 0}, Alpha: 0.1, Limit: 1})
	if !slices.Equal(ids(vecHeavy), []string{"vector-match"}) || !slices.Equal(ids(kwHeavy), []string{"nothing"}) {
		t.Fatalf("alpha 0.9 gave %v (want vector-match), alpha 0.1 gave %v (want nothing, the keyword match)", ids(vecHeavy), ids(kwHeavy))
	}
}

func testHybridAlphaOne(t *testing.T, ctx context.Context, s services.VectorStore, kb string) {
	mustUpsert(t, ctx, s, kb, "alice", hybridDocs...)
	v := []float32{1, 0.1, 0}
	plain := mustSearch(t, ctx, s, kb, "alice", services.SearchQuery{Vector: v})
	withText := mustSearch(t, ctx, s, kb, "alice", services.SearchQuery{Vector: v, Text: "zebra", Alpha: 1})
	if !slices.Equal(ids(plain), ids(withText)) {
		t.Fatalf("alpha 1 with text gave %v, want the vector-only order %v", ids(withText), ids(plain))
	}
	if math.Abs(float64(plain[0].Score-withText[0].Score)) > 1e-3 {
		t.Errorf("alpha 1 score %v, vector-only score %v: want the same", withText[0].Score, plain[0].Score)
	}
}

func testTenants(t *testing.T, ctx context.Context, s services.VectorStore, kb string) {
	mustUpsert(t, ctx, s, kb, "alice", doc("shared-id", []float32{1, 0}, "alice's", map[string]any{"owner": "alice"}))
	mustUpsert(t, ctx, s, kb, "bob", doc("shared-id", []float32{1, 0}, "bob's", map[string]any{"owner": "bob"}),
		doc("bob-only", []float32{0, 1}, "bob's other", nil))
	for _, tc := range []struct {
		tenant string
		want   []string
		text   string
	}{
		{"alice", []string{"shared-id"}, "alice's"},
		{"bob", []string{"shared-id", "bob-only"}, "bob's"},
	} {
		hits := mustSearch(t, ctx, s, kb, tc.tenant, services.SearchQuery{Vector: []float32{1, 0}})
		if !slices.Equal(ids(hits), tc.want) || hits[0].Text != tc.text {
			t.Fatalf("tenant %s: got %+v, want ids %v with first text %q", tc.tenant, hits, tc.want, tc.text)
		}
		kw := mustSearch(t, ctx, s, kb, tc.tenant, services.SearchQuery{Text: "other", Alpha: 0})
		if tc.tenant == "alice" && len(kw) != 0 {
			t.Fatalf("alice's keyword search found bob's document: %v", ids(kw))
		}
	}
	if err := s.Delete(ctx, kb, "alice", []string{"shared-id"}); err != nil {
		t.Fatal(err)
	}
	if hits := mustSearch(t, ctx, s, kb, "bob", services.SearchQuery{Vector: []float32{1, 0}}); len(hits) != 2 {
		t.Fatalf("deleting alice's document touched bob's: bob has %v", ids(hits))
	}
	hits := mustSearch(t, ctx, s, kb, "carol", services.SearchQuery{Vector: []float32{1, 0}})
	if len(hits) != 0 {
		t.Fatalf("carol never stored anything, got %v", ids(hits))
	}
	hits = mustSearch(t, ctx, s, kb, "carol", services.SearchQuery{Text: "bob", Alpha: 0})
	if len(hits) != 0 {
		t.Fatalf("carol never stored anything, keyword search got %v", ids(hits))
	}
}

func testDelete(t *testing.T, ctx context.Context, s services.VectorStore, kb string) {
	mustUpsert(t, ctx, s, kb, "alice", fourDocs...)
	if err := s.Delete(ctx, kb, "alice", []string{"a", "c", "missing", "a"}); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	hits := mustSearch(t, ctx, s, kb, "alice", services.SearchQuery{Vector: []float32{1, 0, 0, 0}})
	if !slices.Equal(ids(hits), []string{"b", "d"}) {
		t.Fatalf("after deleting a and c: got %v, want [b d]", ids(hits))
	}
	kw := mustSearch(t, ctx, s, kb, "alice", services.SearchQuery{Text: "alpha", Alpha: 0})
	if len(kw) != 0 {
		t.Fatalf("keyword search still finds deleted a: %v", ids(kw))
	}
	for _, tc := range []struct {
		name       string
		kb, tenant string
		ids        []string
	}{
		{"no ids", kb, "alice", nil},
		{"again", kb, "alice", []string{"a"}},
		{"tenant never written", kb, "nobody", []string{"b"}},
		{"knowledge base never written", kb + "-missing", "alice", []string{"b"}},
	} {
		if err := s.Delete(ctx, tc.kb, tc.tenant, tc.ids); err != nil {
			t.Errorf("%s: Delete returned %v, want nil", tc.name, err)
		}
	}
	// Deleted ids can be stored again.
	mustUpsert(t, ctx, s, kb, "alice", doc("a", []float32{1, 0, 0, 0}, "alpha again", nil))
	hits = mustSearch(t, ctx, s, kb, "alice", services.SearchQuery{Vector: []float32{1, 0, 0, 0}, Limit: 1})
	if len(hits) != 1 || hits[0].Text != "alpha again" {
		t.Fatalf("re-stored a: got %+v", hits)
	}
}

func testNotFound(t *testing.T, ctx context.Context, s services.VectorStore, kb string) {
	for _, q := range []services.SearchQuery{
		{Vector: []float32{1, 0}},
		{Text: "anything", Alpha: 0},
	} {
		_, err := s.Search(ctx, kb+"-never-written", "alice", q)
		if !errors.Is(err, services.ErrNotFound) {
			t.Fatalf("Search on a knowledge base never written: got %v, want services.ErrNotFound", err)
		}
		if !strings.Contains(err.Error(), kb+"-never-written") {
			t.Errorf("error %q does not name the knowledge base", err)
		}
	}
	// Writing nothing does not create it either.
	if err := s.Upsert(ctx, kb, "alice", nil); err != nil {
		t.Fatalf("Upsert of no documents: %v", err)
	}
}

func testDimensionMismatch(t *testing.T, ctx context.Context, s services.VectorStore, kb string) {
	mustUpsert(t, ctx, s, kb, "alice", fourDocs...)
	wantDimErr := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: no error", what)
		}
		if !strings.Contains(strings.ToLower(err.Error()), "dimension") {
			t.Fatalf("%s: error %q does not say it is about the vector dimension", what, err)
		}
	}
	err := s.Upsert(ctx, kb, "alice", []services.Document{doc("short", []float32{1, 0, 0}, "", nil)})
	wantDimErr("upsert 3 dims into a 4-dim knowledge base", err)
	if !strings.Contains(err.Error(), "short") {
		t.Errorf("error %q does not name the document", err)
	}
	_, err = s.Search(ctx, kb, "alice", services.SearchQuery{Vector: []float32{1, 0, 0, 0, 0}})
	wantDimErr("search with 5 dims in a 4-dim knowledge base", err)

	err = s.Upsert(ctx, kb+"-mixed", "alice", []services.Document{
		doc("four", []float32{1, 0, 0, 0}, "", nil),
		doc("three", []float32{1, 0, 0}, "", nil),
	})
	wantDimErr("one batch with 4 and 3 dims", err)
	hits, err := s.Search(ctx, kb, "alice", services.SearchQuery{Vector: []float32{1, 0, 0, 0}, Limit: 10})
	if err != nil || len(hits) != 4 {
		t.Fatalf("after failed upserts: hits %v, err %v; want the 4 original documents", ids(hits), err)
	}
	if hits, err := s.Search(ctx, kb+"-mixed", "alice", services.SearchQuery{Vector: []float32{1, 0, 0, 0}}); err == nil && len(hits) > 0 {
		t.Fatalf("a batch with mixed dimensions stored %v", ids(hits))
	}
}

func testBadInput(t *testing.T, ctx context.Context, s services.VectorStore, kb string) {
	mustUpsert(t, ctx, s, kb, "alice", fourDocs...)
	nan := float32(math.NaN())
	upserts := []struct {
		name       string
		kb, tenant string
		doc        services.Document
	}{
		{"empty id", kb, "alice", doc("", []float32{1, 0, 0, 0}, "", nil)},
		{"no vector", kb, "alice", doc("x", nil, "text only", nil)},
		{"zero vector", kb, "alice", doc("x", []float32{0, 0, 0, 0}, "", nil)},
		{"NaN", kb, "alice", doc("x", []float32{nan, 0, 0, 1}, "", nil)},
		{"empty knowledge base name", "", "alice", doc("x", []float32{1, 0, 0, 0}, "", nil)},
		{"empty tenant", kb, "", doc("x", []float32{1, 0, 0, 0}, "", nil)},
		{"metadata not JSON", kb, "alice", doc("x", []float32{1, 0, 0, 0}, "", map[string]any{"f": func() {}})},
	}
	for _, tt := range upserts {
		t.Run("upsert "+tt.name, func(t *testing.T) {
			if err := s.Upsert(ctx, tt.kb, tt.tenant, []services.Document{tt.doc}); err == nil {
				t.Fatal("Upsert accepted it")
			}
		})
	}
	searches := []struct {
		name string
		q    services.SearchQuery
	}{
		{"no vector, no text", services.SearchQuery{}},
		{"hybrid without vector", services.SearchQuery{Text: "alpha", Alpha: 0.5}},
		{"alpha above 1", services.SearchQuery{Vector: []float32{1, 0, 0, 0}, Text: "alpha", Alpha: 1.5}},
		{"negative alpha", services.SearchQuery{Vector: []float32{1, 0, 0, 0}, Text: "alpha", Alpha: -0.1}},
		{"negative limit", services.SearchQuery{Vector: []float32{1, 0, 0, 0}, Limit: -1}},
		{"zero query vector", services.SearchQuery{Vector: []float32{0, 0, 0, 0}}},
	}
	for _, tt := range searches {
		t.Run("search "+tt.name, func(t *testing.T) {
			if hits, err := s.Search(ctx, kb, "alice", tt.q); err == nil {
				t.Fatalf("Search accepted it and returned %v", ids(hits))
			}
		})
	}
	hits := mustSearch(t, ctx, s, kb, "alice", services.SearchQuery{Vector: []float32{1, 0, 0, 0}})
	if len(hits) != 4 {
		t.Fatalf("rejected input changed the store: %v", ids(hits))
	}
}

func testAnyNames(t *testing.T, ctx context.Context, s services.VectorStore, kb string) {
	kbs := []string{kb + " Product FAQ / ü", strings.ToUpper(kb) + " PRODUCT FAQ / Ü", kb + "_x", kb + strings.Repeat("long", 80)}
	tenants := []string{"auth0|5f7c8ec7c33c6c004bbafe82", "Alice@example.com", "alice@example.com", strings.Repeat("u", 300)}
	for i, k := range kbs {
		for j, tenant := range tenants {
			mustUpsert(t, ctx, s, k, tenant, doc("d", []float32{1, 0}, fmt.Sprintf("%d/%d", i, j), nil))
		}
	}
	for i, k := range kbs {
		for j, tenant := range tenants {
			hits := mustSearch(t, ctx, s, k, tenant, services.SearchQuery{Vector: []float32{1, 0}})
			if want := fmt.Sprintf("%d/%d", i, j); len(hits) != 1 || hits[0].Text != want {
				t.Fatalf("knowledge base %q tenant %q: got %+v, want one document with text %q", k, tenant, hits, want)
			}
		}
	}
}

func testConcurrent(t *testing.T, ctx context.Context, s services.VectorStore, kb string) {
	const workers, perWorker = 4, 12
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tenant := fmt.Sprintf("user-%d", w)
			for i := range perWorker {
				angle := float64(i) * 0.05
				d := doc(fmt.Sprintf("d%02d", i), []float32{float32(math.Cos(angle)), float32(math.Sin(angle)), float32(w)}, "", nil)
				if err := s.Upsert(ctx, kb, tenant, []services.Document{d}); err != nil {
					errs <- fmt.Errorf("worker %d upsert %d: %w", w, i, err)
					return
				}
				hits, err := s.Search(ctx, kb, tenant, services.SearchQuery{Vector: d.Vector, Limit: 1})
				if err != nil {
					errs <- fmt.Errorf("worker %d search %d: %w", w, i, err)
					return
				}
				if len(hits) != 1 || hits[0].ID != d.ID {
					errs <- fmt.Errorf("worker %d: read-your-write of %s got %v", w, d.ID, ids(hits))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for w := range workers {
		hits := mustSearch(t, ctx, s, kb, fmt.Sprintf("user-%d", w), services.SearchQuery{Vector: []float32{1, 0, 0}, Limit: 100})
		if len(hits) != perWorker {
			t.Errorf("tenant user-%d has %d documents, want %d", w, len(hits), perWorker)
		}
	}
}
