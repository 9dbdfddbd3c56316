package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime/pprof"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/server"
	"github.com/grimoire-run/grimoire/server/protocol"
	"github.com/grimoire-run/grimoire/server/runs"
	"github.com/grimoire-run/grimoire/server/socket"
	"github.com/grimoire-run/grimoire/server/socket/sockettest"
)

// generations are the two socket.io-client generations, each with the
// transport docs/protocol.md tells it to use.
var generations = []struct {
	name       string
	gen        int
	transports []string
}{
	{"v2-websocket", 2, []string{"websocket"}},
	{"v4", 4, nil},
}

func connect(t testing.TB, cl *sockettest.Clients, e *env, id string, gen int, transports []string, tok string) {
	t.Helper()
	cl.Connect(sockettest.ConnectOptions{ID: id, Generation: gen, URL: e.URL, Token: tok, Transports: transports})
	ev, err := cl.WaitConnected(id, wait)
	if err != nil {
		t.Fatalf("%s: %v", id, err)
	}
	if ev.Type != "connect" {
		t.Fatalf("%s: got %s %+v, want connect", id, ev.Type, ev.Error)
	}
}

// ack is what the server answers a request with.
type ack struct {
	OK      bool   `json:"ok"`
	SpellID string `json:"spellId"`
	Version int    `json:"version"`
	Hash    string `json:"hash"`
	RunID   string `json:"runId"`
	Inputs  []struct {
		Name string `json:"name"`
	} `json:"inputs"`
	Outputs []struct {
		Name string `json:"name"`
	} `json:"outputs"`
	Error *socket.Error `json:"error"`
}

func request(t testing.TB, cl *sockettest.Clients, id, event string, payload any) ack {
	t.Helper()
	raw, err := cl.Request(id, event, payload, wait)
	if err != nil {
		t.Fatalf("%s %s: %v", id, event, err)
	}
	var a ack
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatalf("%s %s: ack %s: %v", id, event, raw, err)
	}
	return a
}

func mustOK(t testing.TB, cl *sockettest.Clients, id, event string, payload any) ack {
	t.Helper()
	a := request(t, cl, id, event, payload)
	if !a.OK || a.Error != nil {
		t.Fatalf("%s %s %v: ack %+v (error %+v)", id, event, payload, a, a.Error)
	}
	return a
}

func mustFail(t testing.TB, cl *sockettest.Clients, id, event string, payload any, code string) {
	t.Helper()
	a := request(t, cl, id, event, payload)
	if a.Error == nil || a.Error.Code != code {
		t.Fatalf("%s %s %v: ack %+v (error %+v), want error %q", id, event, payload, a, a.Error, code)
	}
}

// runMessages returns the run event messages socket id receives for runID
// until the run's terminal one.
func runMessages(t testing.TB, cl *sockettest.Clients, id, runID string) []protocol.Message {
	t.Helper()
	var out []protocol.Message
	for {
		ev, err := cl.Wait(wait, func(ev sockettest.Event) bool {
			return ev.ID == id && ev.Type == "event" && len(ev.Args) > 0 && strings.Contains(string(ev.Args[0]), `"runId":"`+runID+`"`)
		})
		if err != nil {
			t.Fatalf("%s: events of run %s: %v (got %d: %s)", id, runID, err, len(out), types(out))
		}
		var m protocol.Message
		if err := json.Unmarshal(ev.Args[0], &m); err != nil {
			t.Fatal(err)
		}
		if m.Type != ev.Event {
			t.Fatalf("event %q carries type %q", ev.Event, m.Type)
		}
		out = append(out, m)
		if m.Terminal() {
			return out
		}
	}
}

func types(ms []protocol.Message) string {
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "%d:%s:%s ", m.Seq, m.Type, m.NodeID)
	}
	return b.String()
}

// checkSeqs fails unless ms are numbered from first without gaps.
func checkSeqs(t testing.TB, ms []protocol.Message, first uint64) {
	t.Helper()
	for i, m := range ms {
		if m.Seq != first+uint64(i) {
			t.Fatalf("message %d has seq %d, want %d: %s", i, m.Seq, first+uint64(i), types(ms))
		}
	}
}

