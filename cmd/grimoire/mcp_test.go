package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/grimoire-run/grimoire/server/auth"
)

// stdioClient starts `grimoire mcp ARGS` (this test binary as the command)
// and speaks MCP with it over its stdin and stdout.
type stdioClient struct {
	*mcp.ClientSession
	mu       sync.Mutex
	progress []*mcp.ProgressNotificationParams
	changed  chan struct{}
}

func startStdioMCP(t *testing.T, cmd *exec.Cmd) *stdioClient {
	t.Helper()
	c := &stdioClient{changed: make(chan struct{}, 8)}
	cl := mcp.NewClient(&mcp.Implementation{Name: "grimoire-cli-test", Version: "1"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			c.mu.Lock()
			c.progress = append(c.progress, req.Params)
			c.mu.Unlock()
		},
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) {
			select {
			case c.changed <- struct{}{}:
			default:
			}
		},
	})
	var stderr strings.Builder
	cmd.Stderr = &stderr
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sess, err := cl.Connect(ctx, &mcp.CommandTransport{Command: cmd, TerminateDuration: 10 * time.Second}, nil)
	if err != nil {
		t.Fatalf("start grimoire mcp: %v (stderr: %s)", err, stderr.String())
	}
	c.ClientSession = sess
	t.Cleanup(func() {
		if err := sess.Close(); err != nil {
			t.Logf("close grimoire mcp: %v", err)
		}
		if t.Failed() {
			t.Logf("grimoire mcp stderr:\n%s", stderr.String())
		}
	})
	return c
}

func (c *stdioClient) toolNames(t *testing.T) map[string]*mcp.Tool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := map[string]*mcp.Tool{}
	for tool, err := range c.Tools(ctx, nil) {
		if err != nil {
			t.Fatalf("tools/list: %v", err)
		}
		out[tool.Name] = tool
	}
	return out
}

func (c *stdioClient) callHello(t *testing.T, name string) (outputs map[string]any, runID string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := &mcp.CallToolParams{Name: "hello", Arguments: map[string]any{"name": name}}
	p.SetProgressToken("p1")
	res, err := c.CallTool(ctx, p)
	if err != nil {
		t.Fatalf("call hello: %v", err)
	}
	if res.IsError {
		t.Fatalf("call hello: tool error %+v", res.Content)
	}
	raw, _ := json.Marshal(res.StructuredContent)
	var out struct {
		RunID   string         `json:"runId"`
		Outputs map[string]any `json:"outputs"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || out.RunID == "" {
		t.Fatalf("call hello: result %s", raw)
	}
	// The client hands notifications to its handler on goroutines of
	// their own: the last may land after the result.
	deadline := time.Now().Add(30 * time.Second)
	for {
		c.mu.Lock()
		n := len(c.progress)
		c.mu.Unlock()
		if n >= 4 { // hello's four nodes
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("call hello: %d progress notifications, want 4", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return out.Outputs, out.RunID
}

// TestMCPOverStdioOnTheDataDirectory: without a server, `grimoire mcp`
// opens the data directory and serves its spells itself.
func TestMCPOverStdioOnTheDataDirectory(t *testing.T) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(t.TempDir(), "data")
	imp := cliProcess(repo, data, "import", "examples/hello.json")
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}

	c := startStdioMCP(t, cliProcess(repo, data, "mcp"))
	tools := c.toolNames(t)
	for _, want := range []string{"hello", "list_spells", "get_run", "search_knowledge"} {
		if tools[want] == nil {
			t.Fatalf("tools %v lack %s", keys(tools), want)
		}
	}
	schema, _ := json.Marshal(tools["hello"].InputSchema)
	if !strings.Contains(string(schema), `"name":{"default":"world"`) || !strings.Contains(string(schema), `"type":"string"`) {
		t.Errorf("hello schema %s", schema)
	}
	got, runID := c.callHello(t, "Ada")
	if got["greeting"] != "Hello, Ada!" {
		t.Fatalf("hello outputs %v", got)
	}
	// The run is in the data directory's log, as the operator's.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := c.CallTool(ctx, &mcp.CallToolParams{Name: "get_run", Arguments: map[string]any{"runId": runID}})
	if err != nil || res.IsError {
		t.Fatalf("get_run: %v %+v", err, res)
	}
	raw, _ := json.Marshal(res.StructuredContent)
	if !strings.Contains(string(raw), `"status":"completed"`) || strings.Contains(string(raw), `"user"`) {
		t.Fatalf("get_run %s: want a completed run with no user", raw)
	}
}

// TestMCPOverStdioProxiesARunningServer: with --server and a token,
// `grimoire mcp` passes the server's tools through as the token's user,
// and their changes.
func TestMCPOverStdioProxiesARunningServer(t *testing.T) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(t.TempDir(), "data")
	base, _ := startServe(t, repo, data, nil, "--no-demo")
	secret, err := auth.LoadSecret(data)
	if err != nil {
		t.Fatal(err)
	}
	alice, err := auth.Issue(secret, "alice", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	put := func(id string) {
		t.Helper()
		doc, err := os.ReadFile(filepath.Join(repo, "examples/hello.json"))
		if err != nil {
			t.Fatal(err)
		}
		body := strings.Replace(string(doc), `"id": "hello"`, `"id": "`+id+`"`, 1)
		req, _ := http.NewRequest("PUT", base+"/v1/spells/"+id, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+alice)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("PUT %s: %s", id, resp.Status)
		}
	}
	put("hello")

	c := startStdioMCP(t, cliProcess(repo, data, "mcp", "--server", base, "--token", alice))
	deadline := time.Now().Add(30 * time.Second)
	for c.toolNames(t)["hello"] == nil {
		if time.Now().After(deadline) {
			t.Fatal("the proxy never listed alice's spell")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got, _ := c.callHello(t, "Ada"); got["greeting"] != "Hello, Ada!" {
		t.Fatalf("hello outputs %v", got)
	}

	// A spell saved on the server reaches the proxy's client.
	put("hello-again")
	select {
	case <-c.changed:
	case <-time.After(30 * time.Second):
		t.Fatal("no notifications/tools/list_changed through the proxy")
	}
	deadline = time.Now().Add(30 * time.Second)
	for c.toolNames(t)["hello-again"] == nil {
		if time.Now().After(deadline) {
			t.Fatal("the proxy never listed the new spell")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
