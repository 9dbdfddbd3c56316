package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// cliProcess runs this test binary as the grimoire command (see TestMain)
// in dir, with GRIMOIRE_DATA=data.
func cliProcess(dir, data string, args ...string) *exec.Cmd {
	argv, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GRIMOIRE_TEST_AS_CLI="+string(argv), "GRIMOIRE_DATA="+data,
		"GRIMOIRE_URL=", "GRIMOIRE_TOKEN=", "GRIMOIRE_OPENAI_BASE_URL=", "GRIMOIRE_OPENAI_CONFIG=")
	return cmd
}

// startServe starts `grimoire serve` on a loopback port it picks, in repo,
// on data, with env added to the CLI's, and returns its address and a stop
// that ends it with SIGTERM and waits (killing it after 20 s); the test's
// end stops it otherwise. A serve that exits first fails the test with
// what it printed.
func startServe(t *testing.T, repo, data string, env []string, flags ...string) (base string, stop func()) {
	t.Helper()
	base, _, stop = startServeProcess(t, repo, data, env, flags...)
	return base, stop
}

// startServeProcess is startServe that also returns the process (to kill it).
func startServeProcess(t testing.TB, repo, data string, env []string, flags ...string) (base string, serve *exec.Cmd, stop func()) {
	t.Helper()
	serve = cliProcess(repo, data, append([]string{"serve", "--addr", "127.0.0.1:0"}, flags...)...)
	serve.Env = append(serve.Env, env...)
	stderr, err := serve.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			serve.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { serve.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				serve.Process.Kill()
				<-done
			}
		})
	}
	t.Cleanup(stop)
	urlc := make(chan string, 1)
	var lines []string
	linesDone := make(chan struct{})
	go func() {
		defer close(linesDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if len(lines) < 200 {
				lines = append(lines, sc.Text())
			}
			if m := regexp.MustCompile(`grimoire serving on (http://\S+)`).FindStringSubmatch(sc.Text()); m != nil {
				urlc <- m[1]
			}
		}
	}()
	select {
	case base = <-urlc:
	case <-linesDone:
		serve.Wait()
		t.Fatalf("serve exited: %s", strings.Join(lines, "\n"))
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not print its address")
	}
	return base, serve, stop
}