func TestSocketAuthentication(t *testing.T) {
	e := newEnv(t, envOptions{})
	cl := sockettest.Start(t)
	cases := []struct {
		name, token string
		ok          bool
	}{
		{"valid", token(t, "alice"), true},
		{"expired", expiredToken(t, "alice"), false},
		{"wrong key", wrongKeyToken(t, "alice"), false},
		{"alg none", algNoneToken("alice"), false},
		{"missing", "", false},
		{"garbage", "not-a-token", false},
	}
	for _, g := range generations {
		for _, tc := range cases {
			t.Run(g.name+"/"+tc.name, func(t *testing.T) {
				id := g.name + "-" + strings.ReplaceAll(tc.name, " ", "-")
				cl.Connect(sockettest.ConnectOptions{ID: id, Generation: g.gen, URL: e.URL, Token: tc.token, Transports: g.transports})
				ev, err := cl.WaitConnected(id, wait)
				if err != nil {
					t.Fatal(err)
				}
				if tc.ok != (ev.Type == "connect") {
					t.Fatalf("got %s %+v", ev.Type, ev.Error)
				}
				if tc.ok {
					// A connected socket works.
					mustOK(t, cl, id, "spell:load", map[string]any{"spellId": "demo"})
				}
			})
		}
	}
	// Non-browser clients may pass the token in a header, and v4 clients
	// in the auth payload too; the auth payload alone opens nothing (it
	// arrives only once a session exists: docs/protocol.md).
	for _, via := range []struct {
		gen int
		via string
		ok  bool
	}{{4, "query+auth", true}, {4, "header", true}, {2, "header", true}, {4, "auth", false}} {
		id := fmt.Sprintf("via-%s-%d", via.via, via.gen)
		cl.Connect(sockettest.ConnectOptions{ID: id, Generation: via.gen, URL: e.URL, Token: token(t, "alice"), TokenVia: via.via, Transports: []string{"websocket"}})
		ev, err := cl.WaitConnected(id, wait)
		if err != nil || (ev.Type == "connect") != via.ok {
			t.Errorf("token via %s (v%d): %+v %v, want connected %v", via.via, via.gen, ev, err, via.ok)
		}
	}
}

func TestSocketLoadRunAndEvents(t *testing.T) {
	e := newEnv(t, envOptions{})
	cl := sockettest.Start(t)
	for _, g := range generations {
		t.Run(g.name, func(t *testing.T) {
			id := "alice-" + g.name
			connect(t, cl, e, id, g.gen, g.transports, token(t, "alice"))

			// By id: the demo spell, owned by nobody.
			demo := mustOK(t, cl, id, "spell:load", map[string]any{"spellId": "demo"})
			if demo.SpellID != "demo" || !strings.HasPrefix(demo.Hash, "sha256:") || demo.Version != 1 ||
				len(demo.Inputs) != 1 || demo.Inputs[0].Name != "name" || len(demo.Outputs) != 1 || demo.Outputs[0].Name != "greeting" {
				t.Fatalf("demo load ack %+v", demo)
			}
			// With a document: saved as alice's, then loaded.
			spellID := "story-" + g.name
			story := mustOK(t, cl, id, "spell:load", map[string]any{"spell": storySpell(spellID, "")})
			if story.SpellID != spellID || story.Hash == "" || len(story.Outputs) != 1 || story.Outputs[0].Name != "story" {
				t.Fatalf("story load ack %+v", story)
			}

			run := mustOK(t, cl, id, "spell:run", map[string]any{"spellId": spellID, "inputs": map[string]any{"name": "Ada"}})
			if run.RunID == "" {
				t.Fatalf("run ack %+v", run)
			}
			ms := runMessages(t, cl, id, run.RunID)
			checkSeqs(t, ms, 1)
			if ms[0].Type != protocol.RunStart || ms[0].SpellID != spellID || ms[0].SpellHash != story.Hash {
				t.Fatalf("first message %+v", ms[0])
			}
			// The streaming node: start, then its chunks in order, then end.
			var tellStart, tellEnd = -1, -1
			var chunks []string
			for i, m := range ms {
				if m.NodeID != "tell" {
					continue
				}
				switch m.Type {
				case protocol.NodeStart:
					tellStart = i
				case protocol.NodeChunk:
					if tellStart < 0 || tellEnd >= 0 {
						t.Fatalf("chunk outside the node's start and end: %s", types(ms))
					}
					chunks = append(chunks, m.Text)
				case protocol.NodeEnd:
					tellEnd = i
					if m.Cached == nil || *m.Cached || m.Outputs["result"] != "Once upon a time Ada woke up" {
						t.Fatalf("node:end %+v", m)
					}
				}
			}
			if tellStart < 0 || tellEnd < tellStart || strings.Join(chunks, "") != "Once upon a time Ada woke up" {
				t.Fatalf("tell: start %d end %d chunks %q: %s", tellStart, tellEnd, chunks, types(ms))
			}
			done := ms[len(ms)-1]
			if done.Type != protocol.RunCompleted || done.Outputs["story"] != "Once upon a time Ada woke up" {
				t.Fatalf("last message %+v", done)
			}
			// run:completed carries every node's outputs, to replay.
			got := map[string]protocol.NodeResult{}
			for _, n := range done.Nodes {
				got[n.NodeID] = n
			}
			for _, want := range []struct{ node, port, value string }{
				{"greet", "output", "Once upon a time Ada woke up"},
				{"tell", "result", "Once upon a time Ada woke up"},
			} {
				if v := got[want.node].Outputs[want.port]; v != want.value {
					t.Errorf("run:completed nodes[%s].outputs.%s = %v, want %q (nodes %+v)", want.node, want.port, v, want.value, done.Nodes)
				}
			}
			for _, m := range ms {
				if m.Type == protocol.NodeEnd {
					if _, ok := got[m.NodeID]; !ok {
						t.Errorf("node %s ended but is not in run:completed.nodes", m.NodeID)
					}
				}
			}

			// Two runs of one spell on one socket are independent.
			r1 := mustOK(t, cl, id, "spell:run", map[string]any{"spellId": "demo", "inputs": map[string]any{"name": "One"}, "runId": "client-chosen-" + g.name})
			r2 := mustOK(t, cl, id, "spell:run", map[string]any{"spellId": "demo", "inputs": map[string]any{"name": "Two"}})
			if r1.RunID != "client-chosen-"+g.name || r2.RunID == r1.RunID {
				t.Fatalf("run ids %q %q", r1.RunID, r2.RunID)
			}
			for _, c := range []struct{ run, want string }{{r1.RunID, "Hello, One!"}, {r2.RunID, "Hello, Two!"}} {
				ms := runMessages(t, cl, id, c.run)
				checkSeqs(t, ms, 1)
				if last := ms[len(ms)-1]; last.Type != protocol.RunCompleted || last.Outputs["greeting"] != c.want {
					t.Fatalf("run %s ended with %+v", c.run, last)
				}
			}
			// The same run id again is refused.
			mustFail(t, cl, id, "spell:run", map[string]any{"spellId": "demo", "runId": "client-chosen-" + g.name}, "conflict")

			// Unloading frees the spell: running it needs a new load.
			mustOK(t, cl, id, "spell:unload", map[string]any{"spellId": spellID})
			mustFail(t, cl, id, "spell:run", map[string]any{"spellId": spellID}, "not_found")
			mustFail(t, cl, id, "spell:unload", map[string]any{"spellId": spellID}, "not_found")
		})
	}
}

