package runs_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/events/embedded"
	"github.com/grimoire-run/grimoire/events/recorder/recordertest"
	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/server/runs"
)

// The crash test runs this test binary a second time as the process to
// kill: with these variables set, TestMain runs crashChild instead of the
// tests.
const (
	envCrashDir = "GRIMOIRE_TEST_CRASH_DIR"
	crashRunID  = "crash-run"
	crashNodes  = 12
	crashDelay  = 40 * time.Millisecond
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(envCrashDir); dir != "" {
		crashChild(dir)
		return
	}
	os.Exit(m.Run())
}

func crashSpell() *graph.Spell { return recordertest.Chain("crash", crashNodes, crashDelay, 20) }

// execLogger appends one line per Work node execution to a file, so that
// executions survive the process.
func execLogger(path string) (func(string), func()) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		panic(err)
	}
	var mu sync.Mutex
	return func(id string) {
		mu.Lock()
		defer mu.Unlock()
		if _, err := f.WriteString(id + "\n"); err != nil {
			panic(err)
		}
	}, func() { f.Close() }
}

// crashChild starts the run and reports each durable append on stdout as
// "acked SEQ", then waits to be killed.
func crashChild(dir string) {
	st, err := embedded.Open(embedded.Options{Dir: filepath.Join(dir, "data")})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	onExec, _ := execLogger(filepath.Join(dir, "exec.log"))
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	ex, err := runs.New(runs.Options{
		Store:  st,
		Runner: &graph.Runner{Catalog: recordertest.NewCatalog(recordertest.Options{OnExec: onExec})},
		OnCommit: func(_ string, seq uint64) {
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(out, "acked %d\n", seq)
			out.Flush()
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if _, err := ex.Start(context.Background(), runs.RunSpec{RunID: crashRunID, Spell: crashSpell(), Source: "cli"}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	time.Sleep(time.Minute) // killed long before
	os.Exit(3)
}

// A child process runs a 12-node spell and is killed with SIGKILL once
// the store has acknowledged a given number of its events; a fresh
// executor on the same data directory resumes the run. Acknowledged events
// are all there, unchanged, in order, each once; nodes whose NodeCompleted
// was durable are replayed, not executed again; the run completes.
func TestSIGKILLMidRunThenResumeRepeatsNoCompletedNodeAndLosesNoEvent(t *testing.T) {
	for _, tc := range []struct {
		name   string
		killAt uint64 // acknowledged Seq: RunRequested is 1, then 3 per node
	}{
		{"right after the first node started", 2},
		{"half way", 1 + 3*crashNodes/2},
		{"before the last node", 3*crashNodes - 3},
	} {
		t.Run(tc.name, func(t *testing.T) { crashAndResume(t, tc.killAt) })
	}
}

func crashAndResume(t *testing.T, killAt uint64) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envCrashDir+"="+dir)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked uint64
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		seq, err := strconv.ParseUint(strings.TrimPrefix(sc.Text(), "acked "), 10, 64)
		if err != nil {
			t.Fatalf("child said %q", sc.Text())
		}
		acked = max(acked, seq)
		if acked >= killAt {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	// Acks the child wrote before it died count too.
	for sc.Scan() {
		if seq, err := strconv.ParseUint(strings.TrimPrefix(sc.Text(), "acked "), 10, 64); err == nil {
			acked = max(acked, seq)
		}
	}
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("child did not die of SIGKILL: %v", err)
	}
	if acked < killAt {
		t.Fatalf("child acknowledged only up to seq %d", acked)
	}

	// Restart: same data directory, same node types.
	st, err := embedded.Open(embedded.Options{Dir: filepath.Join(dir, "data")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	before, _ := readRun(t, st, crashRunID)
	if uint64(len(before)) < acked {
		t.Fatalf("acknowledged events lost: the stream has %d events, %d were acknowledged", len(before), acked)
	}
	onExec, closeLog := execLogger(filepath.Join(dir, "exec.log"))
	defer closeLog()
	ex, err := runs.New(runs.Options{Store: st, Runner: &graph.Runner{Catalog: recordertest.NewCatalog(recordertest.Options{OnExec: onExec})}})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close(context.Background())
	resumed, err := ex.Resume(ctx)
	if err != nil || len(resumed) != 1 {
		t.Fatalf("Resume: %v (%d runs)", err, len(resumed))
	}
	o := wait(t, resumed[0])
	want := ""
	for i := 1; i <= crashNodes; i++ {
		want += fmt.Sprintf(">w%03d", i)
	}
	if o.Status != runs.StatusCompleted || o.Outputs["result"] != want {
		t.Fatalf("resumed run: %+v", o)
	}

	recs, payloads := readRun(t, st, crashRunID)
	// The events from before the crash are still there, unchanged.
	for i, e := range before {
		if recs[i].ID != e.ID || string(recs[i].Data) != string(e.Data) {
			t.Fatalf("event %d changed after the restart", i)
		}
	}
	seen := map[string]bool{}
	completedBefore := map[string]bool{}
	replayed := map[string]bool{}
	resumedAt := -1
	for i, p := range payloads {
		h, _ := events.Header(p)
		if h.Seq != uint64(i+1) || recs[i].Revision != uint64(i) {
			t.Fatalf("event %d: seq %d revision %d: not contiguous", i, h.Seq, recs[i].Revision)
		}
		if seen[recs[i].ID] {
			t.Fatalf("event id %s twice", recs[i].ID)
		}
		seen[recs[i].ID] = true
		switch e := p.(type) {
		case events.NodeCompleted:
			if resumedAt < 0 {
				completedBefore[e.NodeID] = true
			}
		case events.RunResumed:
			if resumedAt >= 0 {
				t.Fatal("two RunResumed")
			}
			resumedAt = i
			if e.AfterSeq != uint64(i) || e.AfterSeq < acked {
				t.Fatalf("RunResumed after seq %d at index %d, %d acknowledged", e.AfterSeq, i, acked)
			}
		case events.NodeCacheHit:
			if e.Source != "resume" || resumedAt < 0 {
				t.Fatalf("cache hit %+v", e)
			}
			replayed[e.NodeID] = true
		}
	}
	if _, ok := payloads[len(payloads)-1].(events.RunCompleted); !ok {
		t.Fatalf("last event %T", payloads[len(payloads)-1])
	}

	execs := map[string]int{}
	b, err := os.ReadFile(filepath.Join(dir, "exec.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range strings.Fields(string(b)) {
		execs[id]++
	}
	if least := int(killAt-1)/3 - 1; len(completedBefore) < least {
		t.Fatalf("only %d nodes completed before the kill, want at least %d", len(completedBefore), least)
	}
	for i := 1; i <= crashNodes; i++ {
		id := fmt.Sprintf("w%03d", i)
		switch {
		case completedBefore[id]:
			if execs[id] != 1 || !replayed[id] {
				t.Errorf("%s completed before the crash: executed %d times, replayed %v", id, execs[id], replayed[id])
			}
		default:
			// At most the activation in flight at the kill runs twice.
			if execs[id] < 1 || execs[id] > 2 {
				t.Errorf("%s executed %d times", id, execs[id])
			}
		}
	}
	t.Logf("killed after %d acknowledged events; %d nodes completed before, %d executions in all", acked, len(completedBefore), len(strings.Fields(string(b))))
}
