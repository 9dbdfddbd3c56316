package vectorindex

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/grimoire-run/grimoire/services"
)

// DimensionError reports a vector whose length differs from the vectors a
// knowledge base already holds.
type DimensionError struct {
	KB    string
	DocID string // empty for a query vector
	Got   int
	Want  int
}

func (e *DimensionError) Error() string {
	what := "the query vector"
	if e.DocID != "" {
		what = fmt.Sprintf("document %q", e.DocID)
	}
	return fmt.Sprintf("vector dimension mismatch: %s has %d dimensions but knowledge base %q holds %d-dimension vectors; embed with the model the knowledge base was built with, or use another knowledge base",
		what, e.Got, e.KB, e.Want)
}

// ErrInvalidInput marks a request that can never succeed as given. It is
// services.ErrInvalidInput, shared with every store.
var ErrInvalidInput = services.ErrInvalidInput

// normaliseMetadata turns metadata into what JSON gives back (float64
// numbers, []any, map[string]any), so that a value compares the same before
// and after a restart, and returns its JSON text.
func normaliseMetadata(m map[string]any) (json.RawMessage, error) {
	if len(m) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return b, nil
}

func decodeMetadata(raw json.RawMessage) (map[string]any, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

func canonicalFilter(filter map[string]any) (map[string]string, error) {
	if len(filter) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(filter))
	for k, v := range filter {
		c, err := services.CanonicalJSON(v)
		if err != nil {
			return nil, services.InvalidInput("filter value for %q cannot be encoded as JSON: %v", k, err)
		}
		out[k] = c
	}
	return out, nil
}