func TestSocketUsersAreIsolated(t *testing.T) {
	e := newEnv(t, envOptions{})
	cl := sockettest.Start(t)
	connect(t, cl, e, "alice", 4, nil, token(t, "alice"))
	connect(t, cl, e, "bob", 2, []string{"websocket"}, token(t, "bob"))
	connect(t, cl, e, "carol", 4, nil, token(t, "carol", "analyst"))

	mustOK(t, cl, "alice", "spell:load", map[string]any{"spell": storySpell("alices", "slow")})
	run := mustOK(t, cl, "alice", "spell:run", map[string]any{"spellId": "alices", "inputs": map[string]any{"name": "Ada"}})

	// Bob may neither load, overwrite, follow nor cancel alice's spell and run.
	mustFail(t, cl, "bob", "spell:load", map[string]any{"spellId": "alices"}, "forbidden")
	mustFail(t, cl, "bob", "spell:load", map[string]any{"spell": storySpell("alices", "")}, "forbidden")
	mustFail(t, cl, "bob", "spell:run", map[string]any{"spellId": "alices"}, "not_found")
	// Nobody but an admin changes the demo every user runs.
	mustFail(t, cl, "bob", "spell:load", map[string]any{"spell": storySpell("demo", "")}, "forbidden")
	mustFail(t, cl, "bob", "run:subscribe", map[string]any{"runId": run.RunID}, "forbidden")
	mustFail(t, cl, "bob", "run:cancel", map[string]any{"runId": run.RunID}, "forbidden")
	// An analyst may follow it, and not cancel it.
	mustOK(t, cl, "carol", "run:subscribe", map[string]any{"runId": run.RunID})
	mustFail(t, cl, "carol", "run:cancel", map[string]any{"runId": run.RunID}, "forbidden")

	ms := runMessages(t, cl, "alice", run.RunID)
	if ms[len(ms)-1].Type != protocol.RunCompleted {
		t.Fatalf("alice's run ended %+v", ms[len(ms)-1])
	}
	carol := runMessages(t, cl, "carol", run.RunID)
	checkSeqs(t, carol, 1)
	if len(carol) != len(ms) {
		t.Fatalf("analyst got %d messages, owner %d", len(carol), len(ms))
	}
	// Bob's own run works, and he saw nothing of alice's.
	mustOK(t, cl, "bob", "spell:load", map[string]any{"spellId": "demo"})
	b := mustOK(t, cl, "bob", "spell:run", map[string]any{"spellId": "demo"})
	runMessages(t, cl, "bob", b.RunID)
	time.Sleep(100 * time.Millisecond)
	rep, err := cl.Wait(200*time.Millisecond, func(ev sockettest.Event) bool {
		return ev.ID == "bob" && ev.Type == "event" && len(ev.Args) > 0 && strings.Contains(string(ev.Args[0]), run.RunID)
	})
	if err == nil {
		t.Fatalf("bob received an event of alice's run: %+v", rep)
	}
}

