package server_test

import (
	"net/http"
	"testing"
)

// A Thoth spell whose State Write appends each run's input to the
// gameState's "names"; GET /v1/spells/{id}/state shows each user theirs.
const stateSpell = `{"id": "guestbook", "name": "guestbook", "gameState": {"names": ["host"]},
 "chain": {"id": "demo@0.1.0", "nodes": {
  "1": {"id": 1, "name": "Module Trigger In", "data": {"name": "Default Trigger"}, "inputs": {},
        "outputs": {"trigger": {"connections": [{"node": 3, "input": "trigger", "data": {}}]}}, "position": [0, -100]},
  "2": {"id": 2, "name": "Universal Input", "data": {"name": "Input - Default"}, "inputs": {},
        "outputs": {"output": {"connections": [{"node": 3, "input": "names", "data": {}}]}}, "position": [0, 0]},
  "3": {"id": 3, "name": "State Write", "data": {"inputs": [{"name": "names", "socketKey": "names", "taskType": "output", "socketType": "anySocket"}]},
        "inputs": {"names": {"connections": [{"node": 2, "output": "output", "data": {}}]}, "trigger": {"connections": [{"node": 1, "output": "trigger", "data": {}}]}},
        "outputs": {"trigger": {"connections": [{"node": 4, "input": "trigger", "data": {}}]}}, "position": [300, 0]},
  "4": {"id": 4, "name": "Output", "data": {"name": "done"},
        "inputs": {"trigger": {"connections": [{"node": 3, "output": "trigger", "data": {}}]}}, "outputs": {}, "position": [600, 0]}
 }}}`

func TestRESTSpellState(t *testing.T) {
	e := newEnv(t, envOptions{})
	alice, bob := token(t, "alice"), token(t, "bob")
	resp, body := e.do("PUT", "/v1/spells/guestbook", alice, stateSpell)
	wantStatus(t, "PUT", resp, body, http.StatusOK, "")
	for _, name := range []string{"ada", "bo"} {
		resp, body = e.do("POST", "/v1/spells/guestbook/runs?mode=sync", alice, `{"inputs":{"Input - Default":"`+name+`"}}`)
		wantStatus(t, "run", resp, body, http.StatusOK, "")
	}
	type stateDoc struct {
		SpellID string         `json:"spellId"`
		Owner   string         `json:"owner"`
		State   map[string]any `json:"state"`
	}
	resp, body = e.do("GET", "/v1/spells/guestbook/state", alice, "")
	wantStatus(t, "GET state", resp, body, http.StatusOK, "")
	got := decode[stateDoc](t, body)
	names, _ := got.State["names"].([]any)
	if got.SpellID != "guestbook" || got.Owner != "alice" || len(names) != 3 || names[0] != "host" || names[1] != "ada" || names[2] != "bo" {
		t.Fatalf("alice's state %s, want names [host ada bo]", body)
	}
	// The spell is alice's: bob may not read it, nor its state.
	resp, body = e.do("GET", "/v1/spells/guestbook/state", bob, "")
	wantStatus(t, "bob's GET state", resp, body, http.StatusForbidden, "forbidden")
	resp, body = e.do("GET", "/v1/spells/nosuch/state", alice, "")
	wantStatus(t, "GET state of a missing spell", resp, body, http.StatusNotFound, "not_found")
	resp, body = e.do("GET", "/v1/spells/guestbook/state", "", "")
	wantStatus(t, "GET state without a token", resp, body, http.StatusUnauthorized, "")
}
