package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/server"
	"github.com/grimoire-run/grimoire/services"
)

// bearer adds a token to every request of an MCP client.
type bearer struct{ tok string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.tok)
	return http.DefaultTransport.RoundTrip(r)
}

// mcpClient is one MCP session with the server, as a user; it records
// the list_changed and progress notifications it gets.
type mcpClient struct {
	*mcp.ClientSession
	mu       sync.Mutex
	changed  int
	progress []*mcp.ProgressNotificationParams
	onChange chan struct{}
}

func connectMCP(t *testing.T, e *env, tok string) *mcpClient {
	t.Helper()
	c := &mcpClient{onChange: make(chan struct{}, 16)}
	cl := mcp.NewClient(&mcp.Implementation{Name: "grimoire-test", Version: "1"}, &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) {
			c.mu.Lock()
			c.changed++
			c.mu.Unlock()
			select {
			case c.onChange <- struct{}{}:
			default:
			}
		},
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			c.mu.Lock()
			c.progress = append(c.progress, req.Params)
			c.mu.Unlock()
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	sess, err := cl.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: e.URL + "/mcp", HTTPClient: &http.Client{Transport: bearer{tok}}, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatalf("connect MCP: %v", err)
	}
	c.ClientSession = sess
	t.Cleanup(func() { sess.Close() })
	return c
}

// waitProgress waits for n progress notifications and returns them.
func (c *mcpClient) waitProgress(t *testing.T, n int) []*mcp.ProgressNotificationParams {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		c.mu.Lock()
		got := slices.Clone(c.progress)
		c.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d progress notifications, want %d", len(got), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (c *mcpClient) changes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

func (c *mcpClient) waitChange(t *testing.T, what string) {
	t.Helper()
	select {
	case <-c.onChange:
	case <-time.After(wait):
		t.Fatalf("no notifications/tools/list_changed after %s", what)
	}
}

func (c *mcpClient) tools(t *testing.T) map[string]*mcp.Tool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
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

func (c *mcpClient) call(t *testing.T, ctx context.Context, name string, args any, progressToken any) (*mcp.CallToolResult, error) {
	t.Helper()
	p := &mcp.CallToolParams{Name: name, Arguments: args}
	if progressToken != nil {
		p.SetProgressToken(progressToken)
	}
	return c.CallTool(ctx, p)
}

func (c *mcpClient) mustCall(t *testing.T, name string, args any) *mcp.CallToolResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	res, err := c.call(t, ctx, name, args, nil)
	if err != nil {
		t.Fatalf("tools/call %s: %v", name, err)
	}
	return res
}

