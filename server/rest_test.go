package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/projections"
	"github.com/grimoire-run/grimoire/server"
	"github.com/grimoire-run/grimoire/server/protocol"
)

func decode[T any](t testing.TB, body []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return v
}

func wantStatus(t testing.TB, what string, resp *http.Response, body []byte, status int, code string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s: HTTP %d %s, want %d", what, resp.StatusCode, body, status)
	}
	if code != "" {
		if got := errorCode(body); got != code {
			t.Fatalf("%s: error code %q in %s, want %q", what, got, body, code)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("%s: error with Content-Type %q", what, ct)
		}
	}
}

// failSpell has a Code node, which cannot run without a sandbox: its runs fail.
const failSpell = `{"format":"grimoire/spell@1","id":"fails","nodes":[
 {"id":"start","type":"Module Trigger In","config":{"name":"start"}},
 {"id":"code","type":"Code","config":{"code":"function worker() { return {} }"}},
 {"id":"out","type":"Output","config":{"name":"out"}}],
 "edges":[{"from":"start.trigger","to":"code.trigger"},{"from":"code.trigger","to":"out.trigger"}]}`

func TestRESTHealthAndDocuments(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, tc := range []struct {
		path, want string
	}{
		{"/healthz", `"ok"`},
		{"/readyz", `"ready"`},
		{"/openapi.json", `"openapi":"3.`},
		{"/", `"grimoire"`},
	} {
		resp, body := e.do("GET", tc.path, "", "")
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(bytes.ReplaceAll(body, []byte(" "), nil)), tc.want) {
			t.Errorf("GET %s: HTTP %d %.200s", tc.path, resp.StatusCode, body)
		}
	}
	resp, body := e.do("GET", "/metrics", "", "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `grimoire_http_requests_total{code="2xx",route="GET /healthz"} 1`) ||
		!strings.Contains(string(body), "grimoire_sockets 0") {
		t.Fatalf("metrics: HTTP %d\n%s", resp.StatusCode, body)
	}
	resp, body = e.do("GET", "/no/such/route", "", "")
	wantStatus(t, "unknown route", resp, body, http.StatusNotFound, "not_found")
}

// A read model that fails at every retry (here on an event it cannot
// decode; in a deployment, typically an event whose blob this process
// cannot read) makes /readyz answer 503 with its name and error.
func TestReadyzReportsAStuckProjection(t *testing.T) {
	e := newEnv(t, envOptions{Analysts: true})
	if resp, body := e.do("GET", "/readyz", "", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("before: HTTP %d %s", resp.StatusCode, body)
	}
	if _, err := e.Store.Append(context.Background(), events.RunStream("broken"), events.NoStream,
		events.EventData{Type: events.TypeRunRequested, Data: []byte(`{"spellId":5}`)}); err != nil {
		t.Fatal(err)
	}
	// The runs and usage models both read RunRequested: both get stuck,
	// not necessarily at the same moment.
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, body := e.do("GET", "/readyz", "", "")
		switch resp.StatusCode {
		case http.StatusOK:
		case http.StatusServiceUnavailable:
			var got struct {
				Status      string
				Projections []struct {
					Name, LastError string
					Failures        int
				}
			}
			if err := json.Unmarshal(body, &got); err != nil || got.Status != "unavailable" || len(got.Projections) == 0 {
				t.Fatalf("503 body %s (%v)", body, err)
			}
			names := map[string]bool{}
			for _, p := range got.Projections {
				names[p.Name] = true
				if !strings.Contains(p.LastError, "run broken") || p.Failures < projections.StuckAfter {
					t.Fatalf("stuck projection %+v in %s", p, body)
				}
			}
			if names["runs"] && names["usage"] && len(names) == 2 {
				return
			}
		default:
			t.Fatalf("readyz: HTTP %d %s", resp.StatusCode, body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz never reported the runs and usage models stuck: HTTP %d %s", resp.StatusCode, body)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRESTAuthentication(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, tc := range []struct {
		name, header string
	}{
		{"missing", ""},
		{"basic", "Basic YWxpY2U6cHc="},
		{"empty bearer", "Bearer "},
		{"expired", "Bearer " + expiredToken(t, "alice")},
		{"wrong key", "Bearer " + wrongKeyToken(t, "alice")},
		{"alg none", "Bearer " + algNoneToken("alice")},
		{"garbage", "Bearer abc.def.ghi"},
	} {
		for _, route := range []struct{ method, path string }{
			{"GET", "/v1/spells"}, {"GET", "/v1/spells/demo"}, {"PUT", "/v1/spells/x"}, {"DELETE", "/v1/spells/demo"},
			{"POST", "/v1/spells/demo/runs"}, {"GET", "/v1/runs/r"}, {"GET", "/v1/runs/r/events"}, {"DELETE", "/v1/runs/r"},
		} {
			resp, body := e.do(route.method, route.path, "", "", "Authorization", tc.header)
			wantStatus(t, tc.name+" "+route.method+" "+route.path, resp, body, http.StatusUnauthorized, "unauthorized")
			if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("%s: WWW-Authenticate %q", tc.name, resp.Header.Get("WWW-Authenticate"))
			}
		}
	}
}