func TestSocketResumeAfterReconnect(t *testing.T) {
	e := newEnv(t, envOptions{})
	cl := sockettest.Start(t)
	for _, g := range generations {
		t.Run(g.name, func(t *testing.T) {
			first := "first-" + g.name
			connect(t, cl, e, first, g.gen, g.transports, token(t, "alice"))
			spellID := "slow-" + g.name
			mustOK(t, cl, first, "spell:load", map[string]any{"spell": storySpell(spellID, "slow")})
			run := mustOK(t, cl, first, "spell:run", map[string]any{"spellId": spellID, "inputs": map[string]any{"name": "Ada"}})
			// Read until the first chunk, then drop the connection.
			var seen []protocol.Message
			for len(seen) == 0 || seen[len(seen)-1].Type != protocol.NodeChunk {
				ev, err := cl.Wait(wait, func(ev sockettest.Event) bool {
					return ev.ID == first && ev.Type == "event" && len(ev.Args) > 0 && strings.Contains(string(ev.Args[0]), run.RunID)
				})
				if err != nil {
					t.Fatal(err)
				}
				var m protocol.Message
				json.Unmarshal(ev.Args[0], &m)
				seen = append(seen, m)
			}
			cl.Send(map[string]any{"op": "close", "id": first})
			if _, err := cl.WaitFor(first, "closed", wait); err != nil {
				t.Fatal(err)
			}
			last := seen[len(seen)-1].Seq
			time.Sleep(100 * time.Millisecond) // the run goes on meanwhile

			second := "second-" + g.name
			connect(t, cl, e, second, g.gen, g.transports, token(t, "alice"))
			sub := mustOK(t, cl, second, "run:subscribe", map[string]any{"runId": run.RunID, "afterSeq": last})
			if sub.RunID != run.RunID {
				t.Fatalf("subscribe ack %+v", sub)
			}
			rest := runMessages(t, cl, second, run.RunID)
			checkSeqs(t, rest, last+1)
			all := append(seen, rest...)
			checkSeqs(t, all, 1)
			if all[len(all)-1].Type != protocol.RunCompleted {
				t.Fatalf("run ended %+v", all[len(all)-1])
			}
			// Subscribing to a finished run replays what was asked for.
			third := mustOK(t, cl, second, "run:subscribe", map[string]any{"runId": run.RunID, "afterSeq": 2})
			_ = third
			again := runMessages(t, cl, second, run.RunID)
			checkSeqs(t, again, 3)
			if len(again) != len(all)-2 || len(again[len(again)-1].Nodes) == 0 {
				t.Fatalf("replay: %d messages (want %d), last %+v", len(again), len(all)-2, again[len(again)-1])
			}
		})
	}
}

