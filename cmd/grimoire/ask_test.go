package main

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const askSpell = `{"format":"grimoire/spell@1","id":"approve","nodes":[
  {"id":"start","type":"Module Trigger In","config":{"name":"start"}},
  {"id":"draft","type":"Input","config":{"name":"draft","default":"a post"}},
  {"id":"ask","type":"Ask","config":{"prompt":"Publish {{context}}?","schema":{"type":"boolean"}}},
  {"id":"decision","type":"Output","config":{"name":"decision"}}],
 "edges":[{"from":"start.trigger","to":"ask.trigger"},{"from":"draft.output","to":"ask.context"},
  {"from":"ask.trigger","to":"decision.trigger"},{"from":"ask.answer","to":"decision.input"}]}`

// TestARunWaitsThroughAKilledServer: a run waits for an answer in `grimoire
// serve`; the server is killed (SIGKILL) and started again on the same data
// directory; the answer given to the new process finishes the run.
func TestARunWaitsThroughAKilledServer(t *testing.T) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(t.TempDir(), "data")
	base, serve, _ := startServeProcess(t, repo, data, nil)

	tokOut, err := cliProcess(repo, data, "token", "create", "--user", "alice").Output()
	if err != nil {
		t.Fatalf("token create: %v", err)
	}
	tok := strings.TrimSpace(string(tokOut))
	call := func(base, method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := call(base, "PUT", "/v1/spells/approve", askSpell); code != http.StatusOK {
		t.Fatalf("PUT spell: %d %s", code, body)
	}
	code, body := call(base, "POST", "/v1/spells/approve/runs?mode=sync", `{"inputs":{"draft":"the post"}}`)
	var started struct {
		RunID  string `json:"runId"`
		Status string `json:"status"`
	}
	if json.Unmarshal([]byte(body), &started); code != http.StatusAccepted || started.Status != "waiting" {
		t.Fatalf("run: %d %s", code, body)
	}

	serve.Process.Signal(syscall.SIGKILL)
	serve.Wait()
	base, _, stop := startServeProcess(t, repo, data, nil)
	defer stop()

	status := func() (string, string) {
		_, body := call(base, "GET", "/v1/runs/"+started.RunID, "")
		var v struct {
			Status string `json:"status"`
		}
		json.Unmarshal([]byte(body), &v)
		return v.Status, body
	}
	if s, body := status(); s != "waiting" {
		t.Fatalf("after the restart the run is %q, want waiting: %s", s, body)
	}
	if code, body := call(base, "POST", "/v1/runs/"+started.RunID+"/answers", `{"nodeId":"ask","value":"yes"}`); code != http.StatusBadRequest || !strings.Contains(body, "invalid_answer") {
		t.Fatalf("invalid answer: %d %s", code, body)
	}
	if code, body := call(base, "POST", "/v1/runs/"+started.RunID+"/answers", `{"nodeId":"ask","value":true}`); code != http.StatusAccepted {
		t.Fatalf("answer: %d %s", code, body)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, body := status()
		if s == "completed" {
			if !strings.Contains(body, `"decision":true`) {
				t.Fatalf("completed run: %s", body)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("run did not complete after the answer: %s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