func TestRESTSpells(t *testing.T) {
	e := newEnv(t, envOptions{Limits: server.Limits{MaxBodyBytes: 64 << 10}})
	alice, bob, analyst := token(t, "alice"), token(t, "bob"), token(t, "ann", "analyst")

	type saved struct {
		SpellID string `json:"spellId"`
		Version int    `json:"version"`
		Hash    string `json:"hash"`
	}
	resp, body := e.do("PUT", "/v1/spells/tale", alice, string(storySpell("tale", "")))
	wantStatus(t, "PUT", resp, body, http.StatusOK, "")
	v1 := decode[saved](t, body)
	if v1.SpellID != "tale" || v1.Version != 1 || !strings.HasPrefix(v1.Hash, "sha256:") || resp.Header.Get("ETag") != strconv.Quote(v1.Hash) {
		t.Fatalf("PUT: %+v ETag %q", v1, resp.Header.Get("ETag"))
	}
	// The same content again is the same version; new content a new one.
	resp, body = e.do("PUT", "/v1/spells/tale", alice, string(storySpell("tale", "")))
	if again := decode[saved](t, body); again != v1 {
		t.Fatalf("PUT unchanged: %+v, want %+v", again, v1)
	}
	resp, body = e.do("PUT", "/v1/spells/tale", alice, string(storySpell("tale", "slow")))
	v2 := decode[saved](t, body)
	if v2.Version != 2 || v2.Hash == v1.Hash {
		t.Fatalf("PUT changed: %+v", v2)
	}
	// A document without an id takes the path's.
	var doc map[string]any
	json.Unmarshal(storySpell("x", ""), &doc)
	delete(doc, "id")
	noID, _ := json.Marshal(doc)
	resp, body = e.do("PUT", "/v1/spells/anon", alice, string(noID))
	if wantStatus(t, "PUT without id", resp, body, http.StatusOK, ""); decode[saved](t, body).SpellID != "anon" {
		t.Fatalf("PUT without id: %s", body)
	}

	for _, tc := range []struct {
		name, path, tok, body string
		status                int
		code                  string
	}{
		{"another user's spell", "/v1/spells/tale", bob, string(storySpell("tale", "")), http.StatusForbidden, "forbidden"},
		{"the operator's demo", "/v1/spells/demo", bob, string(storySpell("demo", "")), http.StatusForbidden, "forbidden"},
		{"id mismatch", "/v1/spells/other", alice, string(storySpell("tale", "")), http.StatusBadRequest, "bad_request"},
		{"bad id", "/v1/spells/bad%20id", alice, string(noID), http.StatusBadRequest, "bad_request"},
		{"not JSON", "/v1/spells/x", alice, "{", http.StatusBadRequest, "invalid_spell"},
		{"unknown node type", "/v1/spells/x", alice, `{"format":"grimoire/spell@1","id":"x","nodes":[{"id":"a","type":"Nope"}]}`, http.StatusBadRequest, "invalid_spell"},
		{"oversized", "/v1/spells/big", alice, `{"id":"big","name":"` + strings.Repeat("x", 70<<10) + `","nodes":[]}`, http.StatusRequestEntityTooLarge, "payload_too_large"},
	} {
		resp, body := e.do("PUT", tc.path, tc.tok, tc.body)
		wantStatus(t, "PUT "+tc.name, resp, body, tc.status, tc.code)
	}

	// GET: the latest version, or one by hash; owner, analyst yes, others no.
	resp, body = e.do("GET", "/v1/spells/tale", alice, "")
	wantStatus(t, "GET", resp, body, http.StatusOK, "")
	if resp.Header.Get("ETag") != strconv.Quote(v2.Hash) || resp.Header.Get("Grimoire-Spell-Version") != "2" || !strings.Contains(string(body), "slow {{text}}") {
		t.Fatalf("GET: headers %v body %s", resp.Header, body)
	}
	resp, body = e.do("GET", "/v1/spells/tale?hash="+v1.Hash, alice, "")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Grimoire-Spell-Version") != "1" || strings.Contains(string(body), "slow") {
		t.Fatalf("GET ?hash=v1: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	resp, body = e.do("GET", "/v1/spells/tale?hash=sha256:0000", alice, "")
	wantStatus(t, "GET unknown hash", resp, body, http.StatusNotFound, "not_found")
	resp, body = e.do("GET", "/v1/spells/tale", bob, "")
	wantStatus(t, "GET by another user", resp, body, http.StatusForbidden, "forbidden")
	resp, body = e.do("GET", "/v1/spells/tale", analyst, "")
	wantStatus(t, "GET by an analyst", resp, body, http.StatusOK, "")
	resp, body = e.do("GET", "/v1/spells/nope", alice, "")
	wantStatus(t, "GET unknown", resp, body, http.StatusNotFound, "not_found")

	// The list is a read model: it catches up.
	list := func(tok string) []string {
		var ids []string
		resp, body := e.do("GET", "/v1/spells", tok, "")
		wantStatus(t, "GET /v1/spells", resp, body, http.StatusOK, "")
		for _, s := range decode[struct {
			Spells []struct {
				ID      string `json:"id"`
				Version int    `json:"version"`
			} `json:"spells"`
		}](t, body).Spells {
			ids = append(ids, s.ID+"@"+strconv.Itoa(s.Version))
		}
		return ids
	}
	eventually(t, func() bool { return strings.Join(list(alice), ",") == "anon@1,demo@1,tale@2" }, func() string { return strings.Join(list(alice), ",") })
	if got := strings.Join(list(bob), ","); got != "demo@1" {
		t.Fatalf("bob lists %s", got)
	}
	if got := strings.Join(list(analyst), ","); got != "anon@1,demo@1,tale@2" {
		t.Fatalf("the analyst lists %s", got)
	}

	// DELETE: only the owner; the demo, owned by nobody, only an admin.
	resp, body = e.do("DELETE", "/v1/spells/demo", bob, "")
	wantStatus(t, "DELETE the demo", resp, body, http.StatusForbidden, "forbidden")
	resp, body = e.do("PUT", "/v1/spells/demo", token(t, "root", "admin"), string(noID))
	if wantStatus(t, "PUT the demo as an admin", resp, body, http.StatusOK, ""); decode[saved](t, body).Version != 2 {
		t.Fatalf("admin's PUT of the demo: %s", body)
	}
	if resp, body := e.do("GET", "/v1/spells/demo", bob, ""); resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Once upon") {
		t.Fatalf("the demo after the admin's PUT: %d %s", resp.StatusCode, body)
	}
	resp, body = e.do("DELETE", "/v1/spells/tale", bob, "")
	wantStatus(t, "DELETE by another user", resp, body, http.StatusForbidden, "forbidden")
	resp, body = e.do("DELETE", "/v1/spells/tale", alice, "")
	wantStatus(t, "DELETE", resp, body, http.StatusNoContent, "")
	resp, body = e.do("GET", "/v1/spells/tale", alice, "")
	wantStatus(t, "GET deleted", resp, body, http.StatusNotFound, "not_found")
	resp, body = e.do("DELETE", "/v1/spells/tale", alice, "")
	wantStatus(t, "DELETE again", resp, body, http.StatusNotFound, "not_found")
	eventually(t, func() bool { return strings.Join(list(alice), ",") == "anon@1,demo@2" }, func() string { return strings.Join(list(alice), ",") })
}

