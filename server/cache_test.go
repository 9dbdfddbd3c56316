package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/grimoire-run/grimoire/server/protocol"
	"github.com/grimoire-run/grimoire/server/socket/sockettest"
)

// nodeEnds sums up a run's messages: for each node, whether it started and
// whether its node:end said cached.
type nodeEnds struct {
	started map[string]bool
	cached  map[string]bool
	ended   map[string]bool
}

func summarize(ms []protocol.Message) nodeEnds {
	s := nodeEnds{started: map[string]bool{}, cached: map[string]bool{}, ended: map[string]bool{}}
	for _, m := range ms {
		switch m.Type {
		case protocol.NodeStart:
			s.started[m.NodeID] = true
		case protocol.NodeEnd:
			s.ended[m.NodeID] = true
			s.cached[m.NodeID] = m.Cached != nil && *m.Cached
		}
	}
	return s
}

// wantAllRan fails unless every node that ended was started and computed.
func (s nodeEnds) wantAllRan(t *testing.T, what string, ms []protocol.Message) {
	t.Helper()
	if !s.ended["greet"] {
		t.Fatalf("%s: greet did not end: %s", what, types(ms))
	}
	for id := range s.ended {
		if s.cached[id] || !s.started[id] {
			t.Errorf("%s: node %s cached %v started %v, want computed: %s", what, id, s.cached[id], s.started[id], types(ms))
		}
	}
}

// A second identical run takes unchanged nodes from the node-output cache
// (node:end with cached true, no node:start); "cache": false runs every
// node, over REST and over the socket.
func TestRunCacheControl(t *testing.T) {
	e := newEnv(t, envOptions{Cache: true})
	alice := token(t, "alice")
	run := func(runID, body string) []protocol.Message {
		t.Helper()
		resp, b := e.do("POST", "/v1/spells/demo/runs?mode=sync", alice, body)
		wantStatus(t, "run "+runID, resp, b, http.StatusOK, "")
		if a := decode[syncAnswer](t, b); a.Outputs["greeting"] != "Hello, Ada!" {
			t.Fatalf("run %s: %s", runID, b)
		}
		_, ms := finishedRunEvents(t, e, alice, runID)
		return ms
	}

	first := run("cache-run-1", `{"runId":"cache-run-1","inputs":{"name":"Ada"}}`)
	summarize(first).wantAllRan(t, "first run", first)

	second := run("cache-run-2", `{"runId":"cache-run-2","inputs":{"name":"Ada"}}`)
	s := summarize(second)
	if !s.cached["greet"] || s.started["greet"] {
		t.Fatalf("second run: greet cached %v started %v, want served from the cache: %s", s.cached["greet"], s.started["greet"], types(second))
	}
	done := second[len(second)-1]
	for _, n := range done.Nodes {
		if n.NodeID == "greet" && (!n.Cached || n.Outputs["output"] != "Hello, Ada!") {
			t.Errorf("run:completed.nodes greet %+v, want cached with its output", n)
		}
	}

	third := run("cache-run-3", `{"runId":"cache-run-3","inputs":{"name":"Ada"},"cache":false}`)
	summarize(third).wantAllRan(t, `"cache": false over REST`, third)
	// "cache": true is the default.
	fourth := run("cache-run-4", `{"runId":"cache-run-4","inputs":{"name":"Ada"},"cache":true}`)
	if s := summarize(fourth); !s.cached["greet"] {
		t.Errorf(`"cache": true: greet not cached: %s`, types(fourth))
	}

	cl := sockettest.Start(t)
	connect(t, cl, e, "alice-cache", 4, nil, alice)
	mustOK(t, cl, "alice-cache", "spell:load", map[string]any{"spellId": "demo"})
	a := mustOK(t, cl, "alice-cache", "spell:run", map[string]any{"spellId": "demo", "inputs": map[string]any{"name": "Ada"}})
	ms := runMessages(t, cl, "alice-cache", a.RunID)
	if s := summarize(ms); !s.cached["greet"] || s.started["greet"] {
		t.Errorf("socket run: greet not served from the cache: %s", types(ms))
	}
	a = mustOK(t, cl, "alice-cache", "spell:run", map[string]any{"spellId": "demo", "inputs": map[string]any{"name": "Ada"}, "cache": false})
	ms = runMessages(t, cl, "alice-cache", a.RunID)
	summarize(ms).wantAllRan(t, `"cache": false over the socket`, ms)
	mustFail(t, cl, "alice-cache", "spell:run", map[string]any{"spellId": "demo", "cache": "no"}, "bad_request")
}

// The cache is scoped by the run's user: Bob's run of the input Alice ran
// is computed, not served Alice's result (a hit would tell him what she
// ran); a spell whose meta says "cacheScope": "shared" serves every user.
func TestCacheIsScopedByUserUnlessTheSpellSharesIt(t *testing.T) {
	e := newEnv(t, envOptions{Cache: true})
	alice, bob := token(t, "alice"), token(t, "bob")
	run := func(spellID, tok, runID string) nodeEnds {
		t.Helper()
		resp, b := e.do("POST", "/v1/spells/"+spellID+"/runs?mode=sync", tok, `{"runId":"`+runID+`","inputs":{"name":"Ada"}}`)
		wantStatus(t, "run "+runID, resp, b, http.StatusOK, "")
		_, ms := finishedRunEvents(t, e, tok, runID)
		return summarize(ms)
	}
	run("demo", alice, "scope-alice-1")
	if s := run("demo", alice, "scope-alice-2"); !s.cached["greet"] {
		t.Fatal("alice's second run: greet not served from her cache")
	}
	if s := run("demo", bob, "scope-bob-1"); s.cached["greet"] || !s.started["greet"] {
		t.Fatalf("bob's run was served alice's result: greet cached %v started %v", s.cached["greet"], s.started["greet"])
	}
	if s := run("demo", bob, "scope-bob-2"); !s.cached["greet"] {
		t.Fatal("bob's second run: greet not served from his own cache")
	}

	shared := strings.Replace(greeterSpell("greeter", "Hello"), `"nodes"`, `"meta": {"cacheScope": "shared"}, "nodes"`, 1)
	e.mustPut("greeter", alice, shared)
	if resp, b := e.do("PUT", "/v1/spells/greeter/sharing", alice, `{"public": true}`); resp.StatusCode != http.StatusOK {
		t.Fatalf("share greeter: %d %s", resp.StatusCode, b)
	}
	run("greeter", alice, "shared-alice-1")
	if s := run("greeter", bob, "shared-bob-1"); !s.cached["greet"] {
		t.Fatal(`a spell with "cacheScope": "shared": bob's run not served the shared result`)
	}
}
