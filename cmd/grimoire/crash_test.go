package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/events/embedded"
	"github.com/grimoire-run/grimoire/services/sandbox"
)

// TestMain lets a test re-run this binary as the grimoire command, so that
// it can be killed like the real one, and lets the code sandbox start it as
// its worker processes.
func TestMain(m *testing.M) {
	sandbox.ExitIfWorker()
	if spec := os.Getenv(attackEnv); spec != "" {
		os.Exit(attackMain(spec))
	}
	if args := os.Getenv("GRIMOIRE_TEST_AS_CLI"); args != "" {
		var argv []string
		if err := json.Unmarshal([]byte(args), &argv); err != nil {
			panic(err)
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := runCLI(ctx, &cliEnv{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}, argv)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// slowSpell: "first" completes at once, "second" spins for six seconds.
const slowSpell = `{"format":"grimoire/spell@1","id":"slow","nodes":[
  {"id":"in","type":"Input","config":{"name":"x"}},
  {"id":"first","type":"Code","config":{"code":"function worker(inputs) { return { y: inputs.x + 1 } }"},"inputs":[{"key":"x","kind":"data"}],"outputs":[{"key":"y","kind":"data"}]},
  {"id":"second","type":"Code","config":{"timeout":"30s","code":"function worker(inputs) { const end = Date.now() + 6000; while (Date.now() < end) {} return { z: inputs.y * 10 } }"},"inputs":[{"key":"y","kind":"data"}],"outputs":[{"key":"z","kind":"data"}]},
  {"id":"out","type":"Output","config":{"name":"z"}}],
 "edges":[{"from":"in.trigger","to":"first.trigger"},{"from":"in.output","to":"first.x"},
  {"from":"first.trigger","to":"second.trigger"},{"from":"first.y","to":"second.y"},
  {"from":"second.trigger","to":"out.trigger"},{"from":"second.z","to":"out.input"}]}`

// TestKilledRunResumes kills `grimoire run` with SIGKILL while its second
// node works, then `grimoire resume` finishes the run: the node that had
// completed is not executed again and no event is lost or duplicated.
func TestKilledRunResumes(t *testing.T) {
	data := t.TempDir()
	spell := filepath.Join(t.TempDir(), "slow.json")
	if err := os.WriteFile(spell, []byte(slowSpell), 0o644); err != nil {
		t.Fatal(err)
	}
	child := func(args ...string) *exec.Cmd {
		argv, _ := json.Marshal(args)
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "GRIMOIRE_TEST_AS_CLI="+string(argv), "GRIMOIRE_DATA="+data)
		return cmd
	}

	run := child("run", spell, "--input", "x=1")
	stderr, err := run.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256)
	n, _ := stderr.Read(buf) // "run: <id>" comes before any node runs
	runID := strings.TrimSpace(strings.TrimPrefix(strings.SplitN(string(buf[:n]), "\n", 2)[0], "run:"))
	if runID == "" {
		t.Fatalf("no run id on stderr: %q", buf[:n])
	}
	time.Sleep(2500 * time.Millisecond) // "first" is done, "second" spins for 6s
	run.Process.Signal(syscall.SIGKILL)
	run.Wait()

	before := runEvents(t, data, runID)
	if count(before, "NodeCompleted", "first") != 1 || count(before, "NodeStarted", "second") != 1 || count(before, "RunCompleted", "") != 0 {
		t.Fatalf("at the kill the log should hold first's result and second's start only: %v", before)
	}

	out, err := child("resume").Output()
	if err != nil {
		t.Fatalf("resume: %v (%s)", err, out)
	}
	var res struct {
		RunID   string         `json:"runId"`
		Status  string         `json:"status"`
		Outputs map[string]any `json:"outputs"`
	}
	if err := json.Unmarshal(out, &res); err != nil || res.RunID != runID || res.Status != "completed" || res.Outputs["z"] != 20.0 {
		t.Fatalf("resume printed %q (%v)", out, err)
	}

	after := runEvents(t, data, runID)
	for i, e := range before {
		if after[i] != e {
			t.Fatalf("event %d changed after resume: %q became %q", i, e, after[i])
		}
	}
	if c := count(after, "NodeStarted", "first"); c != 1 {
		t.Errorf("first started %d times, want 1 (it had completed before the kill)", c)
	}
	if count(after, "RunResumed", "") != 1 || count(after, "NodeCompleted", "second") != 1 || count(after, "RunCompleted", "") != 1 {
		t.Errorf("after resume: %v", after)
	}
}

// runEvents lists a run's events as "Type node seq" strings.
func runEvents(t *testing.T, data, runID string) []string {
	t.Helper()
	st, err := embedded.Open(embedded.Options{Dir: data})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	evs, err := st.ReadStream(context.Background(), events.RunStream(runID), events.Start, events.Forwards, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		var h struct {
			NodeID string `json:"nodeId"`
			Seq    uint64 `json:"seq"`
		}
		json.Unmarshal(e.Data, &h)
		out = append(out, strings.TrimSpace(e.Type+" "+h.NodeID)+" #"+jsonNumber(h.Seq))
	}
	return out
}

func jsonNumber(n uint64) string { b, _ := json.Marshal(n); return string(b) }

func count(evs []string, typ, node string) int {
	c := 0
	for _, e := range evs {
		f := strings.Fields(e)
		if f[0] == typ && (node == "" || (len(f) > 2 && f[1] == node)) {
			c++
		}
	}
	return c
}
