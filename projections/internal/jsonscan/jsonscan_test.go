package jsonscan_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/projections/internal/jsonscan"
)

type usage struct {
	Model       string `json:"model,omitempty"`
	TotalTokens int    `json:"totalTokens,omitempty"`
}

type completed struct {
	SpellID  string         `json:"spellId"`
	Time     string         `json:"time"`
	Outputs  map[string]any `json:"outputs,omitempty"`
	Duration int            `json:"durationNs"`
	Usage    *usage         `json:"usage,omitempty"`
}

func TestFieldsAreFoundOnlyWhereTheyAre(t *testing.T) {
	tests := []struct {
		name      string
		ev        completed
		wantUsage string // "" when LastObject must refuse
	}{
		{"with usage", completed{SpellID: "s", Time: "t", Outputs: map[string]any{"text": "hi"}, Usage: &usage{Model: "m", TotalTokens: 3}}, `{"model":"m","totalTokens":3}`},
		{"no usage", completed{SpellID: "s", Time: "t", Outputs: map[string]any{"text": "hi"}}, ""},
		{"usage-like output, no usage", completed{SpellID: "s", Time: "t", Outputs: map[string]any{"x": map[string]any{"usage": map[string]any{"model": "fake"}}}}, ""},
		{"usage in a string", completed{SpellID: "s", Time: "t", Outputs: map[string]any{"text": `,"usage":{"model":"fake"}}`}}, ""},
		{"both", completed{SpellID: "s", Time: "t", Outputs: map[string]any{"usage": map[string]any{"model": "fake"}}, Usage: &usage{Model: "real"}}, `{"model":"real"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, _ := json.Marshal(tt.ev)
			got, ok := jsonscan.LastObject(data, []byte(`,"usage":{`))
			ok = ok && jsonscan.Flat(got, func(string, []byte) {})
			if (tt.wantUsage == "") == ok || (ok && string(got) != tt.wantUsage) {
				t.Errorf("LastObject(%s) = %s, %v; want %q", data, got, ok, tt.wantUsage)
			}
			if s, ok := jsonscan.String(data, []byte(`"spellId":"`)); !ok || s != "s" {
				t.Errorf("String spellId = %q, %v", s, ok)
			}
		})
	}
	if _, ok := jsonscan.String([]byte(`{"spellId":"a\"b"}`), []byte(`"spellId":"`)); ok {
		t.Error("String accepted an escaped value")
	}
}

func FuzzLastObject(f *testing.F) {
	f.Add([]byte(`{"a":1,"usage":{"model":"m"}}`))
	f.Add([]byte(`{"outputs":{"usage":{"x":1}},"durationNs":0}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		obj, ok := jsonscan.LastObject(data, []byte(`,"usage":{`))
		if ok && jsonscan.Flat(obj, func(string, []byte) {}) && !json.Valid(obj) {
			t.Fatalf("LastObject returned invalid JSON %q", obj)
		}
		jsonscan.String(data, []byte(`"time":"`))
	})
}

func TestFlatReadsFlatObjectsOnly(t *testing.T) {
	tests := []struct {
		in   string
		want map[string]string
		ok   bool
	}{
		{`{"model":"m","totalTokens":3,"calls":1}`, map[string]string{"model": "m", "totalTokens": "3", "calls": "1"}, true},
		{` { "a" : true , "b":null } `, map[string]string{"a": "true", "b": "null"}, true},
		{`{}`, map[string]string{}, true},
		{`{"a":{"b":1}}`, nil, false},
		{`{"a":[1]}`, nil, false},
		{`{"a":"x\"y"}`, nil, false},
		{`{"a":1`, nil, false},
		{`{"a":1}x`, nil, false},
		{`{"a":00}`, nil, false},
		{`{"a":-1.5e+3,"b":0.25,"c":-0}`, map[string]string{"a": "-1.5e+3", "b": "0.25", "c": "-0"}, true},
		{`{"a":1.}`, nil, false},
		{`{"a":tru}`, nil, false},
	}
	for _, tt := range tests {
		got := map[string]string{}
		ok := jsonscan.Flat([]byte(tt.in), func(k string, v []byte) { got[k] = string(v) })
		if ok != tt.ok || (ok && !reflect.DeepEqual(got, tt.want)) {
			t.Errorf("Flat(%s) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzFlat(f *testing.F) {
	f.Add([]byte(`{"model":"m","totalTokens":3}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if jsonscan.Flat(data, func(string, []byte) {}) && !json.Valid(data) {
			t.Fatalf("Flat accepted invalid JSON %q", data)
		}
	})
}

func TestUsageMatchesEncodingJSON(t *testing.T) {
	for _, u := range []events.Usage{{}, {Model: "gpt-4o", PromptTokens: 1, CompletionTokens: 2, TotalTokens: 3, Calls: 4}, {TotalTokens: 9}} {
		raw, _ := json.Marshal(u)
		got, ok := jsonscan.Usage(raw)
		if !ok || got != u {
			t.Errorf("Usage(%s) = %+v, %v", raw, got, ok)
		}
	}
	if _, ok := jsonscan.Usage([]byte(`{"totalTokens":1.5}`)); ok {
		t.Error("a fractional token count was accepted")
	}
}