func TestSocketCancel(t *testing.T) {
	e := newEnv(t, envOptions{})
	cl := sockettest.Start(t)
	for _, g := range generations {
		t.Run(g.name, func(t *testing.T) {
			id := "canceller-" + g.name
			connect(t, cl, e, id, g.gen, g.transports, token(t, "alice"))
			mustOK(t, cl, id, "spell:load", map[string]any{"spell": storySpell("hang-"+g.name, "hang")})
			run := mustOK(t, cl, id, "spell:run", map[string]any{"spellId": "hang-" + g.name})
			// Wait until the completion node runs (it then hangs), then cancel.
			for {
				if _, err := e.Store.ReadStream(context.Background(), events.RunStream(run.RunID), 0, events.Forwards, 0); err == nil {
					if rv := runView(t, e, run.RunID); len(rv.Nodes) > 0 && rv.Nodes[len(rv.Nodes)-1].NodeID == "tell" {
						break
					}
				}
				time.Sleep(10 * time.Millisecond)
			}
			mustOK(t, cl, id, "run:cancel", map[string]any{"runId": run.RunID})
			ms := runMessages(t, cl, id, run.RunID)
			checkSeqs(t, ms, 1)
			if last := ms[len(ms)-1]; last.Type != protocol.RunCancelled || !strings.Contains(last.Reason, "alice") {
				t.Fatalf("run ended %+v", last)
			}
			// A finished run cannot be cancelled; an unknown one is not found.
			// (Its RunCancelled reaches the socket before the executor has
			// let go of the run: wait for that.)
			if r, ok := e.Exec.Get(run.RunID); ok {
				<-r.Done()
			}
			mustFail(t, cl, id, "run:cancel", map[string]any{"runId": run.RunID}, "conflict")
			mustFail(t, cl, id, "run:cancel", map[string]any{"runId": "no-such-run-0001"}, "not_found")
		})
	}
}

func TestSocketLimits(t *testing.T) {
	e := newEnv(t, envOptions{
		Limits: server.Limits{MaxLoadedSpells: 2, MaxRunsPerUser: 1},
		Socket: socket.Options{MaxMessageBytes: 32 << 10, RatePerSecond: 20, RateBurst: 20},
	})
	cl := sockettest.Start(t)
	for _, g := range generations {
		t.Run(g.name, func(t *testing.T) {
			id := "limited-" + g.name
			user := "user-" + g.name
			connect(t, cl, e, id, g.gen, g.transports, token(t, user))
			healthy := func() {
				t.Helper()
				time.Sleep(250 * time.Millisecond) // let the rate limiter refill
				mustOK(t, cl, id, "spell:load", map[string]any{"spellId": "demo"})
			}

			// Loaded spells per socket.
			mustOK(t, cl, id, "spell:load", map[string]any{"spellId": "demo"})
			mustOK(t, cl, id, "spell:load", map[string]any{"spell": storySpell("hang-"+g.name, "hang")})
			mustFail(t, cl, id, "spell:load", map[string]any{"spell": storySpell("third-"+g.name, "")}, "limit_exceeded")
			healthy()

			// Concurrent runs per user.
			run := mustOK(t, cl, id, "spell:run", map[string]any{"spellId": "hang-" + g.name})
			mustFail(t, cl, id, "spell:run", map[string]any{"spellId": "demo"}, "limit_exceeded")
			mustOK(t, cl, id, "run:cancel", map[string]any{"runId": run.RunID})
			runMessages(t, cl, id, run.RunID)
			deadline := time.Now().Add(wait)
			for {
				a := request(t, cl, id, "spell:run", map[string]any{"spellId": "demo"})
				if a.OK {
					runMessages(t, cl, id, a.RunID)
					break
				}
				if a.Error == nil || a.Error.Code != "limit_exceeded" || time.Now().After(deadline) {
					t.Fatalf("run after the cancel: %+v %+v", a, a.Error)
				}
				time.Sleep(50 * time.Millisecond)
			}
			healthy()

			// Message size.
			mustFail(t, cl, id, "spell:load", map[string]any{"spellId": strings.Repeat("x", 40<<10)}, "message_too_large")
			healthy()

			// Requests per second.
			time.Sleep(2 * time.Second) // a full bucket
			tag := "burst-" + g.name
			cl.Send(map[string]any{"op": "emitMany", "id": id, "event": "spell:unload", "count": 60, "tag": tag, "timeoutMs": 10000})
			ev, err := cl.Wait(wait, func(ev sockettest.Event) bool { return ev.Type == "acks" && ev.Tag == tag })
			if err != nil || ev.TimedOut {
				t.Fatalf("burst: %+v %v", ev, err)
			}
			limited := 0
			for _, r := range ev.Results {
				if errorCode(r) == "rate_limited" {
					limited++
				}
			}
			if limited < 25 || limited > 55 {
				t.Fatalf("%d of 60 burst requests rate limited, want about 40", limited)
			}
			time.Sleep(time.Second)
			healthy()
		})
	}
}

