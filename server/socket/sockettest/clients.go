package sockettest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Event is one line the harness printed: what a socket saw, or the answer
// to a command.
type Event struct {
	Type      string            `json:"type"` // ready, connect, connect_error, disconnect, event, ack, acks, report, error, fail, closed, sent
	ID        string            `json:"id"`
	Tag       string            `json:"tag"`
	Event     string            `json:"event"`
	Args      []json.RawMessage `json:"args"`
	Reason    string            `json:"reason"`
	Transport string            `json:"transport"`
	SID       string            `json:"sid"`
	Error     *ClientError      `json:"error"`
	Results   []json.RawMessage `json:"results"`
	TimedOut  bool              `json:"timedOut"`
	Sockets   map[string]Report `json:"sockets"`
	Message   string            `json:"message"`
}

// ClientError is a connect_error as the client library reports it.
type ClientError struct {
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
	// Description is the HTTP status of a refused polling request (v4).
	Description string `json:"description"`
	// Body is a refused polling request's response body (v4), where a
	// refusal before any session says why.
	Body string `json:"body"`
}

// Code is the refusal's code: from the connect_error's data (a refused
// namespace connect, v4) or from the body of a refused handshake request
// ({"error":{"code"}}); "" when neither says.
func (e *ClientError) Code() string {
	if e == nil {
		return ""
	}
	var data struct {
		Code string `json:"code"`
	}
	if json.Unmarshal(e.Data, &data) == nil && data.Code != "" {
		return data.Code
	}
	var body struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal([]byte(e.Body), &body) == nil {
		return body.Error.Code
	}
	return ""
}

// Report is a quiet socket's record of what it received.
type Report struct {
	Connected bool             `json:"connected"`
	Counts    map[string]int   `json:"counts"`
	Seqs      map[string][]int `json:"seqs"`
	// Runs holds, for payloads with a runId and a seq (run event
	// messages), every seq of each run in arrival order; Ends how each run
	// ended.
	Runs map[string][]int  `json:"runs"`
	Ends map[string]RunEnd `json:"ends"`
	// LatencyMs: for sockets connected with Latency, the delay of each
	// node:end from its "time" to its arrival, in milliseconds.
	LatencyMs []float64 `json:"latencyMs"`
}

// RunEnd is the terminal message a quiet socket got for a run.
type RunEnd struct {
	Event string `json:"event"`
	Seq   int    `json:"seq"`
	// Nodes is the length of run:completed's node-output cache.
	Nodes int `json:"nodes"`
}

// Clients is one Node process running socket.io-client sockets of both
// generations, driven by commands.
type Clients struct {
	t      testing.TB
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	events chan Event
	done   chan struct{}
	quit   chan struct{}

	mu      sync.Mutex
	backlog []Event
	stderr  strings.Builder
}

// HarnessDir is the npm package holding the harness and its pinned clients.
func HarnessDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata", "clients")
}

// InstallHint is the command that installs the clients.
func InstallHint() string {
	return "npm ci --prefix server/socket/testdata/clients"
}

// Start launches the harness. Without node or the npm modules the test
// fails when CI=true and is skipped otherwise, naming the install command.
func Start(t testing.TB) *Clients {
	t.Helper()
	dir := HarnessDir()
	missing := ""
	node, err := exec.LookPath("node")
	if err != nil {
		missing = "node (Node.js 18+) is not on PATH"
	} else {
		for _, m := range []string{"sio2", "sio4"} {
			if _, err := os.Stat(filepath.Join(dir, "node_modules", m, "package.json")); err != nil {
				missing = fmt.Sprintf("npm module %s missing in %s: run `%s`", m, dir, InstallHint())
				break
			}
		}
	}
	if missing != "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(missing)
		}
		t.Skip(missing)
	}
	c := &Clients{t: t, events: make(chan Event, 4096), done: make(chan struct{}), quit: make(chan struct{})}
	c.cmd = exec.Command(node, filepath.Join(dir, "harness.js"))
	c.cmd.Dir = dir
	c.cmd.Stderr = &lockedWriter{mu: &c.mu, b: &c.stderr}
	c.stdin, err = c.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start node harness: %v", err)
	}
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			var e Event
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				e = Event{Type: "fail", Message: "unparsable harness line: " + sc.Text()}
			}
			select {
			case c.events <- e:
			case <-c.quit:
				io.Copy(io.Discard, stdout)
				return
			}
		}
	}()
	t.Cleanup(c.stop)
	if _, err := c.Wait(15*time.Second, func(e Event) bool { return e.Type == "ready" }); err != nil {
		t.Fatalf("node harness did not start: %v", err)
	}
	return c
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.b.Len() < 1<<16 {
		w.b.Write(p)
	}
	return len(p), nil
}

func (c *Clients) stop() {
	close(c.quit)
	c.Send(map[string]any{"op": "exit"})
	c.stdin.Close()
	exited := make(chan struct{})
	go func() {
		c.cmd.Wait()
		close(exited)
	}()
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		c.cmd.Process.Kill()
		<-exited
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.stderr.String(); s != "" && c.t.Failed() {
		c.t.Logf("node harness stderr:\n%s", s)
	}
}

// Send writes one command.
func (c *Clients) Send(cmd map[string]any) {
	b, err := json.Marshal(cmd)
	if err != nil {
		c.t.Fatalf("encode harness command: %v", err)
	}
	c.stdin.Write(append(b, '\n'))
}

