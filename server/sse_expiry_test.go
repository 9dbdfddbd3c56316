package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/server/auth"
)

// An SSE stream ends when its token expires, with an error event that says
// why, while the run it followed goes on; the global log's follow too.
func TestSSEStreamsEndWhenTheirTokenExpires(t *testing.T) {
	e := newEnv(t, envOptions{})
	alice := token(t, "alice")
	e.mustPut("hanging", alice, string(storySpell("hanging", "hang")))
	resp, body := e.do("POST", "/v1/spells/hanging/runs?mode=async", alice, `{"inputs": {"name": "Ada"}}`)
	var acc struct {
		RunID string `json:"runId"`
	}
	if resp.StatusCode != http.StatusAccepted || json.Unmarshal(body, &acc) != nil || acc.RunID == "" {
		t.Fatalf("start: %d %s", resp.StatusCode, body)
	}
	t.Cleanup(func() { e.do("DELETE", "/v1/runs/"+acc.RunID, alice, "") })

	for _, tc := range []struct {
		what, path string
		roles      []string
	}{
		{"a run's events", "/v1/runs/" + acc.RunID + "/events", nil},
		{"the global log", "/v1/events?from=0", []string{"analyst"}},
	} {
		// Tokens count in seconds: this one expires in 1 to 2 s.
		short, err := auth.Issue(secret, "alice", tc.roles, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		begin := time.Now()
		resp, body := e.do("GET", tc.path, short, "", "Accept", "text/event-stream")
		took := time.Since(begin)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", tc.what, resp.StatusCode, body)
		}
		if !strings.HasSuffix(string(body), "event: error\ndata: {\"error\":{\"code\":\"unauthorized\",\"message\":\"the token expired: reconnect with a fresh one (Last-Event-ID resumes where this stream ended)\"}}\n\n") {
			t.Fatalf("%s: the stream did not end with the expiry error:\n%s", tc.what, body)
		}
		if took > 5*time.Second {
			t.Errorf("%s: the stream ended %v after it began, its token lived at most 2 s", tc.what, took)
		}
	}
	// The run itself goes on: it is still running.
	resp, body = e.do("GET", "/v1/runs/"+acc.RunID, alice, "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"status":"running"`) {
		t.Fatalf("the run after its stream ended: %d %s", resp.StatusCode, body)
	}
}