func resultText(r *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range r.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// structured decodes a tool result's structured content.
func structured[T any](t *testing.T, r *mcp.CallToolResult) T {
	t.Helper()
	var v T
	raw, err := json.Marshal(r.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("structured content %s: %v", raw, err)
	}
	return v
}

type spellCallResult struct {
	RunID   string         `json:"runId"`
	Status  string         `json:"status"`
	Outputs map[string]any `json:"outputs"`
}

// typedSpell is needsSpell with a typed, described Input node.
const typedSpell = `{"format":"grimoire/spell@1","id":"typed","name":"Typed greeting","nodes":[
 {"id":"start","type":"Module Trigger In","config":{"name":"start"}},
 {"id":"name","type":"Input","config":{"name":"name","required":true,"type":"string","description":"who to greet"}},
 {"id":"mood","type":"Input","config":{"name":"mood","default":"calm"}},
 {"id":"greet","type":"Text Template","config":{"template":"{{name}} is {{mood}}"},
  "inputs":[{"key":"name","kind":"data"},{"key":"mood","kind":"data"}]},
 {"id":"out","type":"Output","config":{"name":"out"}}],
 "edges":[{"from":"start.trigger","to":"greet.trigger"},{"from":"name.output","to":"greet.name"},
  {"from":"mood.output","to":"greet.mood"},{"from":"greet.trigger","to":"out.trigger"},{"from":"greet.output","to":"out.input"}]}`

// failingSpell fails at its Error node "boom".
const failingSpell = `{"format":"grimoire/spell@1","id":"failing","nodes":[
 {"id":"start","type":"Module Trigger In","config":{"name":"start"}},
 {"id":"why","type":"Input","config":{"name":"why","default":"the disk is full"}},
 {"id":"boom","type":"Error","inputs":[{"key":"string","kind":"data"}]},
 {"id":"out","type":"Output","config":{"name":"out"}}],
 "edges":[{"from":"start.trigger","to":"boom.trigger"},{"from":"why.output","to":"boom.string"},{"from":"boom.trigger","to":"out.trigger"}]}`

func putSpell(t *testing.T, e *env, tok, id, doc string) {
	t.Helper()
	resp, body := e.do("PUT", "/v1/spells/"+id, tok, doc)
	wantStatus(t, "PUT "+id, resp, body, http.StatusOK, "")
}

func privateSpell(id string) string {
	return strings.Replace(strings.Replace(typedSpell, `"id":"typed"`, `"id":"`+id+`"`, 1), "Typed greeting", "Private "+id, 1)
}

func TestMCPToolsAreTheUsersRunnableSpellsWithSchemasFromInputNodes(t *testing.T) {
	e := newEnv(t, envOptions{})
	alice, bob := token(t, "alice"), token(t, "bob")
	putSpell(t, e, alice, "typed", typedSpell)
	putSpell(t, e, bob, "bobs", privateSpell("bobs"))
	putSpell(t, e, bob, "bob-shared", privateSpell("bob-shared"))
	resp, body := e.do("PUT", "/v1/spells/bob-shared/sharing", bob, `{"readers":["alice"]}`)
	wantStatus(t, "share", resp, body, http.StatusOK, "")

	c := connectMCP(t, e, alice)
	var tools map[string]*mcp.Tool
	deadline := time.Now().Add(wait)
	for { // the spells model follows the log
		tools = c.tools(t)
		if tools["typed"] != nil && tools["bob-shared"] != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	var names []string
	for n := range tools {
		names = append(names, n)
	}
	slices.Sort(names)
	if want := []string{"bob-shared", "demo", "get_run", "list_spells", "search_knowledge", "typed"}; !slices.Equal(names, want) {
		t.Fatalf("alice's tools %v, want %v (bob's private spell must not be listed)", names, want)
	}
	typed := tools["typed"]
	if typed.Title != "Typed greeting" || !strings.Contains(typed.Description, `"typed"`) || !strings.Contains(typed.Description, "Outputs: out") {
		t.Errorf("typed tool title %q description %q", typed.Title, typed.Description)
	}
	schema, _ := json.Marshal(typed.InputSchema)
	want := `{"properties":{"mood":{"default":"calm","description":"the run input \"mood\" (Input node \"mood\")","type":"string"},` +
		`"name":{"description":"who to greet","type":"string"}},"required":["name"],"type":"object"}`
	if string(schema) != want {
		t.Errorf("typed input schema\n%s\nwant\n%s", schema, want)
	}

	list := structured[struct {
		Spells []struct {
			ID     string `json:"id"`
			Tool   string `json:"tool"`
			Owner  string `json:"owner"`
			Inputs []struct {
				Name string `json:"name"`
			} `json:"inputs"`
		} `json:"spells"`
	}](t, c.mustCall(t, "list_spells", map[string]any{}))
	var listed []string
	for _, s := range list.Spells {
		listed = append(listed, s.ID+"@"+s.Owner)
	}
	if !slices.Equal(listed, []string{"bob-shared@bob", "demo@", "typed@alice"}) {
		t.Errorf("list_spells %v", listed)
	}

	// Another user's private spell cannot be called either.
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	res, err := c.call(t, ctx, "bobs", map[string]any{"name": "Eve"}, nil)
	if err == nil && !res.IsError {
		t.Fatalf("alice called bob's private spell: %s", resultText(res))
	}
	if err == nil && strings.Contains(resultText(res), "Eve is") {
		t.Fatalf("bob's spell ran for alice: %s", resultText(res))
	}
}

func TestMCPRefusesARequestWithoutAValidToken(t *testing.T) {
	e := newEnv(t, envOptions{})
	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}`
	for name, tok := range map[string]string{"no token": "", "expired": expiredToken(t, "alice"), "wrong key": wrongKeyToken(t, "alice"), "alg none": algNoneToken("alice")} {
		resp, body := e.do("POST", "/mcp", tok, init, "Content-Type", "application/json", "Accept", "application/json, text/event-stream")
		wantStatus(t, name, resp, body, http.StatusUnauthorized, "unauthorized")
		if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: WWW-Authenticate %q", name, resp.Header.Get("WWW-Authenticate"))
		}
	}
}

func TestMCPSessionBelongsToTheUserWhoOpenedIt(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := connectMCP(t, e, token(t, "alice"))
	// Bob presents alice's session id.
	list := `{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}`
	resp, body := e.do("POST", "/mcp", token(t, "bob"), list, "Content-Type", "application/json",
		"Accept", "application/json, text/event-stream", "Mcp-Session-Id", c.ID(), "Mcp-Protocol-Version", c.InitializeResult().ProtocolVersion)
	if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusNotFound {
		t.Fatalf("bob on alice's session: %d %s", resp.StatusCode, body)
	}
	if strings.Contains(string(body), `"tools"`) {
		t.Fatalf("bob read alice's tools: %s", body)
	}
}

func TestMCPCallRunsTheSpellWithProgressAndRecordsIt(t *testing.T) {
	e := newEnv(t, envOptions{})
	alice := token(t, "alice")
	putSpell(t, e, alice, "typed", typedSpell)
	c := connectMCP(t, e, alice)
	waitTool(t, c, "typed")

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	res, err := c.call(t, ctx, "typed", map[string]any{"name": "Ada"}, "tok-1")
	if err != nil {
		t.Fatal(err)
	}
	if res.IsError {
		t.Fatalf("tool error: %s", resultText(res))
	}
	got := structured[spellCallResult](t, res)
	if got.Status != "completed" || got.Outputs["out"] != "Ada is calm" || got.RunID == "" {
		t.Fatalf("result %+v", got)
	}
	if !strings.Contains(resultText(res), `"Ada is calm"`) {
		t.Errorf("text content %q lacks the output", resultText(res))
	}

	// One notification per node end: progress counts the nodes done out
	// of the spell's five, and the message names the node. The server
	// sends them all before the result; the client hands notifications to
	// its handler on goroutines of their own, so they may land after it.
	progress := c.waitProgress(t, 5)
	slices.SortFunc(progress, func(a, b *mcp.ProgressNotificationParams) int { return int(a.Progress - b.Progress) })
	var nodesDone []string
	for i, p := range progress {
		if p.ProgressToken != "tok-1" || p.Total != 5 || p.Progress != float64(i+1) {
			t.Errorf("progress %d: token %v %v/%v %q", i, p.ProgressToken, p.Progress, p.Total, p.Message)
		}
		if p.Meta["grimoire.run/runId"] != got.RunID {
			t.Errorf("progress %d names run %v, want %s", i, p.Meta["grimoire.run/runId"], got.RunID)
		}
		nodesDone = append(nodesDone, p.Meta["grimoire.run/nodeId"].(string))
		if !strings.Contains(p.Message, p.Meta["grimoire.run/nodeId"].(string)) {
			t.Errorf("progress message %q does not name its node", p.Message)
		}
	}
	for _, n := range []string{"greet", "out"} {
		if !slices.Contains(nodesDone, n) {
			t.Errorf("no progress for node %s: %v", n, nodesDone)
		}
	}

	// A run like any other: in the log, readable over REST and get_run.
	resp, body := e.do("GET", "/v1/runs/"+got.RunID, alice, "")
	wantStatus(t, "GET run", resp, body, http.StatusOK, "")
	if v := decode[struct {
		Status string         `json:"status"`
		User   string         `json:"user"`
		Out    map[string]any `json:"outputs"`
	}](t, body); v.Status != "completed" || v.User != "alice" || v.Out["out"] != "Ada is calm" {
		t.Fatalf("run %s", body)
	}
	resp, body = e.do("GET", "/v1/runs/"+got.RunID+"/events", alice, "")
	wantStatus(t, "GET run events", resp, body, http.StatusOK, "")
	if !strings.Contains(string(body), `"type":"run:completed"`) || !strings.Contains(string(body), `"nodeId":"greet"`) {
		t.Fatalf("run events %s", body)
	}
	view := structured[struct {
		RunID  string `json:"runId"`
		Status string `json:"status"`
		Nodes  []any  `json:"nodes"`
	}](t, c.mustCall(t, "get_run", map[string]any{"runId": got.RunID}))
	if view.RunID != got.RunID || view.Status != "completed" || len(view.Nodes) == 0 {
		t.Fatalf("get_run %+v", view)
	}
	bob := connectMCP(t, e, token(t, "bob"))
	if r := bob.mustCall(t, "get_run", map[string]any{"runId": got.RunID}); !r.IsError || !strings.Contains(resultText(r), "forbidden") {
		t.Fatalf("bob's get_run of alice's run: %s", resultText(r))
	}

	// Bad inputs are a tool error that says what to change.
	r := c.mustCall(t, "typed", map[string]any{"nmae": "Ada"})
	if !r.IsError || !strings.Contains(resultText(r), `did you mean "name"?`) || !strings.Contains(resultText(r), `input "name" is required`) {
		t.Fatalf("typo: %s", resultText(r))
	}
}

// A spell whose Ask node waits for a person ends the call with the run
// waiting, not as an error, and says how to answer.
func TestMCPCallOfASpellThatAsksSaysTheRunWaits(t *testing.T) {
	e := newEnv(t, envOptions{})
	alice := token(t, "alice")
	doc, err := os.ReadFile("../examples/approve.json")
	if err != nil {
		t.Fatal(err)
	}
	putSpell(t, e, alice, "approve", string(doc))
	c := connectMCP(t, e, alice)
	waitTool(t, c, "approve")
	res := c.mustCall(t, "approve", map[string]any{"draft": "a post"})
	if res.IsError {
		t.Fatalf("tool error: %s", resultText(res))
	}
	got := structured[spellCallResult](t, res)
	if got.Status != "waiting" || got.RunID == "" || !strings.Contains(resultText(res), "/v1/runs/"+got.RunID+"/answers") {
		t.Fatalf("result %+v: %s", got, resultText(res))
	}
	resp, body := e.do("GET", "/v1/runs/"+got.RunID, alice, "")
	wantStatus(t, "GET run", resp, body, http.StatusOK, "")
	if !strings.Contains(string(body), `"waiting"`) || !strings.Contains(string(body), "Publish") {
		t.Errorf("the run over REST: %s", body)
	}
}

func waitTool(t *testing.T, c *mcpClient, name string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for c.tools(t)[name] == nil {
		if time.Now().After(deadline) {
			t.Fatalf("tool %s never listed", name)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMCPFailingSpellIsAToolErrorNamingTheNode(t *testing.T) {
	e := newEnv(t, envOptions{})
	alice := token(t, "alice")
	putSpell(t, e, alice, "failing", failingSpell)
	c := connectMCP(t, e, alice)
	waitTool(t, c, "failing")
	r := c.mustCall(t, "failing", map[string]any{})
	if !r.IsError {
		t.Fatalf("a failing spell answered %s", resultText(r))
	}
	txt := resultText(r)
	if !strings.Contains(txt, "boom (Error)") || !strings.Contains(txt, "the disk is full") {
		t.Fatalf("error %q names neither the node nor the reason", txt)
	}
}

func TestMCPCancelledCallCancelsTheRun(t *testing.T) {
	e := newEnv(t, envOptions{})
	alice := token(t, "alice")
	putSpell(t, e, alice, "hanging", string(storySpell("hanging", "hang")))
	c := connectMCP(t, e, alice)
	waitTool(t, c, "hanging")

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.call(t, ctx, "hanging", map[string]any{"name": "Ada"}, "tok-cancel")
		errc <- err
	}()
	// The first node ends (the template) before the completion hangs: the
	// progress notification tells the run id.
	var runID string
	deadline := time.Now().Add(wait)
	for runID == "" {
		c.mu.Lock()
		for _, p := range c.progress {
			if id, _ := p.Meta["grimoire.run/runId"].(string); id != "" {
				runID = id
			}
		}
		c.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatal("no progress from the hanging run")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel() // the SDK sends notifications/cancelled
	if err := <-errc; err == nil {
		t.Fatal("the cancelled call returned no error")
	}
	for {
		resp, body := e.do("GET", "/v1/runs/"+runID, alice, "")
		wantStatus(t, "GET run", resp, body, http.StatusOK, "")
		v := decode[struct {
			Status string `json:"status"`
			Reason string `json:"reason"`
		}](t, body)
		if v.Status == "cancelled" {
			if !strings.Contains(v.Reason, "MCP client") {
				t.Errorf("cancel reason %q", v.Reason)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run still %s after the call was cancelled", v.Status)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMCPToolsListChangesOnSaveShareAndDeleteOnlyForWhoMaySee(t *testing.T) {
	e := newEnv(t, envOptions{})
	alice, bob := token(t, "alice"), token(t, "bob")
	a := connectMCP(t, e, alice)
	b := connectMCP(t, e, bob)
	a.tools(t)
	b.tools(t)

	// Bob's private spell: bob hears of it, alice does not.
	putSpell(t, e, bob, "secret", privateSpell("secret"))
	b.waitChange(t, "bob saved a spell")
	if b.tools(t)["secret"] == nil {
		t.Fatal("bob's tools lack his new spell")
	}
	time.Sleep(200 * time.Millisecond) // well past the SDK's 10ms debounce
	if n := a.changes(); n != 0 {
		t.Fatalf("alice got %d list_changed for bob's private spell", n)
	}

	// Alice saves: she hears of it and lists it.
	putSpell(t, e, alice, "mine", privateSpell("mine"))
	a.waitChange(t, "alice saved a spell")
	if a.tools(t)["mine"] == nil {
		t.Fatal("alice's tools lack her new spell")
	}

	// Bob shares his spell with alice, then deletes it.
	resp, body := e.do("PUT", "/v1/spells/secret/sharing", bob, `{"readers":["alice"]}`)
	wantStatus(t, "share", resp, body, http.StatusOK, "")
	a.waitChange(t, "bob shared a spell with alice")
	if a.tools(t)["secret"] == nil {
		t.Fatal("alice's tools lack the spell shared with her")
	}
	resp, body = e.do("DELETE", "/v1/spells/secret", bob, "")
	wantStatus(t, "delete", resp, body, http.StatusNoContent, "")
	a.waitChange(t, "bob deleted the spell shared with alice")
	if a.tools(t)["secret"] != nil {
		t.Fatal("alice still lists the deleted spell")
	}
}

func TestMCPSearchKnowledge(t *testing.T) {
	e := newEnv(t, envOptions{Knowledge: true})
	ctx := context.Background()
	texts := []string{"the cat sat on the mat", "quarterly revenue grew by ten percent", "how to bake sourdough bread"}
	vecs, err := e.Knowledge.Embedder.Embed(ctx, texts)
	if err != nil {
		t.Fatal(err)
	}
	var docs []services.Document
	for i, txt := range texts {
		docs = append(docs, services.Document{ID: string(rune('a' + i)), Text: txt, Vector: vecs[i]})
	}
	if err := e.Knowledge.Vectors.Upsert(ctx, "notes", "alice", docs); err != nil {
		t.Fatal(err)
	}
	type hits struct {
		Documents []struct {
			ID    string  `json:"id"`
			Text  string  `json:"text"`
			Score float64 `json:"score"`
		} `json:"documents"`
	}
	a := connectMCP(t, e, token(t, "alice"))
	r := a.mustCall(t, "search_knowledge", map[string]any{"query": "baking bread", "collection": "notes", "k": 2})
	if r.IsError {
		t.Fatal(resultText(r))
	}
	got := structured[hits](t, r)
	if len(got.Documents) != 2 || got.Documents[0].ID != "c" || got.Documents[0].Score < got.Documents[1].Score {
		t.Fatalf("search %+v", got)
	}
	// Each user searches their own documents.
	b := connectMCP(t, e, token(t, "bob"))
	if got := structured[hits](t, b.mustCall(t, "search_knowledge", map[string]any{"query": "baking bread", "collection": "notes"})); len(got.Documents) != 0 {
		t.Fatalf("bob found alice's documents: %+v", got)
	}
	for name, args := range map[string]map[string]any{
		"k out of range": {"query": "bread", "k": 0},
		"empty query":    {"query": " "},
		"unknown arg":    {"query": "bread", "topK": 3},
	} {
		if r := a.mustCall(t, "search_knowledge", args); !r.IsError {
			t.Errorf("%s: %s", name, resultText(r))
		}
	}
}

func TestMCPSearchKnowledgeWithoutAKnowledgeService(t *testing.T) {
	e := newEnv(t, envOptions{})
	r := connectMCP(t, e, token(t, "alice")).mustCall(t, "search_knowledge", map[string]any{"query": "bread"})
	if !r.IsError || !strings.Contains(resultText(r), "no knowledge service configured") {
		t.Fatalf("search without a service: %s", resultText(r))
	}
}

// mcpClientDir is the npm package with the TypeScript SDK's client script.
const mcpClientDir = "testdata/mcp"

// TestMCPTypeScriptClient drives /mcp with the TypeScript SDK's client
// (npm @modelcontextprotocol/sdk, pinned in testdata/mcp): no token, the
// tool list and a schema, a call with progress, a failing spell, a
// cancelled call, and list_changed after a save. Without Node.js or the
// package it fails when CI=true and is skipped otherwise.
func TestMCPTypeScriptClient(t *testing.T) {
	node, err := exec.LookPath("node")
	missing := ""
	if err != nil {
		missing = "node (Node.js 18+) is not on PATH"
	} else if _, err := os.Stat(filepath.Join(mcpClientDir, "node_modules", "@modelcontextprotocol", "sdk", "package.json")); err != nil {
		missing = "npm package @modelcontextprotocol/sdk missing: run `npm ci --prefix server/testdata/mcp` (make server-deps)"
	}
	if missing != "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(missing)
		}
		t.Skip(missing)
	}
	e := newEnv(t, envOptions{})
	alice, bob := token(t, "alice"), token(t, "bob")
	putSpell(t, e, alice, "typed", typedSpell)
	putSpell(t, e, alice, "failing", failingSpell)
	putSpell(t, e, alice, "hanging", string(storySpell("hanging", "hang")))
	putSpell(t, e, bob, "bobs", privateSpell("bobs"))
	// The tools come from the spells model, which follows the log.
	waitTool(t, connectMCP(t, e, alice), "hanging")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "client.mjs")
	cmd.Dir = mcpClientDir
	cmd.Env = append(os.Environ(), "GRIMOIRE_MCP_URL="+e.URL+"/mcp", "GRIMOIRE_TOKEN="+alice)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var report struct {
		NoTokenError string         `json:"noTokenError"`
		Tools        []string       `json:"tools"`
		TypedSchema  map[string]any `json:"typedSchema"`
		Call         struct {
			IsError    bool            `json:"isError"`
			Structured spellCallResult `json:"structured"`
		} `json:"call"`
		Progress []struct {
			Progress float64        `json:"progress"`
			Total    float64        `json:"total"`
			Message  string         `json:"message"`
			Meta     map[string]any `json:"_meta"`
		} `json:"progress"`
		Failed struct {
			IsError bool   `json:"isError"`
			Text    string `json:"text"`
		} `json:"failed"`
		Cancel struct {
			Error string `json:"error"`
			RunID string `json:"runId"`
		} `json:"cancel"`
		Changed    int      `json:"changed"`
		ToolsAfter []string `json:"toolsAfter"`
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	gotReport := false
	for sc.Scan() {
		line := sc.Text()
		if line == `{"waiting":true}` {
			putSpell(t, e, alice, "added-later", privateSpell("added-later"))
			continue
		}
		if err := json.Unmarshal([]byte(line), &report); err != nil {
			t.Fatalf("client line %q: %v", line, err)
		}
		gotReport = true
	}
	if err := cmd.Wait(); err != nil || !gotReport {
		t.Fatalf("client.mjs: %v (report %v)\nstderr:\n%s", err, gotReport, stderr.String())
	}

	if !strings.Contains(report.NoTokenError, "401") {
		t.Errorf("no token: %q, want a 401", report.NoTokenError)
	}
	if want := []string{"demo", "failing", "get_run", "hanging", "list_spells", "search_knowledge", "typed"}; !slices.Equal(report.Tools, want) {
		t.Errorf("tools %v, want %v", report.Tools, want)
	}
	props, _ := report.TypedSchema["properties"].(map[string]any)
	if name, _ := props["name"].(map[string]any); name["type"] != "string" || name["description"] != "who to greet" {
		t.Errorf("typed schema %v", report.TypedSchema)
	}
	if report.Call.IsError || report.Call.Structured.Outputs["out"] != "Ada is calm" {
		t.Errorf("call %+v", report.Call)
	}
	if len(report.Progress) == 0 {
		t.Error("no progress")
	}
	for i, p := range report.Progress {
		if p.Progress != float64(i+1) || p.Total != 5 || p.Meta["grimoire.run/runId"] != report.Call.Structured.RunID {
			t.Errorf("progress %d: %+v", i, p)
		}
	}
	if !report.Failed.IsError || !strings.Contains(report.Failed.Text, "boom (Error)") || !strings.Contains(report.Failed.Text, "the disk is full") {
		t.Errorf("failed %+v", report.Failed)
	}
	if report.Cancel.Error == "" || report.Cancel.RunID == "" {
		t.Fatalf("cancel %+v", report.Cancel)
	}
	deadline := time.Now().Add(wait)
	for {
		resp, body := e.do("GET", "/v1/runs/"+report.Cancel.RunID, alice, "")
		wantStatus(t, "GET cancelled run", resp, body, http.StatusOK, "")
		if decode[struct {
			Status string `json:"status"`
		}](t, body).Status == "cancelled" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s not cancelled: %s", report.Cancel.RunID, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if report.Changed == 0 || !slices.Contains(report.ToolsAfter, "added-later") {
		t.Errorf("list_changed %d, tools after the save %v", report.Changed, report.ToolsAfter)
	}
}

func TestMCPCallsCountAgainstTheRunLimit(t *testing.T) {
	e := newEnv(t, envOptions{Limits: server.Limits{MaxRunsPerUser: 1}})
	alice := token(t, "alice")
	putSpell(t, e, alice, "hanging", string(storySpell("hanging", "hang")))
	c := connectMCP(t, e, alice)
	waitTool(t, c, "hanging")
	ctx, cancel := context.WithCancel(context.Background())
	held := make(chan struct{})
	go func() {
		defer close(held)
		c.call(t, ctx, "hanging", map[string]any{}, "hold")
	}()
	defer func() { cancel(); <-held }()
	deadline := time.Now().Add(wait)
	for {
		c.mu.Lock()
		started := len(c.progress) > 0
		c.mu.Unlock()
		if started {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first call never started")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The REST limit counts MCP calls, and refuses the second as a tool error.
	r := c.mustCall(t, "demo", map[string]any{})
	if !r.IsError || !strings.Contains(resultText(r), "limit_exceeded") {
		t.Fatalf("second call over the limit: %s", resultText(r))
	}
	resp, body := e.do("POST", "/v1/spells/demo/runs?mode=sync", alice, `{}`)
	wantStatus(t, "REST over the limit", resp, body, http.StatusTooManyRequests, "limit_exceeded")
}

func TestMCPShutdownEndsCallsWithoutCancellingTheirRuns(t *testing.T) {
	e := newEnv(t, envOptions{})
	alice := token(t, "alice")
	putSpell(t, e, alice, "hanging", string(storySpell("hanging", "hang")))
	c := connectMCP(t, e, alice)
	waitTool(t, c, "hanging")
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.call(t, context.Background(), "hanging", map[string]any{}, "p")
	}()
	var runID string
	deadline := time.Now().Add(wait)
	for runID == "" {
		c.mu.Lock()
		for _, p := range c.progress {
			runID, _ = p.Meta["grimoire.run/runId"].(string)
		}
		c.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatal("the call never started")
		}
		time.Sleep(5 * time.Millisecond)
	}
	shut := make(chan error, 1)
	go func() { shut <- e.Shutdown() }()
	select {
	case <-shut:
	case <-time.After(wait):
		t.Fatal("Shutdown waits for the tool call's run")
	}
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatal("the tool call did not end with the server")
	}
	evs, err := e.Store.ReadStream(context.Background(), events.RunStream(runID), events.Start, events.Forwards, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Type == events.TypeRunCancelled {
			t.Fatalf("the shutdown cancelled run %s: it should resume at the next start", runID)
		}
	}
}

func TestMCPClosingTheSessionCancelsItsCalls(t *testing.T) {
	e := newEnv(t, envOptions{})
	alice := token(t, "alice")
	putSpell(t, e, alice, "hanging", string(storySpell("hanging", "hang")))
	c := connectMCP(t, e, alice)
	waitTool(t, c, "hanging")
	go c.call(t, context.Background(), "hanging", map[string]any{}, "p")
	var runID string
	deadline := time.Now().Add(wait)
	for runID == "" {
		c.mu.Lock()
		for _, p := range c.progress {
			runID, _ = p.Meta["grimoire.run/runId"].(string)
		}
		c.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatal("the call never started")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Another user cannot end it, nor its calls.
	resp, body := e.do("DELETE", "/mcp", token(t, "bob"), "", "Mcp-Session-Id", c.ID(), "Mcp-Protocol-Version", c.InitializeResult().ProtocolVersion)
	wantStatus(t, "bob's DELETE of alice's session", resp, body, http.StatusForbidden, "")
	resp, body = e.do("GET", "/v1/runs/"+runID, alice, "")
	if st := decode[struct {
		Status string `json:"status"`
	}](t, body).Status; st != "running" {
		t.Fatalf("after bob's DELETE alice's run is %s", st)
	}
	// The client ends its session while the call is in progress (the Go
	// SDK's own Close waits for its calls first).
	resp, body = e.do("DELETE", "/mcp", alice, "", "Mcp-Session-Id", c.ID(), "Mcp-Protocol-Version", c.InitializeResult().ProtocolVersion)
	wantStatus(t, "DELETE session", resp, body, http.StatusNoContent, "")
	for {
		resp, body := e.do("GET", "/v1/runs/"+runID, alice, "")
		wantStatus(t, "GET run", resp, body, http.StatusOK, "")
		if decode[struct {
			Status string `json:"status"`
		}](t, body).Status == "cancelled" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run still going after its session closed: %s", body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMCPSpellsNamedLikeBuiltinsKeepDistinctTools(t *testing.T) {
	e := newEnv(t, envOptions{})
	alice := token(t, "alice")
	putSpell(t, e, alice, "list_spells", strings.Replace(typedSpell, `"id":"typed"`, `"id":"list_spells"`, 1))
	putSpell(t, e, alice, "spell_list_spells", strings.Replace(typedSpell, `"id":"typed"`, `"id":"spell_list_spells"`, 1))
	c := connectMCP(t, e, alice)
	waitTool(t, c, "spell_spell_list_spells")
	tools := c.tools(t)
	if tools["spell_list_spells"] == nil || !strings.Contains(tools["spell_list_spells"].Description, `"list_spells"`) {
		t.Fatalf("the spell list_spells is not offered as spell_list_spells: %v", keys(tools))
	}
	if tools["list_spells"] == nil || tools["list_spells"].Title != "List spells" {
		t.Fatalf("the built-in list_spells was replaced: %+v", tools["list_spells"])
	}
	r := c.mustCall(t, "spell_list_spells", map[string]any{"name": "Ada"})
	if got := structured[spellCallResult](t, r); got.Outputs["out"] != "Ada is calm" {
		t.Fatalf("spell_list_spells: %s", resultText(r))
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
