package server_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/grimoire-run/grimoire/server/protocol"
	"github.com/grimoire-run/grimoire/server/socket/sockettest"
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

// playbookSpell appends its "name" input to the state's names, then
// outputs the state it reads back (State Read is data-only, evaluated
// when the Output runs, after the write).
const playbookSpell = `{"format": "grimoire/spell@1", "id": "playbook", "name": "playbook", "meta": {"gameState": {"names": ["host"]}},
 "nodes": [
  {"id": "start", "type": "Module Trigger In", "config": {"name": "start"}},
  {"id": "name", "type": "Input", "config": {"name": "name"}},
  {"id": "write", "type": "State Write", "inputs": [{"key": "names", "kind": "data"}]},
  {"id": "read", "type": "State Read"},
  {"id": "out", "type": "Output", "config": {"name": "state"}}
 ],
 "edges": [
  {"from": "start.trigger", "to": "write.trigger"},
  {"from": "name.output", "to": "write.names"},
  {"from": "write.trigger", "to": "out.trigger"},
  {"from": "read.state", "to": "out.input"}
 ]}`

// An editor's playtest (spell:run with state "session") gets a state of its
// own connection: it starts from gameState, the connection's later runs
// see its writes, another connection of the same user does not, and the
// spell's state is untouched.
func TestSocketPlaytestState(t *testing.T) {
	e := newEnv(t, envOptions{})
	alice := token(t, "alice")
	resp, body := e.do("PUT", "/v1/spells/playbook", alice, playbookSpell)
	wantStatus(t, "PUT", resp, body, http.StatusOK, "")
	resp, body = e.do("POST", "/v1/spells/playbook/runs?mode=sync", alice, `{"inputs":{"name":"ada"}}`)
	wantStatus(t, "REST run", resp, body, http.StatusOK, "")

	cl := sockettest.Start(t)
	for _, id := range []string{"editor-a", "editor-b"} {
		connect(t, cl, e, id, 4, []string{"websocket"}, alice)
		mustOK(t, cl, id, "spell:load", map[string]any{"spellId": "playbook"})
	}
	names := func(id, name, state string) string {
		t.Helper()
		req := map[string]any{"spellId": "playbook", "inputs": map[string]any{"name": name}}
		if state != "" {
			req["state"] = state
		}
		run := mustOK(t, cl, id, "spell:run", req)
		ms := runMessages(t, cl, id, run.RunID)
		last := ms[len(ms)-1]
		if last.Type != protocol.RunCompleted {
			t.Fatalf("%s run %s ended %s: %s", id, name, last.Type, last.Error)
		}
		st, _ := last.Outputs["state"].(map[string]any)
		return fmt.Sprint(st["names"])
	}
	for _, c := range []struct{ id, name, state, want string }{
		{"editor-a", "s1", "session", "[host s1]"},
		{"editor-a", "s2", "session", "[host s1 s2]"},
		{"editor-b", "t1", "session", "[host t1]"},
		{"editor-a", "x", "", "[host ada x]"},
		{"editor-b", "y", "spell", "[host ada x y]"},
		{"editor-a", "s3", "session", "[host s1 s2 s3]"},
	} {
		if got := names(c.id, c.name, c.state); got != c.want {
			t.Fatalf("%s run %q with state %q saw names %s, want %s", c.id, c.name, c.state, got, c.want)
		}
	}
	resp, body = e.do("GET", "/v1/spells/playbook/state", alice, "")
	wantStatus(t, "GET state", resp, body, http.StatusOK, "")
	if !strings.Contains(string(body), `"names":["host","ada","x","y"]`) {
		t.Fatalf("spell state %s, want the playtests' writes left out", body)
	}
	mustFail(t, cl, "editor-a", "spell:run", map[string]any{"spellId": "playbook", "state": "everyone"}, "bad_request")
}