func TestSocketMalformedPayloads(t *testing.T) {
	e := newEnv(t, envOptions{})
	cl := sockettest.Start(t)
	for _, g := range generations {
		t.Run(g.name, func(t *testing.T) {
			id := "fuzzy-" + g.name
			connect(t, cl, e, id, g.gen, g.transports, token(t, "alice"))
			cases := []struct {
				event   string
				payload any
				code    string
			}{
				{"spell:load", nil, "bad_request"},
				{"spell:load", "demo", "bad_request"},
				{"spell:load", 42, "bad_request"},
				{"spell:load", []any{"demo"}, "bad_request"},
				{"spell:load", map[string]any{"spellId": 5}, "bad_request"},
				{"spell:load", map[string]any{}, "bad_request"},
				{"spell:load", map[string]any{"spellId": "nope"}, "not_found"},
				{"spell:load", map[string]any{"spell": "not a spell"}, "invalid_spell"},
				{"spell:load", map[string]any{"spell": map[string]any{"id": "x", "nodes": "no"}}, "invalid_spell"},
				{"spell:load", map[string]any{"spell": map[string]any{"format": "grimoire/spell@1", "id": "bad id!", "nodes": []any{}}}, "bad_request"},
				{"spell:load", map[string]any{"spell": map[string]any{"format": "grimoire/spell@1", "id": "cyclic",
					"nodes": []any{map[string]any{"id": "a", "type": "No Such Type"}}}}, "invalid_spell"},
				{"spell:run", map[string]any{"spellId": "demo", "inputs": "x"}, "bad_request"},
				{"spell:run", map[string]any{"spellId": "demo", "runId": "../etc"}, "bad_request"},
				{"spell:run", map[string]any{"spellId": "unloaded"}, "not_found"},
				{"run:subscribe", map[string]any{"runId": "r", "afterSeq": -1}, "bad_request"},
				{"run:subscribe", map[string]any{"runId": "no-such-run"}, "not_found"},
				{"run:unsubscribe", map[string]any{"runId": "no-such-run"}, "not_found"},
				{"run:cancel", nil, "bad_request"},
				{"no:such:event", map[string]any{}, "unknown_event"},
			}
			for _, c := range cases {
				mustFail(t, cl, id, c.event, c.payload, c.code)
			}
			// Packets no well-behaved client sends: the socket stays up.
			// (Engine.IO 4 follows the reference Node server: a packet that
			// is not valid Socket.IO closes the connection. The Engine.IO 3
			// packet layer is ours and ignores such packets.)
			var raws []string
			if g.gen == 2 {
				raws = []string{`42["spell:load",{"spellId":`, `42[]`, `42[5]`, `42"x"`, `42[{"a":1}]`, `4`, `99`}
			}
			for _, raw := range raws {
				cl.Send(map[string]any{"op": "raw", "id": id, "data": raw, "tag": raw})
				if _, err := cl.Wait(wait, func(ev sockettest.Event) bool { return ev.Type == "sent" && ev.Tag == raw }); err != nil {
					t.Fatal(err)
				}
				if ev, err := cl.Wait(300*time.Millisecond, func(ev sockettest.Event) bool {
					return ev.ID == id && (ev.Type == "disconnect" || ev.Type == "error")
				}); err == nil {
					t.Fatalf("after the packet %s: %s %s %+v", raw, ev.Type, ev.Reason, ev.Error)
				}
			}
			mustOK(t, cl, id, "spell:load", map[string]any{"spellId": "demo"})
			a := mustOK(t, cl, id, "spell:run", map[string]any{"spellId": "demo"})
			runMessages(t, cl, id, a.RunID)
		})
	}
}

