// Package jsonschema checks values against JSON Schemas (drafts 4 to
// 2020-12). It is the one place that imports the validator
// (github.com/santhosh-tekuri/jsonschema/v6); schemas and values are plain
// decoded JSON (map[string]any, []any, float64, string, bool, nil).
package jsonschema

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	validator "github.com/santhosh-tekuri/jsonschema/v6"
)

// Schema is a compiled JSON Schema.
type Schema struct{ s *validator.Schema }

// resource is the URL a schema document is compiled under; schemas that
// refer to other documents by URL are refused (nothing is fetched).
const resource = "urn:grimoire:schema"

// Compile compiles a schema document. A schema that is not valid JSON
// Schema gets an error that says where.
func Compile(doc any) (*Schema, error) {
	doc, err := normalize(doc)
	if err != nil {
		return nil, err
	}
	c := validator.NewCompiler()
	c.UseLoader(noLoader{})
	if err := c.AddResource(resource, doc); err != nil {
		return nil, fmt.Errorf("JSON Schema: %w", err)
	}
	s, err := c.Compile(resource)
	if err != nil {
		return nil, fmt.Errorf("JSON Schema: %s", strings.ReplaceAll(err.Error(), resource, "schema"))
	}
	return &Schema{s: s}, nil
}

// Validate checks v. The error lists every violation as "at <JSON
// pointer>: <what is wrong>", the value's root being "/".
func (s *Schema) Validate(v any) error {
	v, err := normalize(v)
	if err != nil {
		return err
	}
	err = s.s.Validate(v)
	var ve *validator.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	var problems []string
	var walk func(e *validator.ValidationError)
	walk = func(e *validator.ValidationError) {
		if len(e.Causes) == 0 {
			_, what, _ := strings.Cut(e.Error(), ": ")
			problems = append(problems, fmt.Sprintf("at /%s: %s", strings.Join(e.InstanceLocation, "/"), what))
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	return &Error{Problems: problems}
}

// Error is a value that does not satisfy its schema.
type Error struct{ Problems []string }

func (e *Error) Error() string { return "does not match the schema: " + strings.Join(e.Problems, "; ") }

// normalize turns any Go value into the decoded-JSON form the validator
// reads (numbers as json.Number), so that int and float64 both validate.
func normalize(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("value has no JSON form: %w", err)
	}
	return validator.UnmarshalJSON(strings.NewReader(string(b)))
}

type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("schema refers to %q: only self-contained schemas are accepted", url)
}
