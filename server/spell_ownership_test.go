package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// callerSpell is a spell whose Spell node runs ref (a spell like
// demoSpell: Input "name", Output "greeting") and answers its greeting.
func callerSpell(id, ref string) string {
	return fmt.Sprintf(`{"format": "grimoire/spell@1", "id": %q, "name": %q,
  "nodes": [
    {"id": "name", "type": "Input", "config": {"name": "name"}},
    {"id": "call", "type": "Spell", "config": {"spellId": %q},
     "inputs": [{"key": "name", "kind": "data"}], "outputs": [{"key": "greeting", "kind": "data"}]},
    {"id": "out", "type": "Output", "config": {"name": "result"}}
  ],
  "edges": [{"from": "name.output", "to": "call.name"}, {"from": "call.greeting", "to": "out.input"}]}`, id, id, ref)
}

// toolSpell is a spell whose Chat Completion node offers ref as a tool.
func toolSpell(id, ref string) string {
	return fmt.Sprintf(`{"format": "grimoire/spell@1", "id": %q, "name": %q,
  "nodes": [
    {"id": "name", "type": "Input", "config": {"name": "name"}},
    {"id": "chat", "type": "Chat Completion", "config": {"tools": [{"spell": %q}]},
     "inputs": [{"key": "prompt", "kind": "data"}]},
    {"id": "out", "type": "Output", "config": {"name": "result"}}
  ],
  "edges": [{"from": "name.output", "to": "chat.prompt"}, {"from": "chat.result", "to": "out.input"}]}`, id, id, ref)
}

// greeterSpell is demoSpell under another id, answering with word.
func greeterSpell(id, word string) string {
	return fmt.Sprintf(`{"format": "grimoire/spell@1", "id": %q, "name": %q,
  "nodes": [
    {"id": "name", "type": "Input", "config": {"name": "name", "default": "world"}},
    {"id": "greet", "type": "Text Template", "config": {"template": "%s, {{name}}!"},
     "inputs": [{"key": "name", "kind": "data", "type": "string"}]},
    {"id": "greeting", "type": "Output", "config": {"name": "greeting"}}
  ],
  "edges": [{"from": "name.output", "to": "greet.name"}, {"from": "greet.output", "to": "greeting.input"}]}`, id, id, word)
}

// runResult runs spell id as tok over REST (sync) and returns the status
// code and the body.
func (e *env) runResult(id, tok string) (int, string) {
	e.t.Helper()
	resp, body := e.do("POST", "/v1/spells/"+id+"/runs?mode=sync", tok, `{"inputs": {"name": "Ada"}}`)
	return resp.StatusCode, string(body)
}

func (e *env) mustPut(id, tok, doc string) {
	e.t.Helper()
	if resp, body := e.do("PUT", "/v1/spells/"+id, tok, doc); resp.StatusCode != http.StatusOK {
		e.t.Fatalf("PUT %s: %d %s", id, resp.StatusCode, body)
	}
}

