package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/events/bus"
	pgstore "github.com/grimoire-run/grimoire/events/postgres"
	"github.com/grimoire-run/grimoire/services/postgres/pgtest"
)

const testNATS = "nats://127.0.0.1:4222"

// requireNATS fails in CI, and skips elsewhere, when NATS JetStream is not
// running on this machine.
func requireNATS(tb testing.TB) {
	tb.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:4222", time.Second)
	if err == nil {
		c.Close()
		return
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("NATS JetStream is not running at 127.0.0.1:4222 (start nats-server -js): %v", err)
	}
	tb.Skipf("NATS JetStream is not running at 127.0.0.1:4222 (start nats-server -js to run this test): %v", err)
}

// cluster is several `grimoire serve` processes on one PostgreSQL database
// and one NATS, with a lease bucket of their own.
type cluster struct {
	tb    testing.TB
	env   []string
	token string
	store *pgstore.Store
}

func newCluster(tb testing.TB) *cluster {
	tb.Helper()
	requireNATS(tb)
	url := pgtest.FreshDatabase(tb)
	const secret = "0123456789abcdef0123456789abcdef"
	bucket := fmt.Sprintf("test_run_leases_%d", time.Now().UnixNano())
	// After the processes stop (cleanups run last first).
	tb.Cleanup(func() {
		if err := bus.RemoveLeaseBucket(testNATS, bucket); err != nil {
			tb.Error(err)
		}
	})
	c := &cluster{tb: tb, env: []string{
		envEventStore + "=" + url, "GRIMOIRE_JWT_SECRET=" + secret,
		bus.EnvURL + "=" + testNATS, bus.EnvLeaseBucket + "=" + bucket,
	}}
	tokCmd := cliProcess(".", tb.TempDir(), "token", "create", "--user", "alice")
	tokCmd.Env = append(tokCmd.Env, "GRIMOIRE_JWT_SECRET="+secret)
	out, err := tokCmd.Output()
	if err != nil {
		tb.Fatalf("token create: %v", err)
	}
	c.token = strings.TrimSpace(string(out))
	if c.store, err = pgstore.Open(context.Background(), pgstore.Options{URL: url}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.store.Close() })
	return c
}

// serve starts one more process; kill it with proc.Process.Kill.
func (c *cluster) serve() (base string, proc *exec.Cmd) {
	c.tb.Helper()
	base, proc, _ = startServeProcess(c.tb, ".", c.tb.TempDir(), c.env, "--no-demo")
	return base, proc
}

func (c *cluster) call(method, url, body string) (int, map[string]any) {
	c.tb.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.tb.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	json.NewDecoder(resp.Body).Decode(&v)
	return resp.StatusCode, v
}

// startSlowRun saves slowSpell on base and starts a run of it there; it
// returns once the run's second node has started (its first completed).
func (c *cluster) startSlowRun(base string) string {
	c.tb.Helper()
	if status, v := c.call("PUT", base+"/v1/spells/slow", slowSpell); status != 200 {
		c.tb.Fatalf("save the slow spell: %d %v", status, v)
	}
	status, v := c.call("POST", base+"/v1/spells/slow/runs?mode=async", `{"inputs":{"x":1}}`)
	runID, _ := v["runId"].(string)
	if status != 202 || runID == "" {
		c.tb.Fatalf("start a run on %s: %d %v", base, status, v)
	}
	c.waitFor(runID, 20*time.Second, "its second node to start", func(log []runEvent) bool {
		return countOf(log, events.TypeNodeCompleted, "first") == 1 && countOf(log, events.TypeNodeStarted, "second") == 1
	})
	return runID
}

// runEvent is one event of a run's log, as the tests look at it.
type runEvent struct {
	Type, Node string
	Time       time.Time
}

func (c *cluster) log(runID string) []runEvent {
	c.tb.Helper()
	recs, err := c.store.ReadStream(context.Background(), events.RunStream(runID), events.Start, events.Forwards, 0)
	if err != nil {
		c.tb.Fatalf("read run %s: %v", runID, err)
	}
	out := make([]runEvent, 0, len(recs))
	for _, r := range recs {
		var h struct {
			NodeID string `json:"nodeId"`
		}
		json.Unmarshal(r.Data, &h)
		out = append(out, runEvent{Type: r.Type, Node: h.NodeID, Time: r.Time})
	}
	return out
}