// ConnectOptions describes one socket.
type ConnectOptions struct {
	ID         string
	Generation int // 2 (socket.io-client 2.5.0, Engine.IO 3) or 4 (4.x, Engine.IO 4)
	URL        string
	Token      string
	TokenVia   string // "query" (default), "header", "auth" or "query+auth" (v4 only)
	// AuthToken, when set, is sent in the v4 auth payload besides Token.
	AuthToken  string
	Transports []string // default: the client's own default
	Origin     string
	// Quiet sockets do not print events; they count them and keep each
	// payload's "seq" for Report.
	Quiet bool
	// Latency (with Quiet) records each node:end's delay for Report.
	Latency bool
	// Timeout is the client's connect timeout (default 10s).
	Timeout time.Duration
}

// Connect opens a socket; wait for its "connect" or "connect_error".
func (c *Clients) Connect(o ConnectOptions) {
	cmd := map[string]any{"op": "connect", "id": o.ID, "gen": o.Generation, "url": o.URL, "quiet": o.Quiet, "latency": o.Latency}
	if o.Token != "" {
		cmd["token"] = o.Token
	}
	if o.TokenVia != "" {
		cmd["tokenVia"] = o.TokenVia
	}
	if o.AuthToken != "" {
		cmd["authToken"] = o.AuthToken
	}
	if o.Transports != nil {
		cmd["transports"] = o.Transports
	}
	if o.Origin != "" {
		cmd["origin"] = o.Origin
	}
	if o.Timeout > 0 {
		cmd["timeoutMs"] = o.Timeout.Milliseconds()
	}
	c.Send(cmd)
}

// Emit sends event from socket id; with ack, wait for an "ack" Event with tag.
func (c *Clients) Emit(id, event string, payload any, ack bool, tag string) {
	cmd := map[string]any{"op": "emit", "id": id, "event": event, "ack": ack, "tag": tag}
	if payload != nil {
		cmd["payload"] = payload
	}
	c.Send(cmd)
}

// Request emits with an ack and returns the ack's first argument.
func (c *Clients) Request(id, event string, payload any, timeout time.Duration) (json.RawMessage, error) {
	tag := fmt.Sprintf("req-%s-%d", id, time.Now().UnixNano())
	c.Emit(id, event, payload, true, tag)
	e, err := c.Wait(timeout, func(e Event) bool { return e.Type == "ack" && e.Tag == tag })
	if err != nil {
		return nil, err
	}
	if len(e.Args) == 0 {
		return nil, nil
	}
	return e.Args[0], nil
}

// Wait returns the first event (earlier unmatched ones included) that match
// accepts, or an error after timeout.
func (c *Clients) Wait(timeout time.Duration, match func(Event) bool) (Event, error) {
	c.mu.Lock()
	for i, e := range c.backlog {
		if match(e) {
			c.backlog = append(c.backlog[:i], c.backlog[i+1:]...)
			c.mu.Unlock()
			return e, nil
		}
	}
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		select {
		case e := <-c.events:
			if e.Type == "fail" {
				c.t.Errorf("harness: %s (id %q tag %q)", e.Message, e.ID, e.Tag)
			}
			if match(e) {
				return e, nil
			}
			c.mu.Lock()
			c.backlog = append(c.backlog, e)
			c.mu.Unlock()
		case <-c.done:
			return Event{}, fmt.Errorf("node harness exited: %s", c.stderrText())
		case <-ctx.Done():
			return Event{}, fmt.Errorf("no matching harness event within %v", timeout)
		}
	}
}

// WaitFor waits for an event of type typ from socket id.
func (c *Clients) WaitFor(id, typ string, timeout time.Duration) (Event, error) {
	return c.Wait(timeout, func(e Event) bool { return e.ID == id && e.Type == typ })
}

// WaitConnected waits until socket id connected or failed to.
func (c *Clients) WaitConnected(id string, timeout time.Duration) (Event, error) {
	return c.Wait(timeout, func(e Event) bool {
		return e.ID == id && (e.Type == "connect" || e.Type == "connect_error")
	})
}

// Report asks for the record of quiet sockets (all when ids is empty).
func (c *Clients) Report(ids []string, timeout time.Duration) (map[string]Report, error) {
	return c.report(ids, false, timeout)
}

// ReportAndForget is Report, then clears those records.
func (c *Clients) ReportAndForget(ids []string, timeout time.Duration) (map[string]Report, error) {
	return c.report(ids, true, timeout)
}

func (c *Clients) report(ids []string, forget bool, timeout time.Duration) (map[string]Report, error) {
	tag := fmt.Sprintf("report-%d", time.Now().UnixNano())
	cmd := map[string]any{"op": "report", "tag": tag, "forget": forget}
	if len(ids) > 0 {
		cmd["ids"] = ids
	}
	c.Send(cmd)
	e, err := c.Wait(timeout, func(e Event) bool { return e.Type == "report" && e.Tag == tag })
	return e.Sockets, err
}

// Drain drops the backlog (events nobody waited for).
func (c *Clients) Drain() {
	c.mu.Lock()
	c.backlog = nil
	c.mu.Unlock()
	for {
		select {
		case <-c.events:
		default:
			return
		}
	}
}

func (c *Clients) stderrText() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stderr.String()
}