// TestREADMETourBesideARunningServer follows README.md's tour with a server
// running on the data directory, as `make run` leaves it: the CLI finds the
// server by itself and talks to it (the store is locked by the server),
// the model spell runs against the server's dev-llm, typos are refused, and
// once the server stops the same commands open the data directory again.
func TestREADMETourBesideARunningServer(t *testing.T) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(t.TempDir(), "data")

	base, stop := startServe(t, repo, data, nil, "--dev-llm")

	type result struct {
		out, errs string
		code      int
	}
	cli := func(args ...string) result {
		t.Helper()
		cmd := cliProcess(repo, data, args...)
		var out, errs strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errs
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return result{out.String(), errs.String(), code}
	}
	runID := func(r result) string {
		t.Helper()
		m := regexp.MustCompile(`run: (\S+)`).FindStringSubmatch(r.errs)
		if m == nil {
			t.Fatalf("stderr names no run: %q", r.errs)
		}
		return m[1]
	}

	// bin/grimoire run examples/hello.json --input name=Ada
	hello := cli("run", "examples/hello.json", "--input", "name=Ada")
	if hello.code != 0 || strings.TrimSpace(hello.out) != `{"greeting":"Hello, Ada!"}` {
		t.Fatalf("run hello: %+v", hello)
	}
	if !strings.Contains(hello.errs, "using the server at "+base) {
		t.Errorf("run did not say it used the server: %q", hello.errs)
	}
	helloRun := runID(hello)

	// A typo is refused with the nearest name, and nothing runs.
	typo := cli("run", "examples/hello.json", "--input", "nmae=Ada")
	if typo.code != 1 || !strings.Contains(typo.errs, `unknown input "nmae" (did you mean "name"?)`) || typo.out != "" {
		t.Errorf("typo: %+v", typo)
	}

	// The model spell runs against the server's development stand-in.
	chat := cli("run", "examples/chat.json", "--dev-llm", "--follow", "--input", "question=What is a spell?")
	if chat.code != 0 || strings.TrimSpace(chat.out) != `{"answer":"What is a spell?"}` {
		t.Fatalf("run chat: %+v", chat)
	}
	if !strings.Contains(chat.errs, "  llm │ What is a spell?") || !strings.Contains(chat.errs, "--dev-llm ignored") {
		t.Errorf("run chat --follow through the server: %q", chat.errs)
	}

	// History: replay and fork go through the server too.
	replay := cli("replay", helloRun)
	if replay.code != 0 || !strings.Contains(replay.out, "run "+helloRun+"  spell hello  status completed") ||
		!strings.Contains(replay.out, `outputs: {"greeting":"Hello, Ada!"}`) {
		t.Errorf("replay: %+v", replay)
	}
	fork := cli("fork", helloRun, "--from", "greet", "--input", "name=Bo")
	if fork.code != 0 || strings.TrimSpace(fork.out) != `{"greeting":"Hello, Bo!"}` || !strings.Contains(fork.errs, "fork of "+helloRun) {
		t.Errorf("fork: %+v", fork)
	}
	tail := cli("events", "tail", "--from", "0", "--no-follow", "--type", "RunCompleted")
	if tail.code != 0 || strings.Count(tail.out, "RunCompleted") != 3 {
		t.Errorf("events tail: %+v", tail)
	}
	last10 := cli("events", "tail", "--no-follow")
	if lines := strings.Split(strings.TrimSpace(last10.out), "\n"); last10.code != 0 || len(lines) != 10 || !strings.Contains(lines[9], "RunCompleted") {
		t.Errorf("events tail (the last 10): %+v", last10)
	}
	list := cli("spells", "list")
	if list.code != 0 || !strings.Contains(list.out, "hello") || !strings.Contains(list.out, "chat") || !strings.Contains(list.out, "demo") {
		t.Errorf("spells list: %+v", list)
	}
	// export reads the server's log: one CSV row per node result.
	export := cli("export", "--what", "nodes", "--format", "csv")
	if export.code != 0 || !strings.Contains(export.errs, "using the server at "+base) || !strings.Contains(export.out, helloRun+",") || !strings.Contains(export.out, "Hello, Ada!") {
		t.Errorf("export beside the server: %+v", export)
	}
	// A command that reads the store itself says who holds it.
	status := cli("projections", "status")
	if status.code != 1 || !strings.Contains(status.errs, "in use by the server at "+base) {
		t.Errorf("projections status beside the server: %+v", status)
	}

	// TOKEN=$(bin/grimoire token create --user alice); curl … demo/runs?mode=sync
	tok := cli("token", "create", "--user", "alice")
	if tok.code != 0 {
		t.Fatalf("token create: %+v", tok)
	}
	req, _ := http.NewRequest("POST", base+"/v1/spells/demo/runs?mode=sync", strings.NewReader(`{"inputs":{"name":"Ada"}}`))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(tok.out))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var demo struct {
		Status  string
		Outputs map[string]any
	}
	json.NewDecoder(resp.Body).Decode(&demo)
	resp.Body.Close()
	if demo.Status != "completed" || demo.Outputs["greeting"] != "Hello, Ada!" {
		t.Errorf("demo over REST: %d %+v", resp.StatusCode, demo)
	}

	// Alice saves a spell of her own and shares it with Bob; Bob cannot
	// change its sharing.
	aliceTok := strings.TrimSpace(tok.out)
	bobTok := cli("token", "create", "--user", "bob")
	if bobTok.code != 0 {
		t.Fatalf("token create bob: %+v", bobTok)
	}
	if put := cli("spells", "put", "examples/hello.json", "--id", "alice-hello", "--token", aliceTok); put.code != 0 || !strings.Contains(put.out, "alice-hello version 1") {
		t.Fatalf("spells put as alice: %+v", put)
	}
	share := cli("spells", "share", "alice-hello", "--reader", "bob", "--token", aliceTok)
	if share.code != 0 || strings.TrimSpace(share.out) != `alice-hello (owner alice): shared with bob; they use it as a sub-spell named "alice/alice-hello"` {
		t.Errorf("spells share: %+v", share)
	}
	if shown := cli("spells", "share", "alice-hello", "--token", strings.TrimSpace(bobTok.out)); shown.code != 0 || !strings.Contains(shown.out, "shared with bob") {
		t.Errorf("bob reads the sharing: %+v", shown)
	}
	if taken := cli("spells", "share", "alice-hello", "--public", "--token", strings.TrimSpace(bobTok.out)); taken.code != 1 || !strings.Contains(taken.errs, "only its owner shares it") {
		t.Errorf("bob shares alice's spell: %+v", taken)
	}
	if both := cli("spells", "share", "alice-hello", "--private", "--public", "--token", aliceTok); both.code != 2 || !strings.Contains(both.errs, "--private ends every sharing") {
		t.Errorf("--private with --public: %+v", both)
	}

	// With the server stopped, its address file is gone and the CLI opens
	// the data directory itself: the runs made through the server are there.
	stop()
	if _, err := os.Stat(filepath.Join(data, serverFileName)); !os.IsNotExist(err) {
		t.Errorf("server.json left behind: %v", err)
	}
	local := cli("replay", helloRun)
	if local.code != 0 || strings.Contains(local.errs, "using the server") || !strings.Contains(local.out, "status completed") {
		t.Errorf("replay after the server stopped: %+v", local)
	}
}

// TestServerFlagRefusesWhatItCannotUse: --server needs an http URL, and a
// token unless the server is on this machine; an address file whose
// server no longer answers (it was killed) is ignored.
func TestServerFlagRefusesWhatItCannotUse(t *testing.T) {
	for _, tc := range []struct {
		server, want string
	}{
		{"ftp://127.0.0.1:1", "want http://HOST:PORT"},
		{"http://192.0.2.1:8080", "not on this machine: pass --token"},
	} {
		_, errs, code := cli(t, t.TempDir(), "replay", "01M0000000000000000000000", "--server", tc.server)
		if code != 1 || !strings.Contains(errs, tc.want) {
			t.Errorf("--server %s: exit %d, stderr %q", tc.server, code, errs)
		}
	}
	// A loopback server but a data directory no server made: no secret to mint with.
	_, errs, code := cli(t, t.TempDir(), "replay", "01M0000000000000000000000", "--server", "http://127.0.0.1:1")
	if code != 1 || !strings.Contains(errs, "no JWT secret") {
		t.Errorf("no secret: exit %d, stderr %q", code, errs)
	}
	// A stale address file: the run happens locally.
	data := t.TempDir()
	if _, err := writeServerFile(data, "http://127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	out, errs, code := cli(t, data, "run", "../../examples/hello.json")
	if code != 0 || strings.Contains(errs, "using the server") || strings.TrimSpace(out) != `{"greeting":"Hello, world!"}` {
		t.Errorf("stale server.json: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}