// waitFor polls the run's log until cond holds.
func (c *cluster) waitFor(runID string, timeout time.Duration, what string, cond func([]runEvent) bool) []runEvent {
	c.tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		log := c.log(runID)
		if cond(log) {
			return log
		}
		if time.Now().After(deadline) {
			c.tb.Fatalf("run %s: waited %v for %s; its log: %v", runID, timeout, what, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func countOf(log []runEvent, typ, node string) int {
	n := 0
	for _, e := range log {
		if e.Type == typ && (node == "" || e.Node == node) {
			n++
		}
	}
	return n
}

func firstOf(log []runEvent, typ string) (runEvent, bool) {
	i := slices.IndexFunc(log, func(e runEvent) bool { return e.Type == typ })
	if i < 0 {
		return runEvent{}, false
	}
	return log[i], true
}

// killAndTakeOver SIGKILLs the owner of runID and waits until another
// process resumes the run; it returns the time from the kill to the
// run's RunResumed.
func (c *cluster) killAndTakeOver(owner *exec.Cmd, runID string) time.Duration {
	c.tb.Helper()
	killed := time.Now()
	owner.Process.Kill()
	owner.Wait()
	log := c.waitFor(runID, 30*time.Second, "another process to take it over", func(log []runEvent) bool {
		return countOf(log, events.TypeRunResumed, "") > 0
	})
	resumed, _ := firstOf(log, events.TypeRunResumed)
	return resumed.Time.Sub(killed)
}

// TestKilledOwnersRunIsTakenOver: three `grimoire serve` processes on one
// PostgreSQL and one NATS. A run started on A, whose first node has
// completed, is taken over by one other process (B or C, never both)
// within the lease's TTL after A is killed with SIGKILL, and completes
// there; its first node is not executed again.
func TestKilledOwnersRunIsTakenOver(t *testing.T) {
	c := newCluster(t)
	a, procA := c.serve()
	b, _ := c.serve()
	cBase, _ := c.serve()

	runID := c.startSlowRun(a)
	took := c.killAndTakeOver(procA, runID)
	t.Logf("takeover: %v from SIGKILL to RunResumed", took)
	if took > 10*time.Second {
		t.Errorf("run taken over %v after its owner was killed, want under 10s", took)
	}
	log := c.waitFor(runID, 60*time.Second, "it to complete", func(log []runEvent) bool {
		return countOf(log, events.TypeRunCompleted, "")+countOf(log, events.TypeRunFailed, "") > 0
	})
	if n := countOf(log, events.TypeNodeStarted, "first"); n != 1 {
		t.Errorf("first started %d times, want 1 (it had completed before the kill)", n)
	}
	if n := countOf(log, events.TypeRunResumed, ""); n != 1 {
		t.Errorf("RunResumed %d times, want 1 (one process takes the run over)", n)
	}
	if countOf(log, events.TypeRunCompleted, "") != 1 || countOf(log, events.TypeNodeCompleted, "second") != 1 {
		t.Errorf("after the takeover: %v", log)
	}
	for _, base := range []string{b, cBase} {
		status, run := c.call("GET", base+"/v1/runs/"+runID, "")
		if status != 200 || run["status"] != "completed" || fmt.Sprint(run["outputs"]) != "map[z:20]" {
			t.Errorf("GET /v1/runs/%s on %s: %d %v", runID, base, status, run)
		}
	}
}

// TestCancelFromAnotherProcess: DELETE /v1/runs/{id} on a process that
// does not run the run reaches its owner: 202, and the run ends cancelled.
// A finished run is 409 on every process.
func TestCancelFromAnotherProcess(t *testing.T) {
	c := newCluster(t)
	a, _ := c.serve()
	b, _ := c.serve()
	runID := c.startSlowRun(a)
	status, v := c.call("DELETE", b+"/v1/runs/"+runID, "")
	if status != 202 {
		t.Fatalf("cancel on B of A's run: %d %v", status, v)
	}
	log := c.waitFor(runID, 20*time.Second, "RunCancelled", func(log []runEvent) bool {
		return countOf(log, events.TypeRunCancelled, "") > 0
	})
	if countOf(log, events.TypeRunCompleted, "") != 0 || countOf(log, events.TypeRunResumed, "") != 0 {
		t.Errorf("a cancelled run went on: %v", log)
	}
	status, run := c.call("GET", b+"/v1/runs/"+runID, "")
	if status != 200 || run["status"] != "cancelled" || !strings.Contains(fmt.Sprint(run["reason"]), "alice") {
		t.Errorf("GET on B after the cancel: %d %v", status, run)
	}
	// Once its owner has let it go (a cancel racing the run's end is
	// accepted: the owner still holds it), a finished run is 409 everywhere.
	for _, base := range []string{a, b} {
		deadline := time.Now().Add(5 * time.Second)
		for {
			status, v := c.call("DELETE", base+"/v1/runs/"+runID, "")
			if status == 409 {
				break
			}
			if status != 202 || time.Now().After(deadline) {
				t.Errorf("cancel of a finished run on %s: %d %v, want 409", base, status, v)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// BenchmarkTakeover: each iteration starts a run on one of three
// processes, SIGKILLs that process once the run's second node works, and
// measures until another process has resumed the run (its RunResumed is
// committed); a fresh process replaces the killed one. It reports the
// p50 and p99 of those times.
func BenchmarkTakeover(b *testing.B) {
	c := newCluster(b)
	type proc struct {
		base string
		cmd  *exec.Cmd
	}
	var procs []proc
	for range 3 {
		base, cmd := c.serve()
		procs = append(procs, proc{base, cmd})
	}
	var took []time.Duration
	for i := 0; b.Loop(); i++ {
		p := procs[i%len(procs)]
		runID := c.startSlowRun(p.base)
		took = append(took, c.killAndTakeOver(p.cmd, runID))
		base, cmd := c.serve()
		procs[i%len(procs)] = proc{base, cmd}
	}
	slices.Sort(took)
	at := func(q float64) time.Duration { return took[min(len(took)-1, int(q*float64(len(took))))] }
	b.ReportMetric(at(0.5).Seconds(), "p50-s")
	b.ReportMetric(at(0.99).Seconds(), "p99-s")
	b.ReportMetric(took[len(took)-1].Seconds(), "max-s")
}

// A lease TTL that is not a duration of a second or more is refused.
func TestBadLeaseTTLIsRefused(t *testing.T) {
	requireNATS(t)
	for _, v := range []string{"soon", "10ms"} {
		_, errs, code := cliWithEnv(t, map[string]string{envData: t.TempDir(), bus.EnvURL: testNATS, bus.EnvLeaseTTL: v}, "serve", "--addr", "127.0.0.1:0")
		if code != 1 || !strings.Contains(errs, bus.EnvLeaseTTL) || !strings.Contains(errs, "a second or more") {
			t.Errorf("%s=%s: exit %d, stderr %q", bus.EnvLeaseTTL, v, code, errs)
		}
	}
}

// TestLiveRunIsNotResumedByAPeer: a process that starts while a peer runs
// a run, and the takeover scans of both, leave the run to its owner: it
// completes there, never resumed, its nodes executed once each.
func TestLiveRunIsNotResumedByAPeer(t *testing.T) {
	c := newCluster(t)
	a, _ := c.serve()
	b, _ := c.serve()
	runID := c.startSlowRun(a)
	late, _ := c.serve() // its start-up resume sees the run unfinished
	log := c.waitFor(runID, 60*time.Second, "it to complete", func(log []runEvent) bool {
		return countOf(log, events.TypeRunCompleted, "")+countOf(log, events.TypeRunFailed, "") > 0
	})
	if n := countOf(log, events.TypeRunResumed, ""); n != 0 {
		t.Errorf("a run live on A was resumed %d times by a peer: %v", n, log)
	}
	if countOf(log, events.TypeRunCompleted, "") != 1 || countOf(log, events.TypeNodeStarted, "first") != 1 || countOf(log, events.TypeNodeStarted, "second") != 1 {
		t.Errorf("the run on A: %v", log)
	}
	for _, base := range []string{b, late} {
		if status, v := c.call("GET", base+"/v1/runs/"+runID, ""); status != 200 || v["status"] != "completed" {
			t.Errorf("GET on %s: %d %v", base, status, v)
		}
	}
}

// TestCancelOfARunWhoseOwnerDied: a cancel on B of a run whose owner was
// just SIGKILLed (its lease still live, nobody answering) is not lost: B
// takes the run once the lease lapses and ends it cancelled, without
// executing its nodes again.
func TestCancelOfARunWhoseOwnerDied(t *testing.T) {
	c := newCluster(t)
	a, procA := c.serve()
	b, _ := c.serve()
	runID := c.startSlowRun(a)
	procA.Process.Kill()
	procA.Wait()
	status, v := c.call("DELETE", b+"/v1/runs/"+runID, "")
	if status != 202 {
		t.Fatalf("cancel on B of the dead A's run: %d %v", status, v)
	}
	log := c.waitFor(runID, 20*time.Second, "RunCancelled", func(log []runEvent) bool {
		return countOf(log, events.TypeRunCancelled, "") > 0
	})
	if countOf(log, events.TypeRunCompleted, "") != 0 || countOf(log, events.TypeNodeStarted, "second") != 1 || countOf(log, events.TypeNodeStarted, "first") != 1 {
		t.Errorf("the cancelled run executed nodes again or completed: %v", log)
	}
	if status, run := c.call("GET", b+"/v1/runs/"+runID, ""); status != 200 || run["status"] != "cancelled" {
		t.Errorf("GET on B: %d %v", status, run)
	}
}