// A client that learns or guesses another client's session id cannot send
// requests on its behalf.
func TestSocketSessionInjection(t *testing.T) {
	e := newEnv(t, envOptions{})
	cl := sockettest.Start(t)
	victim := token(t, "victim")
	cl.Connect(sockettest.ConnectOptions{ID: "victim", Generation: 2, URL: e.URL, Token: victim, Transports: []string{"polling"}})
	ev, err := cl.WaitConnected("victim", wait)
	if err != nil || ev.Type != "connect" {
		t.Fatalf("victim: %+v %v", ev, err)
	}
	sid := ev.SID
	mustOK(t, cl, "victim", "spell:load", map[string]any{"spell": storySpell("victims", "")})

	attacker := token(t, "mallory")
	pkt := `42["spell:run",{"spellId":"victims","runId":"injected-run-1"}]`
	for _, tc := range []struct {
		name, sid, token string
		want             int
	}{
		{"victim's sid, no token", sid, "", http.StatusUnauthorized},
		{"victim's sid, attacker's token", sid, attacker, http.StatusForbidden},
		{"victim's sid, forged token", sid, algNoneToken("victim"), http.StatusUnauthorized},
		{"sequential guess", "1", attacker, http.StatusBadRequest},
		{"sequential guess 2", "2", attacker, http.StatusBadRequest},
	} {
		u := fmt.Sprintf("/socket.io/?EIO=3&transport=polling&sid=%s", tc.sid)
		if tc.token != "" {
			u += "&token=" + tc.token
		}
		resp, _ := e.do("POST", u, "", fmt.Sprintf("%d:%s", len(pkt), pkt), "Content-Type", "text/plain;charset=UTF-8")
		if resp.StatusCode != tc.want {
			t.Errorf("%s: HTTP %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
	}
	time.Sleep(300 * time.Millisecond)
	if resp, _ := e.do("GET", "/v1/runs/injected-run-1", victim, ""); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the injected run exists: HTTP %d", resp.StatusCode)
	}
	a := mustOK(t, cl, "victim", "spell:run", map[string]any{"spellId": "victims"})
	runMessages(t, cl, "victim", a.RunID)
}

// waitAcks waits for n acks whose tag starts with prefix, in any order.
func waitAcks(t testing.TB, cl *sockettest.Clients, prefix string, n int, each func(tag string, ack json.RawMessage)) {
	t.Helper()
	got := map[string]bool{}
	deadline := time.Now().Add(120 * time.Second)
	for len(got) < n {
		ev, err := cl.Wait(time.Until(deadline), func(ev sockettest.Event) bool { return ev.Type == "ack" && strings.HasPrefix(ev.Tag, prefix) })
		if err != nil {
			var b strings.Builder
			pprof.Lookup("goroutine").WriteTo(&b, 1)
			t.Logf("goroutines:\n%s", b.String())
			t.Fatalf("%d of %d acks %s*: %v; have %v", len(got), n, prefix, err, got)
		}
		if got[ev.Tag] {
			t.Fatalf("two acks for %s", ev.Tag)
		}
		got[ev.Tag] = true
		var raw json.RawMessage
		if len(ev.Args) > 0 {
			raw = ev.Args[0]
		}
		each(ev.Tag, raw)
	}
}

// 200 sockets, half of each client generation, each its own user, each
// running spells concurrently: every socket gets every event of its runs
// exactly once and in order, and nothing of the others'.
func TestManySocketsRunConcurrently(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	const (
		sockets = 200
		perSock = 3
	)
	e := newEnv(t, envOptions{})
	cl := sockettest.Start(t)
	ids := make([]string, sockets)
	// Both generations connect over websocket here. With 4.x's default
	// polling-then-upgrade, about one request in a thousand under -race on
	// this machine lost its ack around the upgrade (zishang520/engine.io;
	// a known defect noted in docs/protocol.md), which made this test flaky;
	// the polling transport of 4.x is covered by the smaller tests.
	for i := range ids {
		gen, tr := 2, []string{"websocket"}
		if i%2 == 1 {
			gen = 4
		}
		ids[i] = fmt.Sprintf("s%03d-v%d", i, gen)
		cl.Connect(sockettest.ConnectOptions{ID: ids[i], Generation: gen, URL: e.URL, Token: token(t, ids[i]), Transports: tr, Quiet: true})
	}
	// A v4 client that opened its engine but never got the Socket.IO
	// CONNECT answer sees neither connect nor connect_error. It happened to
	// about one socket in a thousand here under -race on a loaded machine
	// (a loss in zishang520/engine.io around the polling→websocket
	// upgrade, not in our code, as far as we could tell): such a socket is
	// reported and connected again, once; more than two is a failure.
	var retried []string
	for i, id := range ids {
		ev, err := cl.WaitConnected(id, 30*time.Second)
		if err != nil && strings.HasSuffix(id, "-v4") && len(retried) < 2 {
			t.Logf("LIBRARY LOSS: %s got no answer to its CONNECT within 30s; connecting it again", id)
			retried = append(retried, id)
			cl.Send(map[string]any{"op": "close", "id": id})
			ids[i] = id + "-again"
			id = ids[i]
			cl.Connect(sockettest.ConnectOptions{ID: id, Generation: 4, URL: e.URL, Token: token(t, id), Quiet: true})
			ev, err = cl.WaitConnected(id, 30*time.Second)
		}
		if err != nil || ev.Type != "connect" {
			t.Fatalf("%s: %+v %v", id, ev, err)
		}
	}
	for _, id := range ids {
		cl.Emit(id, "spell:load", map[string]any{"spell": storySpell("story-"+id, "")}, true, "load-"+id)
	}
	waitAcks(t, cl, "load-", len(ids), func(tag string, raw json.RawMessage) {
		if errorCode(raw) != "" {
			t.Fatalf("%s: %s", tag, raw)
		}
	})
	start := time.Now()
	for _, id := range ids {
		for k := range perSock {
			cl.Emit(id, "spell:run", map[string]any{"spellId": "story-" + id, "inputs": map[string]any{"name": fmt.Sprint("n", k)}}, true, fmt.Sprint("run-", id, "-", k))
		}
	}
	runsOf := map[string][]string{}
	waitAcks(t, cl, "run-", len(ids)*perSock, func(tag string, raw json.RawMessage) {
		var a ack
		json.Unmarshal(raw, &a)
		if !a.OK {
			t.Fatalf("%s: %s", tag, raw)
		}
		id := strings.TrimPrefix(tag[:strings.LastIndexByte(tag, '-')], "run-")
		runsOf[id] = append(runsOf[id], a.RunID)
	})
	deadline := time.Now().Add(120 * time.Second)
	var events int
	for {
		rep, err := cl.Report(ids, 60*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		complete := 0
		events = 0
		for _, id := range ids {
			r := rep[id]
			if !r.Connected {
				t.Fatalf("%s disconnected", id)
			}
			for runID, seqs := range r.Runs {
				if !slices.Contains(runsOf[id], runID) {
					t.Fatalf("%s received events of run %s, not its own", id, runID)
				}
				for i, s := range seqs {
					if s != i+1 {
						t.Fatalf("%s run %s: seqs %v: a duplicate, gap or reordering", id, runID, seqs)
					}
				}
				events += len(seqs)
				if end, ok := r.Ends[runID]; ok {
					if end.Event != protocol.RunCompleted || end.Seq != len(seqs) || end.Nodes < 3 {
						t.Fatalf("%s run %s ended %+v after %d events", id, runID, end, len(seqs))
					}
					complete++
				}
			}
		}
		if complete == sockets*perSock {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d runs complete within the deadline", complete, sockets*perSock)
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("%d sockets × %d runs: %d events delivered exactly once and in order in %v", sockets, perSock, events, time.Since(start))
}

// runState is what GET /v1/runs/{id} answers.
type runState struct {
	RunID   string         `json:"runId"`
	SpellID string         `json:"spellId"`
	Status  string         `json:"status"`
	Outputs map[string]any `json:"outputs"`
	Error   string         `json:"error"`
	Reason  string         `json:"reason"`
	LastSeq uint64         `json:"lastSeq"`
	Nodes   []struct {
		NodeID string `json:"nodeId"`
		Status string `json:"status"`
	} `json:"nodes"`
}

// runView reads a run's state as an admin.
func runView(t testing.TB, e *env, runID string) runState {
	t.Helper()
	resp, body := e.do("GET", "/v1/runs/"+runID, token(t, "root", "admin"), "")
	var v runState
	if resp.StatusCode != http.StatusOK {
		return v
	}
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("run view %s: %v", body, err)
	}
	return v
}

// A run executed elsewhere (another executor publishing on the same bus, as
// another process would) streams to a socket that subscribes to it.
func TestSocketFollowsRunExecutedElsewhere(t *testing.T) {
	e := newEnv(t, envOptions{})
	other, err := runs.New(runs.Options{Store: e.Store, Bus: e.Bus, Runner: e.Runner})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(context.Background())
	cl := sockettest.Start(t)
	for _, g := range generations {
		t.Run(g.name, func(t *testing.T) {
			id := "watcher-" + g.name
			connect(t, cl, e, id, g.gen, g.transports, token(t, "alice"))
			spell, _, err := graph.ParseSpell(storySpell("elsewhere-"+g.name, "slow"))
			if err != nil {
				t.Fatal(err)
			}
			run, err := other.Start(context.Background(), runs.RunSpec{Spell: spell, User: "alice", Source: "cli",
				Inputs: map[string]any{"name": "Ada"}, RunID: "elsewhere-run-" + g.name})
			if err != nil {
				t.Fatal(err)
			}
			mustOK(t, cl, id, "run:subscribe", map[string]any{"runId": run.ID(), "afterSeq": 0})
			ms := runMessages(t, cl, id, run.ID())
			checkSeqs(t, ms, 1)
			if last := ms[len(ms)-1]; last.Type != protocol.RunCompleted || last.Outputs["story"] != "slow Once upon a time Ada woke up" {
				t.Fatalf("run ended %+v", last)
			}
			chunks := 0
			for _, m := range ms {
				if m.Type == protocol.NodeChunk {
					chunks++
				}
			}
			if chunks == 0 {
				t.Fatalf("no chunks streamed: %s", types(ms))
			}
		})
	}
}
