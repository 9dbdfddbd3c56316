package services_test

import (
	"context"
	"errors"
	"math"
	"reflect"
	"testing"

	"github.com/grimoire-run/grimoire/services"
)

func TestCosine(t *testing.T) {
	tests := []struct {
		name string
		a, b []float32
		want float64
	}{
		{"same direction", []float32{1, 2, 3}, []float32{2, 4, 6}, 1},
		{"opposite", []float32{1, 0}, []float32{-3, 0}, -1},
		{"orthogonal", []float32{1, 0}, []float32{0, 5}, 0},
		{"zero vector", []float32{0, 0}, []float32{1, 1}, 0},
		{"empty", nil, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := services.Cosine(tt.a, tt.b); math.Abs(got-tt.want) > 1e-9 {
				t.Fatalf("Cosine(%v, %v) = %v, want %v", tt.a, tt.b, got, tt.want)
			}
		})
	}
}

func TestCheckSearchQuery(t *testing.T) {
	vec := []float32{1, 0}
	tests := []struct {
		name       string
		q          services.SearchQuery
		wantHybrid bool
		wantErr    bool
	}{
		{"vector only", services.SearchQuery{Vector: vec}, false, false},
		{"text with alpha 1 is vector only", services.SearchQuery{Vector: vec, Text: "cat", Alpha: 1}, false, false},
		{"hybrid", services.SearchQuery{Vector: vec, Text: "cat", Alpha: 0.5}, true, false},
		{"keyword only needs no vector", services.SearchQuery{Text: "cat"}, true, false},
		{"blank text is not hybrid", services.SearchQuery{Text: "  \t", Alpha: 0.5}, false, true},
		{"hybrid above alpha 0 needs a vector", services.SearchQuery{Text: "cat", Alpha: 0.5}, false, true},
		{"no vector", services.SearchQuery{}, false, true},
		{"zero vector", services.SearchQuery{Vector: []float32{0, 0}}, false, true},
		{"NaN element", services.SearchQuery{Vector: []float32{float32(math.NaN())}}, false, true},
		{"alpha above 1", services.SearchQuery{Vector: vec, Alpha: 1.5}, false, true},
		{"alpha NaN", services.SearchQuery{Vector: vec, Alpha: float32(math.NaN())}, false, true},
		{"negative limit", services.SearchQuery{Vector: vec, Limit: -1}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hybrid, err := services.CheckSearchQuery(tt.q)
			if (err != nil) != tt.wantErr || hybrid != tt.wantHybrid {
				t.Fatalf("CheckSearchQuery = %v, %v; want hybrid %v, error %v", hybrid, err, tt.wantHybrid, tt.wantErr)
			}
			if err != nil && !errors.Is(err, services.ErrInvalidInput) {
				t.Fatalf("error %v does not wrap ErrInvalidInput", err)
			}
		})
	}
}

func TestPrepareUpsert(t *testing.T) {
	ctx := context.Background()
	docs := []services.Document{{ID: "a", Text: "1"}, {ID: "b", Text: "2"}, {ID: "a", Text: "3"}}
	got, err := services.PrepareUpsert(ctx, "kb", "u", docs)
	if err != nil {
		t.Fatal(err)
	}
	want := []services.Document{{ID: "a", Text: "3"}, {ID: "b", Text: "2"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("PrepareUpsert kept %v, want the last version of each id in first-seen order %v", got, want)
	}
	if _, err := services.PrepareUpsert(ctx, "", "u", nil); !errors.Is(err, services.ErrInvalidInput) {
		t.Fatalf("empty knowledge base name with no documents: err = %v, want ErrInvalidInput", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := services.PrepareUpsert(cancelled, "kb", "u", docs); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: err = %v, want context.Canceled", err)
	}
}

func TestCheckDocument(t *testing.T) {
	tests := []struct {
		name    string
		d       services.Document
		wantErr bool
	}{
		{"ok", services.Document{ID: "a", Vector: []float32{1}}, false},
		{"empty id", services.Document{Vector: []float32{1}}, true},
		{"no vector", services.Document{ID: "a"}, true},
		{"infinite element", services.Document{ID: "a", Vector: []float32{float32(math.Inf(1))}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := services.CheckDocument(0, tt.d)
			if (err != nil) != tt.wantErr || err != nil && !errors.Is(err, services.ErrInvalidInput) {
				t.Fatalf("CheckDocument = %v, want error %v wrapping ErrInvalidInput", err, tt.wantErr)
			}
		})
	}
}

func TestCanonicalJSON(t *testing.T) {
	a, err := services.CanonicalJSON(map[string]any{"x": 3, "y": []int{1}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := services.CanonicalJSON(map[string]any{"y": []any{1.0}, "x": 3.0})
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatalf("equal values give %s and %s", a, b)
	}
	if _, err := services.CanonicalJSON(math.Inf(1)); err == nil {
		t.Fatal("CanonicalJSON(+Inf) succeeded; JSON has no infinity")
	}
}
