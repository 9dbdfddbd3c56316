package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRunChatExampleAgainstTheDevLLM: the example chat spell runs with
// --dev-llm and nothing configured, and the answer is the stand-in's echo.
func TestRunChatExampleAgainstTheDevLLM(t *testing.T) {
	data := t.TempDir()
	out, errs, code := cli(t, data, "run", "../../examples/chat.json", "--dev-llm", "--dev-llm-rate", "0", "--input", "question=What is a spell?")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if strings.TrimSpace(out) != `{"answer":"What is a spell?"}` {
		t.Errorf("stdout %q", out)
	}
	if !strings.Contains(errs, "development stand-in") {
		t.Errorf("stderr does not say the model is a stand-in: %q", errs)
	}
	runID := regexp.MustCompile(`run: (\S+)`).FindStringSubmatch(errs)[1]
	if n := count(runEvents(t, data, runID), "NodeCompleted", "llm"); n != 1 {
		t.Errorf("llm completed %d times", n)
	}
}

// TestRunRetriesADevLLMFault: a stand-in told to fail its first request
// makes the completion client retry, and the run still completes.
func TestRunRetriesADevLLMFault(t *testing.T) {
	out, errs, code := cli(t, t.TempDir(), "run", "../../examples/chat.json", "--dev-llm", "--dev-llm-rate", "0",
		"--dev-llm-fault", "error", "--input", "question=again")
	if code != 0 || strings.TrimSpace(out) != `{"answer":"again"}` {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if !strings.Contains(errs, "retrying inference call") || !strings.Contains(errs, "status 500") {
		t.Errorf("stderr does not show the retry: %q", errs)
	}
}

func TestDevLLMRefusesBadSettings(t *testing.T) {
	for _, args := range [][]string{
		{"dev-llm", "--fault", "explode"},
		{"dev-llm", "--rate", "-1"},
		{"run", "../../examples/chat.json", "--dev-llm", "--dev-llm-fault-endpoint", "images", "--dev-llm-fault", "stall"},
	} {
		_, errs, code := cli(t, t.TempDir(), args...)
		if code != 1 || !strings.Contains(errs, "grimoire:") {
			t.Errorf("%v: exit %d, stderr %q", args, code, errs)
		}
	}
}

// TestDevLLMServes: the standalone command answers chat, streams, lists
// its model, takes scripted faults over HTTP and stops with its context.
func TestDevLLMServes(t *testing.T) {
	pr, pw := io.Pipe()
	env := &cliEnv{stdout: io.Discard, stderr: pw, getenv: func(string) string { return "" }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- runCLI(ctx, env, []string{"dev-llm", "--addr", "127.0.0.1:0", "--rate", "0", "--reply", "canned answer"})
		pw.Close()
	}()
	banner := make([]byte, 4096)
	n, _ := pr.Read(banner)
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	m := regexp.MustCompile(`on (http://\S+)/v1`).FindSubmatch(banner[:n])
	if m == nil {
		cancel()
		t.Fatalf("banner %q", banner[:n])
	}
	base := string(m[1])
	post := func(path, body string) (int, string) {
		t.Helper()
		resp, err := http.Post(base+path, "application/json", bytes.NewBufferString(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	chat := `{"model":"m","messages":[{"role":"user","content":"hi"}]}`
	status, body := post("/v1/chat/completions", chat)
	var reply struct {
		Choices []struct{ Message struct{ Content string } }
		Usage   struct {
			TotalTokens int `json:"total_tokens"`
		}
	}
	if err := json.Unmarshal([]byte(body), &reply); status != 200 || err != nil || len(reply.Choices) != 1 ||
		reply.Choices[0].Message.Content != "canned answer" || reply.Usage.TotalTokens == 0 {
		t.Fatalf("chat: %d %s", status, body)
	}
	if status, body := post("/dev/faults", `{"fault":"rate-limit","count":1}`); status != 200 || !strings.Contains(body, `"queued":1`) {
		t.Fatalf("faults: %d %s", status, body)
	}
	if status, _ := post("/v1/chat/completions", chat); status != http.StatusTooManyRequests {
		t.Errorf("scripted fault: status %d, want 429", status)
	}
	if status, _ := post("/v1/chat/completions", chat); status != 200 {
		t.Errorf("after the fault: status %d", status)
	}
	if status, body := post("/dev/faults", `{"fault":"explode"}`); status != 400 || !strings.Contains(body, "unknown fault") {
		t.Errorf("bad fault: %d %s", status, body)
	}
	resp, err := http.Get(base + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	models, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(models), devLLMModel) {
		t.Errorf("models %s", models)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("dev-llm did not stop with its context")
	}
}

// TestRunFollowShowsNodesAndTokens: --follow shows each node and the
// streamed tokens on stderr; --json prints every event as a JSON line,
// the last the run's end with its outputs.
func TestRunFollowShowsNodesAndTokens(t *testing.T) {
	data := t.TempDir()
	out, errs, code := cli(t, data, "run", "../../examples/chat.json", "--dev-llm", "--dev-llm-rate", "200", "--follow", "--input", "question=What is a spell?")
	if code != 0 || strings.TrimSpace(out) != `{"answer":"What is a spell?"}` {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
	for _, want := range []string{"▸ llm (Chat Completion)", "  llm │ What is a spell?\n", "✓ llm ", "✓ answer ", "completed"} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	out, errs, code = cli(t, data, "run", "../../examples/hello.json", "--json", "--input", "name=Ada")
	if code != 0 {
		t.Fatalf("--json: exit %d, stderr %q", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var types []string
	var last struct {
		Type    string
		Outputs map[string]any
	}
	for _, l := range lines {
		if err := json.Unmarshal([]byte(l), &last); err != nil {
			t.Fatalf("line %q is not JSON: %v", l, err)
		}
		types = append(types, last.Type)
	}
	if types[0] != "run:start" || last.Type != "run:completed" || last.Outputs["greeting"] != "Hello, Ada!" || !slices.Contains(types, "node:end") {
		t.Errorf("--json events %v, last %+v", types, last)
	}
}
