package server_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/server"
	"github.com/grimoire-run/grimoire/server/protocol"
)

// finishedRun runs the demo for tok's user with no inputs and returns its
// NDJSON messages (raw lines and decoded).
func finishedRun(t *testing.T, e *env, tok, runID string) ([]string, []protocol.Message) {
	t.Helper()
	resp, body := e.do("POST", "/v1/spells/demo/runs?mode=sync", tok, `{"runId":"`+runID+`"}`)
	wantStatus(t, "run the demo", resp, body, http.StatusOK, "")
	return finishedRunEvents(t, e, tok, runID)
}

// finishedRunEvents reads a finished run's NDJSON messages (raw lines and
// decoded).
func finishedRunEvents(t *testing.T, e *env, tok, runID string) ([]string, []protocol.Message) {
	t.Helper()
	resp, body := e.do("GET", "/v1/runs/"+runID+"/events", tok, "")
	wantStatus(t, "NDJSON", resp, body, http.StatusOK, "")
	var (
		lines []string
		ms    []protocol.Message
	)
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		ms = append(ms, decode[protocol.Message](t, sc.Bytes()))
	}
	if len(ms) == 0 || ms[len(ms)-1].Type != protocol.RunCompleted {
		t.Fatalf("NDJSON of %s: %s", runID, types(ms))
	}
	return lines, ms
}

// A follow (SSE) of a finished run ends once everything after `after` was
// sent, also when nothing is left: then with 204, which stops an
// EventSource from reconnecting.
func TestSSEFollowOfFinishedRunEnds(t *testing.T) {
	e := newEnv(t, envOptions{})
	alice := token(t, "alice")
	_, all := finishedRun(t, e, alice, "finished-run-1")
	last := all[len(all)-1].Seq

	get := func(t *testing.T, query, lastEventID string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", e.URL+"/v1/runs/finished-run-1/events"+query, nil)
		req.Header.Set("Authorization", "Bearer "+alice)
		req.Header.Set("Accept", "text/event-stream")
		if lastEventID != "" {
			req.Header.Set("Last-Event-ID", lastEventID)
		}
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
		if err != nil {
			t.Fatalf("SSE %s: %v", query, err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("SSE %s did not end: %v", query, err)
		}
		return resp, body
	}
	for _, tc := range []struct {
		name, query, lastEventID string
	}{
		{"after the terminal message", "?after=" + strconv.FormatUint(last, 10), ""},
		{"after past the end", "?after=" + strconv.FormatUint(last+100, 10), ""},
		{"Last-Event-ID of the terminal message", "", strconv.FormatUint(last, 10)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := get(t, tc.query, tc.lastEventID)
			if resp.StatusCode != http.StatusNoContent || len(body) != 0 {
				t.Fatalf("HTTP %d %q, want 204 and no body", resp.StatusCode, body)
			}
		})
	}
	t.Run("only the terminal message left", func(t *testing.T) {
		ms := readSSE(t, e, "/v1/runs/finished-run-1/events?after="+strconv.FormatUint(last-1, 10), alice, "GET", "", "")
		if len(ms) != 1 || ms[0].Seq != last {
			t.Fatalf("got %s, want the terminal message alone", types(ms))
		}
	})
}

// run:completed is the same message in NDJSON, SSE and on the socket: with
// every node's cached outputs, whatever `after` was.
func TestRunCompletedSameOnEveryTransport(t *testing.T) {
	e := newEnv(t, envOptions{})
	alice := token(t, "alice")
	_, all := finishedRun(t, e, alice, "same-message-1")
	ndjson := all[len(all)-1]
	if len(ndjson.Nodes) < 3 {
		t.Fatalf("NDJSON run:completed has nodes %+v", ndjson.Nodes)
	}
	greeted := false
	for _, n := range ndjson.Nodes {
		greeted = greeted || (n.NodeID == "greet" && n.Outputs["output"] == "Hello, world!")
	}
	if !greeted {
		t.Fatalf("NDJSON run:completed nodes lack greet's output: %+v", ndjson.Nodes)
	}
	prev := strconv.FormatUint(ndjson.Seq-1, 10)

	resp, body := e.do("GET", "/v1/runs/same-message-1/events?after="+prev, alice, "")
	wantStatus(t, "NDJSON after="+prev, resp, body, http.StatusOK, "")
	tail := decode[protocol.Message](t, bytes.TrimSpace(body))
	sse := readSSE(t, e, "/v1/runs/same-message-1/events", alice, "GET", "", "")
	sseTail := readSSE(t, e, "/v1/runs/same-message-1/events?after="+prev, alice, "GET", "", "")
	for name, m := range map[string]protocol.Message{"NDJSON after=" + prev: tail, "SSE": sse[len(sse)-1], "SSE after=" + prev: sseTail[0]} {
		if !reflect.DeepEqual(m, ndjson) {
			t.Errorf("%s run:completed differs from NDJSON's:\n%+v\n%+v", name, m, ndjson)
		}
	}
}

// run:start always carries an inputs object, {} for a run without inputs.
func TestRunStartInputsIsAnObject(t *testing.T) {
	e := newEnv(t, envOptions{})
	alice := token(t, "alice")
	lines, _ := finishedRun(t, e, alice, "no-inputs-1")
	var start map[string]json.RawMessage
	if err := json.Unmarshal([]byte(lines[0]), &start); err != nil {
		t.Fatal(err)
	}
	if string(start["type"]) != `"run:start"` || string(start["inputs"]) != "{}" {
		t.Fatalf("run:start %s, want \"inputs\":{}", lines[0])
	}
	resp, body := e.do("GET", "/v1/runs/no-inputs-1", alice, "")
	wantStatus(t, "GET run", resp, body, http.StatusOK, "")
	if !strings.Contains(string(body), `"inputs":{}`) {
		t.Fatalf("GET run: %s", body)
	}
}

// Both run limits, the user's and the server's, answer 429 limit_exceeded
// with Retry-After.
func TestRunLimitsAnswer429WithRetryAfter(t *testing.T) {
	e := newEnv(t, envOptions{MaxRuns: 1, Limits: server.Limits{MaxRunsPerUser: 1}})
	alice, bob := token(t, "alice"), token(t, "bob")
	resp, body := e.do("PUT", "/v1/spells/hangs", alice, string(storySpell("hangs", "hang")))
	wantStatus(t, "PUT", resp, body, http.StatusOK, "")
	resp, body = e.do("POST", "/v1/spells/hangs/runs?mode=async", alice, `{"runId":"hanging-limit-1"}`)
	wantStatus(t, "hanging run", resp, body, http.StatusAccepted, "")
	for _, tc := range []struct{ name, tok string }{
		{"the user's limit", alice},
		{"the server's limit", bob},
	} {
		resp, body := e.do("POST", "/v1/spells/demo/runs?mode=async", tc.tok, `{}`)
		wantStatus(t, tc.name, resp, body, http.StatusTooManyRequests, "limit_exceeded")
		if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 {
			t.Errorf("%s: Retry-After %q", tc.name, resp.Header.Get("Retry-After"))
		}
	}
	resp, body = e.do("DELETE", "/v1/runs/hanging-limit-1", alice, "")
	wantStatus(t, "cancel", resp, body, http.StatusAccepted, "")
	eventually(t, func() bool {
		resp, _ := e.do("POST", "/v1/spells/demo/runs?mode=sync", bob, `{}`)
		return resp.StatusCode == http.StatusOK
	}, func() string { return "bob's run still refused after the cancel" })
}
