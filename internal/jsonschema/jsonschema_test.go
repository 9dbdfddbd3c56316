package jsonschema

import (
	"strings"
	"testing"
)

func TestValidateNamesWhatIsWrong(t *testing.T) {
	s, err := Compile(map[string]any{
		"type":     "object",
		"required": []any{"approved"},
		"properties": map[string]any{
			"approved": map[string]any{"type": "boolean"},
			"note":     map[string]any{"type": "string", "maxLength": 5},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(map[string]any{"approved": true, "note": "ok"}); err != nil {
		t.Fatalf("valid value refused: %v", err)
	}
	for _, tc := range []struct {
		value any
		want  []string
	}{
		{map[string]any{"note": "ok"}, []string{"at /:", "approved"}},
		{map[string]any{"approved": "yes"}, []string{"at /approved:", "boolean"}},
		{map[string]any{"approved": true, "note": "too long"}, []string{"at /note:", "5"}},
		{42, []string{"at /:", "object"}},
	} {
		err := s.Validate(tc.value)
		if err == nil {
			t.Errorf("%v accepted", tc.value)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q does not say %q", tc.value, err, w)
			}
		}
	}
}

func TestIntegersValidateAsNumbers(t *testing.T) {
	s, err := Compile(map[string]any{"type": "integer", "minimum": 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(3); err != nil {
		t.Errorf("int: %v", err)
	}
	if err := s.Validate(3.0); err != nil {
		t.Errorf("float64 3.0: %v", err)
	}
	if err := s.Validate(0); err == nil {
		t.Error("0 accepted with minimum 1")
	}
}

func TestCompileRefusesBadAndRemoteSchemas(t *testing.T) {
	if _, err := Compile(map[string]any{"type": "nosuchtype"}); err == nil {
		t.Error("bad type accepted")
	}
	if _, err := Compile(map[string]any{"$ref": "https://example.com/x.json"}); err == nil || !strings.Contains(err.Error(), "self-contained") {
		t.Errorf("remote $ref: %v", err)
	}
}