// Sub-spells and tools run only what the run's user may run: another
// user's private spell is refused by plain id and by owner-qualified name;
// an id that Alice's spell expects but Bob saved first never runs Bob's
// code for Alice, even made public; a deleted spell's id stays its owner's;
// a spell shared with Bob runs for him by its qualified name.
func TestSubSpellsAndToolsRunOnlyWhatTheRunsUserMayRun(t *testing.T) {
	e := newEnv(t, envOptions{})
	alice, bob, mallory := token(t, "alice"), token(t, "bob"), token(t, "mallory")
	e.mustPut("secret", alice, greeterSpell("secret", "Psst"))

	// 1. Bob's Spell node runs Alice's private spell.
	for _, ref := range []string{"secret", "alice/secret"} {
		e.mustPut("bob-calls", bob, callerSpell("bob-calls", ref))
		code, body := e.runResult("bob-calls", bob)
		if strings.Contains(body, "Psst") || !strings.Contains(body, "belongs to another user") && !strings.Contains(body, "not shared it with you") {
			t.Fatalf("bob's Spell node loads %q: %d %s: want a refusal without alice's output", ref, code, body)
		}
	}
	// 2. Bob's Chat Completion tool loads it.
	e.mustPut("bob-tools", bob, toolSpell("bob-tools", "secret"))
	if code, body := e.runResult("bob-tools", bob); strings.Contains(body, "Psst") || !strings.Contains(body, "belongs to another user") {
		t.Fatalf("bob's tool loads alice's spell: %d %s: want a refusal", code, body)
	}
	// 3. Alice's spell expects "helper", which Bob saves first, and shares.
	e.mustPut("alice-calls", alice, callerSpell("alice-calls", "helper"))
	e.mustPut("helper", bob, greeterSpell("helper", "BOB WAS HERE"))
	if resp, body := e.do("PUT", "/v1/spells/helper/sharing", bob, `{"public": true}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("bob shares helper: %d %s", resp.StatusCode, body)
	}
	if code, body := e.runResult("alice-calls", alice); strings.Contains(body, "BOB WAS HERE") || !strings.Contains(body, `\"bob/helper\"`) {
		t.Fatalf("alice's run resolves bob's squatted id: %d %s: want a refusal naming bob/helper", code, body)
	}
	// 4. After a delete, the id stays Alice's.
	if resp, body := e.do("DELETE", "/v1/spells/secret", alice, ""); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("alice deletes secret: %d %s", resp.StatusCode, body)
	}
	if resp, body := e.do("PUT", "/v1/spells/secret", bob, greeterSpell("secret", "Mine now")); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("bob claims alice's deleted id: %d %s, want 403", resp.StatusCode, body)
	}
	e.mustPut("secret", alice, greeterSpell("secret", "Psst"))

	// Sharing: only Alice shares; then Bob's qualified reference runs it,
	// Bob reads it and lists it, Mallory still cannot.
	if resp, body := e.do("PUT", "/v1/spells/secret/sharing", bob, `{"readers": ["bob"]}`); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("bob shares alice's spell: %d %s, want 403", resp.StatusCode, body)
	}
	if resp, body := e.do("PUT", "/v1/spells/secret/sharing", alice, `{"reader": ["bob"]}`); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a misspelt field: %d %s, want 400", resp.StatusCode, body)
	}
	resp, body := e.do("PUT", "/v1/spells/secret/sharing", alice, `{"readers": ["bob", "bob"]}`)
	var sh struct {
		Owner   string   `json:"owner"`
		Public  bool     `json:"public"`
		Readers []string `json:"readers"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &sh) != nil || sh.Owner != "alice" || sh.Public || len(sh.Readers) != 1 || sh.Readers[0] != "bob" {
		t.Fatalf("alice shares with bob: %d %s", resp.StatusCode, body)
	}
	e.mustPut("bob-calls", bob, callerSpell("bob-calls", "alice/secret"))
	if code, body := e.runResult("bob-calls", bob); code != http.StatusOK || !strings.Contains(body, "Psst, Ada!") {
		t.Fatalf("bob runs alice's shared spell by its qualified name: %d %s", code, body)
	}
	if code, body := e.runResult("secret", bob); code != http.StatusOK || !strings.Contains(body, "Psst, Ada!") {
		t.Fatalf("bob runs alice's shared spell directly: %d %s", code, body)
	}
	if resp, body := e.do("GET", "/v1/spells/secret/sharing", bob, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("bob reads the sharing: %d %s", resp.StatusCode, body)
	}
	for _, who := range []string{"mallory"} {
		if code, body := e.runResult("secret", mallory); code != http.StatusForbidden {
			t.Fatalf("%s runs alice's spell shared with bob only: %d %s, want 403", who, code, body)
		}
		if resp, body := e.do("GET", "/v1/spells/secret", mallory, ""); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%s reads it: %d %s, want 403", who, resp.StatusCode, body)
		}
	}
	e.waitListed(t, bob, "secret", true)
	e.waitListed(t, mallory, "secret", false)
}

// waitListed waits until GET /v1/spells for tok lists id (or not): the
// list is a read model, updated shortly after a save.
func (e *env) waitListed(t *testing.T, tok, id string, want bool) {
	t.Helper()
	var body []byte
	for range 200 {
		var resp *http.Response
		resp, body = e.do("GET", "/v1/spells", tok, "")
		var list struct {
			Spells []struct {
				ID      string `json:"id"`
				Sharing struct {
					Readers []string `json:"readers"`
				} `json:"sharing"`
			} `json:"spells"`
		}
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &list) != nil {
			t.Fatalf("GET /v1/spells: %d %s", resp.StatusCode, body)
		}
		found := false
		for _, s := range list.Spells {
			found = found || (s.ID == id && len(s.Sharing.Readers) > 0)
		}
		if found == want {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("GET /v1/spells never listed %q as shared = %v: %s", id, want, body)
}
