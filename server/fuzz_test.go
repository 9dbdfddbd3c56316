package server

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/grimoire-run/grimoire/server/socket"
)

// FuzzDecodeInputs: the REST run inputs decoder never panics, and what it
// accepts is a JSON object whose key order it reports exactly once per key.
func FuzzDecodeInputs(f *testing.F) {
	for _, s := range []string{``, `null`, `{}`, `{"name":"Ada","n":1}`, `{"a":1,"a":2}`, `[1]`, `"x"`, `{"a":`, `{"a":{"b":[1,2,{"c":null}]}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		inputs, order, err := decodeInputs(json.RawMessage(raw))
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.code != codeBadRequest {
				t.Fatalf("error %v is not a bad_request", err)
			}
			return
		}
		if len(order) != len(inputs) && !(len(order) == 0 && len(inputs) == 0) {
			t.Fatalf("order %v for inputs %v", order, inputs)
		}
		seen := map[string]bool{}
		for _, k := range order {
			if seen[k] {
				t.Fatalf("key %q twice in %v", k, order)
			}
			seen[k] = true
			if _, ok := inputs[k]; !ok {
				t.Fatalf("key %q in order, not in inputs", k)
			}
		}
	})
}

// FuzzSocketPayloads: a client's payload for any of the editor's events
// decodes or is refused with bad_request; it never panics.
func FuzzSocketPayloads(f *testing.F) {
	for _, s := range []string{``, `null`, `{}`, `{"spellId":"demo"}`, `{"spellId":5}`, `{"spell":{"id":"x"}}`,
		`{"spellId":"a","inputs":{"x":1},"inputOrder":["x"],"runId":"abcdefgh"}`, `{"runId":"r","afterSeq":-1}`, `[]`, `"x"`, `{} {}`} {
		f.Add([]byte(s))
	}
	check := func(t *testing.T, err error) {
		if err == nil {
			return
		}
		var se *socket.Error
		if !errors.As(err, &se) || se.Code != socket.CodeBadRequest {
			t.Fatalf("error %v is not a bad_request", err)
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		_, err := socket.Decode[spellLoadRequest](raw)
		check(t, err)
		_, err = socket.Decode[spellRunRequest](raw)
		check(t, err)
		_, err = socket.Decode[runRef](raw)
		check(t, err)
		_, err = socket.Decode[spellRef](raw)
		check(t, err)
	})
}