// A graceful shutdown ends event streams of runs still in progress instead
// of waiting for them.
func TestShutdownEndsStreams(t *testing.T) {
	e := newEnv(t, envOptions{})
	alice := token(t, "alice")
	resp, body := e.do("PUT", "/v1/spells/hangs", alice, string(storySpell("hangs", "hang")))
	wantStatus(t, "PUT", resp, body, http.StatusOK, "")
	req, _ := http.NewRequest("POST", e.URL+"/v1/spells/hangs/runs?mode=stream", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+alice)
	stream, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	sc := bufio.NewScanner(stream.Body)
	for sc.Scan() && !strings.Contains(sc.Text(), `"nodeId":"tell"`) {
	}
	start := time.Now()
	if err := e.Shutdown(); err != nil {
		t.Fatalf("Serve after shutdown: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("shutdown took %v", d)
	}
	for sc.Scan() {
	}
}

func eventually(t testing.TB, ok func() bool, got func() string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", wait, got())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type syncAnswer struct {
	RunID   string         `json:"runId"`
	Status  string         `json:"status"`
	Outputs map[string]any `json:"outputs"`
	NodeID  string         `json:"nodeId"`
	Error   *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func TestRESTRuns(t *testing.T) {
	e := newEnv(t, envOptions{Limits: server.Limits{MaxBodyBytes: 64 << 10, SyncTimeout: 2 * time.Second, MaxRunsPerUser: 2}})
	alice, bob, analyst := token(t, "alice"), token(t, "bob"), token(t, "ann", "analyst")
	for _, s := range []struct{ id, doc string }{{"tale", string(storySpell("tale", ""))}, {"hangs", string(storySpell("hangs", "hang"))}, {"fails", failSpell}} {
		resp, body := e.do("PUT", "/v1/spells/"+s.id, alice, s.doc)
		wantStatus(t, "PUT "+s.id, resp, body, http.StatusOK, "")
	}

	// mode=sync (the default).
	for _, path := range []string{"/v1/spells/tale/runs?mode=sync", "/v1/spells/tale/runs"} {
		resp, body := e.do("POST", path, alice, `{"inputs":{"name":"Ada"}}`)
		wantStatus(t, "POST "+path, resp, body, http.StatusOK, "")
		a := decode[syncAnswer](t, body)
		if a.Status != "completed" || a.Outputs["story"] != "Once upon a time Ada woke up" || a.RunID == "" {
			t.Fatalf("sync: %s", body)
		}
	}
	resp, body := e.do("POST", "/v1/spells/demo/runs?mode=sync", bob, ``)
	if wantStatus(t, "sync without a body", resp, body, http.StatusOK, ""); decode[syncAnswer](t, body).Outputs["greeting"] != "Hello, world!" {
		t.Fatalf("demo: %s", body)
	}
	resp, body = e.do("POST", "/v1/spells/fails/runs?mode=sync", alice, `{}`)
	wantStatus(t, "failing run", resp, body, http.StatusUnprocessableEntity, "run_failed")
	if a := decode[syncAnswer](t, body); a.Status != "failed" || a.NodeID != "code" || !strings.Contains(a.Error.Message, "sandbox") {
		t.Fatalf("failing run: %s", body)
	}
	// A sync run outlasting SyncTimeout answers 202 and goes on.
	resp, body = e.do("POST", "/v1/spells/hangs/runs?mode=sync", alice, `{"runId":"hanging-run-1"}`)
	wantStatus(t, "slow sync run", resp, body, http.StatusAccepted, "")
	if resp.Header.Get("Location") != "/v1/runs/hanging-run-1" {
		t.Fatalf("slow sync: Location %q", resp.Header.Get("Location"))
	}
	if v := runView(t, e, "hanging-run-1"); v.Status != "running" {
		t.Fatalf("hanging run: %+v", v)
	}
	// Per-user limit (2): one hangs, a second hangs, the third is refused.
	resp, body = e.do("POST", "/v1/spells/hangs/runs?mode=async", alice, `{"runId":"hanging-run-2"}`)
	wantStatus(t, "second hanging run", resp, body, http.StatusAccepted, "")
	resp, body = e.do("POST", "/v1/spells/tale/runs?mode=async", alice, `{}`)
	wantStatus(t, "over the per-user limit", resp, body, http.StatusTooManyRequests, "limit_exceeded")
	// DELETE cancels, only for the owner; a finished run is a conflict.
	resp, body = e.do("DELETE", "/v1/runs/hanging-run-1", bob, "")
	wantStatus(t, "cancel by another user", resp, body, http.StatusForbidden, "forbidden")
	resp, body = e.do("DELETE", "/v1/runs/hanging-run-1", analyst, "")
	wantStatus(t, "cancel by an analyst", resp, body, http.StatusForbidden, "forbidden")
	for _, id := range []string{"hanging-run-1", "hanging-run-2"} {
		resp, body = e.do("DELETE", "/v1/runs/"+id, alice, "")
		wantStatus(t, "cancel", resp, body, http.StatusAccepted, "")
		eventually(t, func() bool { return runView(t, e, id).Status == "cancelled" }, func() string { return runView(t, e, id).Status })
	}
	resp, body = e.do("DELETE", "/v1/runs/hanging-run-1", alice, "")
	wantStatus(t, "cancel a finished run", resp, body, http.StatusConflict, "conflict")
	resp, body = e.do("DELETE", "/v1/runs/no-such-run", alice, "")
	wantStatus(t, "cancel an unknown run", resp, body, http.StatusNotFound, "not_found")

	// mode=async, then GET the run.
	var async struct {
		RunID  string `json:"runId"`
		Status string `json:"status"`
	}
	eventually(t, func() bool {
		resp, body = e.do("POST", "/v1/spells/tale/runs?mode=async", alice, `{"inputs":{"name":"Bo"}}`)
		return resp.StatusCode == http.StatusAccepted
	}, func() string { return string(body) })
	json.Unmarshal(body, &async)
	if resp.Header.Get("Location") != "/v1/runs/"+async.RunID || async.Status != "running" {
		t.Fatalf("async: %s %v", body, resp.Header)
	}
	eventually(t, func() bool { return runView(t, e, async.RunID).Status == "completed" }, func() string { return runView(t, e, async.RunID).Status })
	resp, body = e.do("GET", "/v1/runs/"+async.RunID, alice, "")
	wantStatus(t, "GET run", resp, body, http.StatusOK, "")
	v := decode[runState](t, body)
	if v.SpellID != "tale" || v.Outputs["story"] != "Once upon a time Bo woke up" || v.LastSeq < 10 || len(v.Nodes) < 4 {
		t.Fatalf("GET run: %s", body)
	}
	for _, n := range v.Nodes {
		if n.Status != "completed" {
			t.Fatalf("GET run: node %+v", n)
		}
	}
	resp, body = e.do("GET", "/v1/runs/"+async.RunID, bob, "")
	wantStatus(t, "GET another user's run", resp, body, http.StatusForbidden, "forbidden")
	resp, body = e.do("GET", "/v1/runs/"+async.RunID, analyst, "")
	wantStatus(t, "GET as an analyst", resp, body, http.StatusOK, "")
	resp, body = e.do("GET", "/v1/runs/no-such-run", alice, "")
	wantStatus(t, "GET unknown run", resp, body, http.StatusNotFound, "not_found")

	// GET /v1/runs/{id}/events: NDJSON, from after=SEQ.
	ndjson := func(query string) []protocol.Message {
		resp, body := e.do("GET", "/v1/runs/"+async.RunID+"/events"+query, alice, "")
		wantStatus(t, "events"+query, resp, body, http.StatusOK, "")
		if ct := resp.Header.Get("Content-Type"); ct != "application/x-ndjson" {
			t.Fatalf("events: Content-Type %q", ct)
		}
		var ms []protocol.Message
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			ms = append(ms, decode[protocol.Message](t, sc.Bytes()))
		}
		return ms
	}
	all := ndjson("")
	checkSeqs(t, all, 1)
	if uint64(len(all)) != v.LastSeq || all[len(all)-1].Type != protocol.RunCompleted {
		t.Fatalf("NDJSON: %s", types(all))
	}
	checkSeqs(t, ndjson("?after=3"), 4)
	if n := len(ndjson("?after=999")); n != 0 {
		t.Fatalf("after the end: %d events", n)
	}
	resp, body = e.do("GET", "/v1/runs/"+async.RunID+"/events?after=x", alice, "")
	wantStatus(t, "after=x", resp, body, http.StatusBadRequest, "bad_request")
	resp, body = e.do("GET", "/v1/runs/"+async.RunID+"/events", bob, "")
	wantStatus(t, "events of another user's run", resp, body, http.StatusForbidden, "forbidden")

	// SSE of a finished run: replays, then ends; Last-Event-ID resumes.
	sse := readSSE(t, e, "/v1/runs/"+async.RunID+"/events", alice, "GET", "", "")
	checkSeqs(t, sse, 1)
	if len(sse) != len(all) || len(sse[len(sse)-1].Nodes) == 0 {
		t.Fatalf("SSE: %s", types(sse))
	}
	checkSeqs(t, readSSE(t, e, "/v1/runs/"+async.RunID+"/events", alice, "GET", "", "5"), 6)

	// mode=stream: the run's events as they happen.
	stream := readSSE(t, e, "/v1/spells/tale/runs?mode=stream", alice, "POST", `{"inputs":{"name":"Cy"}}`, "")
	checkSeqs(t, stream, 1)
	if last := stream[len(stream)-1]; last.Type != protocol.RunCompleted || last.Outputs["story"] != "Once upon a time Cy woke up" {
		t.Fatalf("stream: %s", types(stream))
	}

	// Bad requests.
	for _, tc := range []struct {
		name, path, body string
		status           int
		code             string
	}{
		{"bad mode", "/v1/spells/tale/runs?mode=later", `{}`, http.StatusBadRequest, "bad_request"},
		{"inputs not an object", "/v1/spells/tale/runs", `{"inputs":5}`, http.StatusBadRequest, "bad_request"},
		{"body not JSON", "/v1/spells/tale/runs", `{"inputs":`, http.StatusBadRequest, "bad_request"},
		{"bad run id", "/v1/spells/tale/runs", `{"runId":"../x"}`, http.StatusBadRequest, "bad_request"},
		{"run id taken", "/v1/spells/tale/runs", `{"runId":"hanging-run-1"}`, http.StatusConflict, "conflict"},
		{"unknown spell", "/v1/spells/nope/runs", `{}`, http.StatusNotFound, "not_found"},
		{"oversized", "/v1/spells/tale/runs", `{"inputs":{"name":"` + strings.Repeat("x", 70<<10) + `"}}`, http.StatusRequestEntityTooLarge, "payload_too_large"},
	} {
		resp, body := e.do("POST", tc.path, alice, tc.body)
		wantStatus(t, tc.name, resp, body, tc.status, tc.code)
	}
	resp, body = e.do("POST", "/v1/spells/tale/runs", bob, `{}`)
	wantStatus(t, "another user's spell", resp, body, http.StatusForbidden, "forbidden")
}

// readSSE reads an event stream to its end and checks each SSE event's id
// and name against the message it carries.
func readSSE(t testing.TB, e *env, path, tok, method, body, lastEventID string) []protocol.Message {
	t.Helper()
	req, _ := http.NewRequest(method, e.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "text/event-stream")
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := (&http.Client{Timeout: wait}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("SSE %s: HTTP %d %v", path, resp.StatusCode, resp.Header)
	}
	var (
		out       []protocol.Message
		id, event string
	)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "id: "):
			id = line[4:]
		case strings.HasPrefix(line, "event: "):
			event = line[7:]
		case strings.HasPrefix(line, "data: "):
			m := decode[protocol.Message](t, []byte(line[6:]))
			if m.Type != event || strconv.FormatUint(m.Seq, 10) != id {
				t.Fatalf("SSE event %q id %s carries %s seq %d", event, id, m.Type, m.Seq)
			}
			out = append(out, m)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("SSE %s: %v", path, err)
	}
	if len(out) == 0 || !out[len(out)-1].Terminal() {
		t.Fatalf("SSE %s ended without a terminal event: %s", path, types(out))
	}
	return out
}
