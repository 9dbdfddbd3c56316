package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/server/auth"
)

// cli runs one command in-process with its own data directory and returns
// stdout, stderr and the exit code.
func cli(t *testing.T, data string, args ...string) (string, string, int) {
	t.Helper()
	return cliWithEnv(t, map[string]string{envData: data}, args...)
}

// cliWithEnv runs one command with exactly the given environment.
func cliWithEnv(t *testing.T, vars map[string]string, args ...string) (string, string, int) {
	t.Helper()
	// Logs (from run goroutines) and the command write stderr at once, as
	// they do to os.Stderr: the buffers are locked.
	var out, errb lockedBuffer
	env := &cliEnv{stdout: &out, stderr: &errb, getenv: func(k string) string { return vars[k] }}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := runCLI(ctx, env, args)
	return out.String(), errb.String(), code
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestValidateExamples(t *testing.T) {
	for _, f := range []string{"hello", "shout", "uses-subspell", "thoth-gate", "chat"} {
		out, errs, code := cli(t, t.TempDir(), "validate", "../../examples/"+f+".json")
		if code != 0 || strings.TrimSpace(out) != "ok" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", f, code, out, errs)
		}
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	bad := writeFile(t, "bad.json", `{"format":"grimoire/spell@1","id":"bad","nodes":[
	  {"id":"a","type":"No Such Node"},
	  {"id":"t","type":"Code","config":{}},
	  {"id":"o","type":"Output"}],
	 "edges":[{"from":"t.output","to":"o.nope"},{"from":"ghost.output","to":"o.input"}]}`)
	out, _, code := cli(t, t.TempDir(), "validate", bad)
	if code != 1 {
		t.Fatalf("exit %d, want 1; stdout %s", code, out)
	}
	for _, want := range []string{`node "a"`, "No Such Node", `node "t"`, "code", `"nope"`, `"ghost"`} {
		if !strings.Contains(out, want) {
			t.Errorf("validate output lacks %q:\n%s", want, out)
		}
	}

	malformed := writeFile(t, "broken.json", "{\n  \"id\": \"x\",\n  \"nodes\": [ }\n")
	out, _, code = cli(t, t.TempDir(), "validate", malformed)
	if code != 1 || !regexp.MustCompile(`line 3`).MatchString(out) {
		t.Errorf("malformed JSON: exit %d, output %q; want exit 1 and the line", code, out)
	}
}

func TestValidateCatchesTyposAndSyntaxErrors(t *testing.T) {
	bad := writeFile(t, "typos.json", `{"format":"grimoire/spell@1","id":"typos","nodes":[
	  {"id":"greet","type":"Text Templte","config":{"template":"hi"}},
	  {"id":"code","type":"Code","config":{"code":"function worker({input}) {\n  return { output: input + }\n}"}}]}`)
	out, _, code := cli(t, t.TempDir(), "validate", bad)
	if code != 1 {
		t.Fatalf("exit %d, want 1; stdout %s", code, out)
	}
	for _, want := range []string{`did you mean "Text Template"?`, `config "code" does not parse as JavaScript: SyntaxError`, "line 2"} {
		if !strings.Contains(out, want) {
			t.Errorf("validate output lacks %q:\n%s", want, out)
		}
	}
	// --json: the same problems as a list, each with its node and field.
	out, _, code = cli(t, t.TempDir(), "validate", "--json", bad, "../../examples/hello.json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 1 || len(lines) != 2 {
		t.Fatalf("--json: exit %d\n%s", code, out)
	}
	var first, second validation
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range first.Problems {
		got[p.NodeID+" "+p.Field] = p.Message
	}
	if first.OK || !strings.Contains(got["greet type"], `did you mean "Text Template"?`) || !strings.Contains(got["code config"], "line 2") {
		t.Errorf("--json problems: %+v", first)
	}
	if !second.OK || len(second.Problems) != 0 {
		t.Errorf("--json good file: %+v", second)
	}
}

func TestRunRefusesInputsTheSpellDoesNotRead(t *testing.T) {
	data := t.TempDir()
	_, errs, code := cli(t, data, "run", "../../examples/hello.json", "--input", "nmae=Ada")
	if code != 1 || !strings.Contains(errs, `unknown input "nmae" (did you mean "name"?): the spell's inputs are "name"`) {
		t.Fatalf("typo: exit %d, stderr %q", code, errs)
	}
	if regexp.MustCompile(`(?m)^run: `).MatchString(errs) {
		t.Errorf("a refused run was started: %q", errs)
	}
	out, errs, code := cli(t, data, "run", "../../examples/hello.json", "--input", "nmae=Ada", "--allow-extra-inputs")
	if code != 0 || !strings.Contains(out, "Hello, world!") {
		t.Fatalf("--allow-extra-inputs: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

func TestRunExamples(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want map[string]any
	}{
		{"native", []string{"../../examples/hello.json", "--input", "name=Ada"}, map[string]any{"greeting": "Hello, Ada!"}},
		{"default input", []string{"../../examples/hello.json"}, map[string]any{"greeting": "Hello, world!"}},
		{"thoth gate false branch", []string{"../../examples/thoth-gate.json", "--input", "Input - Default=hi"}, map[string]any{"short": 2.0}},
		{"thoth gate true branch", []string{"../../examples/thoth-gate.json", "--input", "Input - Default=hello world"}, map[string]any{"long": 11.0}},
		{"sub-spell", []string{"../../examples/uses-subspell.json", "--spells", "../../examples", "--input", "text=grimoire"}, map[string]any{"result": "The spell said: GRIMOIRE!"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := t.TempDir()
			out, errs, code := cli(t, data, append([]string{"run"}, c.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("stdout is not one JSON object: %q", out)
			}
			if !jsonEqual(got, c.want) {
				t.Errorf("outputs %v, want %v", got, c.want)
			}
			m := regexp.MustCompile(`run: (\S+)`).FindStringSubmatch(errs)
			if m == nil {
				t.Fatalf("stderr does not name the run: %q", errs)
			}
			assertRecorded(t, data, m[1])
		})
	}
}

// assertRecorded opens the data directory the CLI wrote and checks that the
// run's stream holds its whole history, from request to completion.
func assertRecorded(t *testing.T, data, runID string) {
	t.Helper()
	evs := runEvents(t, data, runID)
	if len(evs) < 3 || count(evs[:1], "RunRequested", "") != 1 || count(evs[len(evs)-1:], "RunCompleted", "") != 1 ||
		count(evs, "NodeCompleted", "")+count(evs, "NodeCacheHit", "") == 0 {
		t.Errorf("run stream: %v", evs)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func TestRunFailureNamesTheNode(t *testing.T) {
	spell := writeFile(t, "throws.json", `{"format":"grimoire/spell@1","id":"throws","nodes":[
	  {"id":"in","type":"Input","config":{"name":"x"}},
	  {"id":"boom","type":"Code","config":{"code":"function worker() { throw new Error('the oracle is silent') }"},"outputs":[{"key":"y","kind":"data"}]},
	  {"id":"out","type":"Output"}],
	 "edges":[{"from":"in.trigger","to":"boom.trigger"},{"from":"boom.trigger","to":"out.trigger"},{"from":"boom.y","to":"out.input"}]}`)
	out, errs, code := cli(t, t.TempDir(), "run", spell, "--input", "x=1")
	if code == 0 {
		t.Fatalf("exit 0, stdout %q", out)
	}
	if !strings.Contains(errs, "boom") || !strings.Contains(errs, "the oracle is silent") {
		t.Errorf("stderr %q should name node boom and the error", errs)
	}
	if out != "" {
		t.Errorf("stdout %q, want nothing on failure", out)
	}
}

func TestRunInputsJSONKeepsOrder(t *testing.T) {
	inputs := writeFile(t, "inputs.json", `{"name": "Grace"}`)
	out, errs, code := cli(t, t.TempDir(), "run", "../../examples/hello.json", "--inputs-json", inputs)
	if code != 0 || strings.TrimSpace(out) != `{"greeting":"Hello, Grace!"}` {
		t.Fatalf("exit %d stdout %q stderr %q", code, out, errs)
	}
	_, errs, code = cli(t, t.TempDir(), "run", "../../examples/hello.json", "--inputs-json", writeFile(t, "bad.json", `[1,2]`))
	if code == 0 || !strings.Contains(errs, "JSON object") {
		t.Errorf("array inputs: exit %d stderr %q", code, errs)
	}
}

func TestNodesJSON(t *testing.T) {
	out, _, code := cli(t, t.TempDir(), "nodes", "--json")
	if code != 0 {
		t.Fatal("exit", code)
	}
	var types []struct {
		Name    string   `json:"name"`
		Aliases []string `json:"aliases"`
	}
	if err := json.Unmarshal([]byte(out), &types); err != nil {
		t.Fatalf("nodes --json: %v", err)
	}
	names := map[string]bool{}
	for _, nt := range types {
		names[nt.Name] = true
		for _, a := range nt.Aliases {
			names[a] = true
		}
	}
	for _, want := range []string{"Module Trigger In", "Universal Input", "Output", "Text Template", "Boolean Gate", "Switch", "Exclusive Gate", "Wait For All", "Code", "Spell", "Generator"} {
		if !names[want] {
			t.Errorf("nodes --json lacks %q", want)
		}
	}
}

func TestTokenCreateUsesTheDataDirSecret(t *testing.T) {
	data := t.TempDir()
	// A directory no server has used has no secret: a token signed with a
	// new one would never verify, so create refuses unless told --init.
	if out, errs, code := cli(t, data, "token", "create", "--user", "alice"); code != 1 || out != "" ||
		!strings.Contains(errs, "no JWT secret") || !strings.Contains(errs, "--init") {
		t.Fatalf("no secret: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	out, errs, code := cli(t, data, "token", "create", "--user", "alice", "--role", "analyst", "--ttl", "1h", "--init")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	secret, err := auth.LoadSecret(data)
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.VerifierOptions{HS256Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	id, err := v.Verify(context.Background(), strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("token does not verify: %v", err)
	}
	if id.User != "alice" || !id.HasRole("analyst") {
		t.Errorf("identity %+v", id)
	}
	if _, errs, code := cli(t, data, "token", "create"); code != 2 || !strings.Contains(errs, "--user") {
		t.Errorf("missing --user: exit %d %q", code, errs)
	}
}

func TestUnknownCommand(t *testing.T) {
	_, errs, code := cli(t, t.TempDir(), "frobnicate")
	if code != 2 || !strings.Contains(errs, `unknown command "frobnicate"`) {
		t.Errorf("exit %d stderr %q", code, errs)
	}
}

// TestServeDemo starts `grimoire serve` on a free port and runs the demo
// spell over REST with a token from `grimoire token create`.
func TestServeDemo(t *testing.T) {
	data := t.TempDir()
	pr, pw := io.Pipe()
	env := &cliEnv{stdout: io.Discard, stderr: pw, getenv: func(k string) string {
		if k == envData {
			return data
		}
		return ""
	}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- runCLI(ctx, env, []string{"serve", "--addr", "127.0.0.1:0"}); pw.Close() }()
	defer func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("serve exited %d", code)
			}
		case <-time.After(20 * time.Second):
			t.Error("serve did not stop within 20s of its context ending")
		}
	}()

	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := regexp.MustCompile(`serving on (http://\S+)`).FindStringSubmatch(sc.Text()); m != nil {
				urlc <- m[1]
			}
		}
	}()
	var base string
	select {
	case base = <-urlc:
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not print its address")
	}

	tok, errs, code := cli(t, data, "token", "create", "--user", "alice")
	if code != 0 {
		t.Fatal(errs)
	}
	req, _ := http.NewRequest("POST", base+"/v1/spells/demo/runs?mode=sync", strings.NewReader(`{"inputs":{"name":"Ada"}}`))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(tok))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		RunID   string         `json:"runId"`
		Outputs map[string]any `json:"outputs"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != 200 {
		t.Fatalf("status %d, decode %v", resp.StatusCode, err)
	}
	if got.RunID == "" || !jsonEqual(got.Outputs, map[string]any{"greeting": "Hello, Ada!", "letters": 8}) {
		t.Errorf("sync run: %+v", got)
	}

	resp2, err := http.Get(base + "/v1/spells")
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: status %d, want 401", resp2.StatusCode)
	}
}

func TestImportSavesVersions(t *testing.T) {
	data := t.TempDir()
	out, errs, code := cli(t, data, "import", "../../examples/hello.json", "../../examples/thoth-gate.json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "spell hello version 1 sha256:") || !strings.Contains(out, "version 1") {
		t.Errorf("import printed %q", out)
	}
	// Unchanged: the same version again.
	out, _, _ = cli(t, data, "import", "../../examples/hello.json")
	if !strings.Contains(out, "spell hello version 1 ") {
		t.Errorf("re-import printed %q, want version 1 again", out)
	}
	// A spell saved in the library runs as a sub-spell without --spells.
	if _, errs, code := cli(t, data, "import", "../../examples/shout.json"); code != 0 {
		t.Fatal(errs)
	}
	out, errs, code = cli(t, data, "run", "../../examples/uses-subspell.json", "--input", "text=hi")
	if code != 0 || strings.TrimSpace(out) != `{"result":"The spell said: HI!"}` {
		t.Errorf("sub-spell from the library: exit %d out %q err %q", code, out, errs)
	}
	_, errs, code = cli(t, data, "import", writeFile(t, "bad.json", `{"format":"grimoire/spell@1","id":"x","nodes":[{"id":"a","type":"Nope"}]}`))
	if code != 1 || !strings.Contains(errs, "Nope") {
		t.Errorf("bad spell: exit %d %q", code, errs)
	}
}

// TestEventStoreURLSelectsEventStoreDB: one setting switches the log to
// EventStoreDB; an unreachable server is reported with the setting's name.
func TestEventStoreURLSelectsEventStoreDB(t *testing.T) {
	_, errs, code := cliWithEnv(t, map[string]string{envData: t.TempDir(), envEventStore: "esdb://127.0.0.1:1?tls=false", envBlobDir: t.TempDir()},
		"run", "../../examples/hello.json")
	if code != 1 || !strings.Contains(errs, "GRIMOIRE_EVENTSTORE_URL") || !strings.Contains(errs, "127.0.0.1:1") {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
}

// TestCompletionWithoutEndpoint: with nothing configured, a completion node
// fails with what to set, and the other services work on embedded defaults.
func TestCompletionWithoutEndpoint(t *testing.T) {
	spell := writeFile(t, "ask.json", `{"format":"grimoire/spell@1","id":"ask","nodes":[
	  {"id":"q","type":"Input","config":{"name":"q"}},
	  {"id":"gen","type":"Generator","config":{"fewshot":"Q: {{q}}\nA:"},"inputs":[{"key":"q","kind":"data"}]},
	  {"id":"out","type":"Output"}],
	 "edges":[{"from":"q.trigger","to":"gen.trigger"},{"from":"q.output","to":"gen.q"},{"from":"gen.trigger","to":"out.trigger"},{"from":"gen.result","to":"out.input"}]}`)
	_, errs, code := cli(t, t.TempDir(), "run", spell, "--input", "q=why")
	if code != 1 || !strings.Contains(errs, "no completion endpoint configured: set GRIMOIRE_OPENAI_BASE_URL") || !strings.Contains(errs, "gen") {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
}

// TestSecondRunIsServedFromTheCache: re-running an unchanged spell with
// unchanged inputs reuses the deterministic nodes' outputs (NodeCacheHit in
// the log); --no-cache runs them again.
func TestSecondRunIsServedFromTheCache(t *testing.T) {
	data := t.TempDir()
	runOnce := func(args ...string) []string {
		t.Helper()
		out, errs, code := cli(t, data, append([]string{"run", "../../examples/hello.json", "--input", "name=Ada"}, args...)...)
		if code != 0 || strings.TrimSpace(out) != `{"greeting":"Hello, Ada!"}` {
			t.Fatalf("exit %d out %q err %q", code, out, errs)
		}
		return runEvents(t, data, regexp.MustCompile(`run: (\S+)`).FindStringSubmatch(errs)[1])
	}
	first := runOnce()
	if count(first, "NodeCacheHit", "") != 0 || count(first, "NodeCompleted", "greet") != 1 {
		t.Fatalf("first run: %v", first)
	}
	second := runOnce()
	if count(second, "NodeCacheHit", "greet") != 1 || count(second, "NodeStarted", "greet") != 0 {
		t.Errorf("second run should take greet from the cache: %v", second)
	}
	third := runOnce("--no-cache")
	if count(third, "NodeCacheHit", "") != 0 || count(third, "NodeCompleted", "greet") != 1 {
		t.Errorf("--no-cache run: %v", third)
	}
}

// serve refuses settings it cannot read before it opens anything.
func TestServeRejectsBadSettings(t *testing.T) {
	for _, tc := range []struct{ key, value, want string }{
		{envGCHeadroom, "64MiB", "want a number of MiB"},
		{envGCHeadroom, "-1", "want a number of MiB"},
		{envLinger, "soon", "want a duration"},
		{envStoreBackgroundRate, "16MB", "want MiB/s"},
		{envStoreBackgroundRate, "-1", "want MiB/s"},
		{envMaxBodyMB, "4MiB", "want a number of MiB"},
		{envMaxRuns, "0", "want a positive number"},
		{envSyncTimeout, "forever", "want a duration"},
		{envIdleTimeout, "-1s", "want a duration"},
		{envMaxConns, "lots", "want a positive number"},
		{envMaxSockets, "0", "want a positive number"},
		{envHandshakeBurst, "-3", "want a positive number"},
		{envHandshakeRate, "fast", "want a positive number per second"},
		{envHandshakeRate, "NaN", "want a positive number per second"},
		{envConnectRate, "0", "want a positive number per second"},
		{envConnectBurst, "x", "want a positive number"},
		{envConnectTimeout, "0s", "want a duration"},
	} {
		_, errs, code := cliWithEnv(t, map[string]string{envData: t.TempDir(), tc.key: tc.value}, "serve", "--addr", "127.0.0.1:0")
		if code == 0 || !strings.Contains(errs, tc.key) || !strings.Contains(errs, tc.want) {
			t.Errorf("%s=%s: exit %d, stderr %q", tc.key, tc.value, code, errs)
		}
	}
}

// Help is on stdout with exit 0, for every command and in both spellings,
// and lists every flag (serve: every environment variable too).
func TestHelpConventions(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"help", "run"}, []string{"usage: grimoire run", "-allow-extra-inputs", "-server URL"}},
		{[]string{"run", "--help"}, []string{"usage: grimoire run", "-follow"}},
		{[]string{"serve", "--help"}, []string{"-dev-llm", "GRIMOIRE_OPENAI_BASE_URL", envMaxBodyMB, envLogFormat, "GRIMOIRE_JWT_SECRET"}},
		{[]string{"events", "-h"}, []string{"events tail flags:", "-stream-prefix", "events prune flags:", "-chunks-older-than"}},
		{[]string{"help", "projections"}, []string{"projections status", "-wait"}},
		{[]string{"token", "-h"}, []string{"-init", "-ttl"}},
		{[]string{"--help"}, []string{"usage: grimoire COMMAND", "dev-llm", "spells"}},
	} {
		out, errs, code := cli(t, t.TempDir(), tc.args...)
		if code != 0 {
			t.Errorf("%v: exit %d, stderr %q", tc.args, code, errs)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: stdout lacks %q:\n%s", tc.args, w, out)
			}
		}
	}
	if _, errs, code := cli(t, t.TempDir(), "help", "frobnicate"); code != 2 || !strings.Contains(errs, `unknown command "frobnicate"`) {
		t.Errorf("help of an unknown command: exit %d %q", code, errs)
	}
}

// GRIMOIRE_LOG_FORMAT=json: every log line is one JSON object.
func TestJSONLogFormat(t *testing.T) {
	_, errs, code := cliWithEnv(t, map[string]string{envData: t.TempDir(), envLogFormat: "json"},
		"run", "../../examples/chat.json", "--dev-llm", "--dev-llm-rate", "0", "--dev-llm-fault", "error", "--input", "question=x")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	found := false
	for _, line := range strings.Split(errs, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("log line %q is not JSON: %v", line, err)
		}
		found = found || (rec["msg"] == "retrying inference call" && rec["level"] == "WARN")
	}
	if !found {
		t.Errorf("no JSON retry log line in %q", errs)
	}
}
