package services

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
)

// ErrNotFound reports a missing knowledge base or document.
var ErrNotFound = errors.New("not found")

// Document is one stored item of a knowledge base.
type Document struct {
	ID       string         `json:"id"`
	Text     string         `json:"text"`
	Vector   []float32      `json:"vector,omitempty"`
	Metadata map[string]any `json:"metadata,omitempty"`
}

// SearchQuery asks for the nearest documents.
type SearchQuery struct {
	Vector []float32
	// Text, with Alpha below 1, makes the search hybrid (keyword + vector).
	Text  string
	Alpha float32 // 1: vector only (the default when Text is empty); 0: keyword only
	Limit int
	// Filter keeps documents whose metadata equals every given value.
	Filter map[string]any
}

// SearchHit is one result, best first; Score is higher for closer matches.
type SearchHit struct {
	Document
	Score float32 `json:"score"`
}

// VectorStore keeps documents with vectors, one collection per knowledge
// base and one tenant per user.
type VectorStore interface {
	Upsert(ctx context.Context, kb, tenant string, docs []Document) error
	Search(ctx context.Context, kb, tenant string, q SearchQuery) ([]SearchHit, error)
	Delete(ctx context.Context, kb, tenant string, ids []string) error
}

// ErrInvalidInput marks a VectorStore request that can never succeed as
// given (an empty name or id, an unusable vector, a query out of range).
var ErrInvalidInput = errors.New("invalid input")

// InvalidInput returns an error that wraps ErrInvalidInput and reads
// "invalid input: " followed by the formatted message.
func InvalidInput(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidInput, fmt.Sprintf(format, args...))
}

// CheckNames rejects an empty knowledge base or tenant name.
func CheckNames(kb, tenant string) error {
	if kb == "" {
		return InvalidInput("knowledge base name is empty")
	}
	if tenant == "" {
		return InvalidInput("tenant (user) is empty")
	}
	return nil
}

// CheckVector rejects a vector no cosine similarity can be computed for:
// empty, holding NaN or ±Inf, or all zeros. Its errors do not wrap
// ErrInvalidInput; callers add the context.
func CheckVector(v []float32) error {
	if len(v) == 0 {
		return errors.New("vector is empty")
	}
	var norm float64
	for i, f := range v {
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return fmt.Errorf("vector element %d is %v", i, f)
		}
		norm += float64(f) * float64(f)
	}
	if norm == 0 {
		return errors.New("vector is all zeros (cosine similarity is undefined for it)")
	}
	return nil
}

// CheckDocument rejects document i of an Upsert batch when it has no id or
// an unusable vector (see CheckVector). Dimensions are the store's to check.
func CheckDocument(i int, d Document) error {
	if d.ID == "" {
		return InvalidInput("document %d has an empty id", i)
	}
	if err := CheckVector(d.Vector); err != nil {
		return InvalidInput("document %q: %v", d.ID, err)
	}
	return nil
}

// PrepareUpsert checks the names of an Upsert call and ctx, and returns docs
// with one document per id: the last one given, in first-seen order, as
// separate calls would leave it. No documents (and no error) means there is
// nothing to store; the names are checked even then.
func PrepareUpsert(ctx context.Context, kb, tenant string, docs []Document) ([]Document, error) {
	if err := CheckNames(kb, tenant); err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	seen := make(map[string]int, len(docs))
	out := make([]Document, 0, len(docs))
	for _, d := range docs {
		if i, ok := seen[d.ID]; ok {
			out[i] = d
			continue
		}
		seen[d.ID] = len(out)
		out = append(out, d)
	}
	return out, nil
}

// CheckSearchQuery rejects a query that can never succeed and reports
// whether it is hybrid: non-blank Text with Alpha below 1. A store that
// cleans the text before searching passes q with the cleaned Text.
func CheckSearchQuery(q SearchQuery) (hybrid bool, err error) {
	if q.Alpha < 0 || q.Alpha > 1 || math.IsNaN(float64(q.Alpha)) {
		return false, InvalidInput("alpha %v is outside 0..1 (0 keyword only, 1 vector only)", q.Alpha)
	}
	if q.Limit < 0 {
		return false, InvalidInput("limit %d is negative", q.Limit)
	}
	hybrid = strings.TrimSpace(q.Text) != "" && q.Alpha < 1
	needVector := !hybrid || q.Alpha > 0
	if len(q.Vector) > 0 {
		if err := CheckVector(q.Vector); err != nil {
			return false, InvalidInput("query %v", err)
		}
	} else if needVector {
		if hybrid {
			return false, InvalidInput("hybrid search with alpha %v needs a query vector (or alpha 0 for keyword-only search)", q.Alpha)
		}
		return false, InvalidInput("query vector is empty (set Vector, or Text with Alpha 0 for keyword-only search)")
	}
	return hybrid, nil
}

// CanonicalJSON is the JSON text of v after a JSON round trip, so that equal
// metadata values (3 and 3.0, maps built in any order) give equal text: the
// equality SearchQuery.Filter uses.
func CanonicalJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	var back any
	if err := json.Unmarshal(b, &back); err != nil {
		return "", err
	}
	b, err = json.Marshal(back)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// Cosine is the cosine similarity of a and b, which must have the same
// length; 0 when either is all zeros.
func Cosine(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	if na == 0 || nb == 0 {
		return 0
	}
	return dot / math.Sqrt(na*nb)
}
