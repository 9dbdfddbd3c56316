package nodes_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/grimoire-run/grimoire/nodes"
	"github.com/grimoire-run/grimoire/services/devllm"
	"github.com/grimoire-run/grimoire/services/mcpclient"
)

// calcServer is a real MCP server (the Go SDK's, over Streamable HTTP)
// with two tools: add, and broken, which always reports an error. It
// requires the bearer token "calc-token".
func calcServer(t *testing.T) string {
	t.Helper()
	s := mcp.NewServer(&mcp.Implementation{Name: "calc", Version: "1"}, nil)
	type addArgs struct {
		A float64 `json:"a" jsonschema:"the first number"`
		B float64 `json:"b" jsonschema:"the second number"`
	}
	mcp.AddTool(s, &mcp.Tool{Name: "add", Description: "Adds two numbers."}, func(_ context.Context, _ *mcp.CallToolRequest, in addArgs) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprint(in.A + in.B)}}}, nil, nil
	})
	s.AddTool(&mcp.Tool{Name: "broken", Description: "Always fails.", InputSchema: map[string]any{"type": "object"}}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "the abacus is broken"}}}, nil
	})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer calc-token" {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestChatCompletionCallsToolsOfAnMCPServer(t *testing.T) {
	comp, llm := inferenceClient(t, devllm.Options{})
	tools := mcpclient.New(map[string]mcpclient.Server{"calc": {URL: calcServer(t), Token: "calc-token"}})
	t.Cleanup(func() { tools.Close() })
	h := newHarness(t, nodes.Services{Completion: comp, ToolServers: tools})
	h.runner.Spells = spellMap{"upper": upperSpell()}

	cfg := map[string]any{"prompt": `call calc_add {"a": 2, "b": 3}`, "tools": []any{"upper"}, "mcpServers": []any{"calc"}}
	outs, _ := h.mustRun(t, chatSpell(cfg), map[string]any{"question": "x"})
	if outs["result"] != "5" {
		t.Fatalf("result %q, want the MCP tool's answer echoed back", outs["result"])
	}
	var offered []struct {
		Function struct {
			Name       string
			Parameters map[string]any
		}
	}
	b, _ := json.Marshal(llm.RequestsTo(devllm.Chat)[0].JSON["tools"])
	json.Unmarshal(b, &offered)
	names := map[string]map[string]any{}
	for _, o := range offered {
		names[o.Function.Name] = o.Function.Parameters
	}
	if len(names) != 3 || names["Shout_it"] == nil || names["calc_broken"] == nil {
		t.Fatalf("tools offered %s: want the spell and both MCP tools", b)
	}
	if props, _ := names["calc_add"]["properties"].(map[string]any); props["a"] == nil || props["b"] == nil {
		t.Errorf("calc_add parameters %v, want the server's input schema", names["calc_add"])
	}

	// A tool error goes back to the model, which can correct itself.
	cfg = map[string]any{"prompt": `call calc_broken {}`, "mcpServers": []any{map[string]any{"server": "calc", "tools": []any{"broken"}}}}
	outs, _ = h.mustRun(t, chatSpell(cfg), map[string]any{"question": "x"})
	if !strings.Contains(fmt.Sprint(outs["result"]), "error: the abacus is broken") {
		t.Fatalf("result %q, want the tool's error", outs["result"])
	}
}

func TestChatCompletionMCPServerErrors(t *testing.T) {
	comp, _ := inferenceClient(t, devllm.Options{})
	url := calcServer(t)
	for _, tc := range []struct {
		name    string
		servers map[string]mcpclient.Server
		cfg     any
		want    string
	}{
		{"unknown server", map[string]mcpclient.Server{"calc": {URL: url, Token: "calc-token"}}, []any{"nope"}, `MCP server "nope": no such MCP server configured`},
		{"unknown tool", map[string]mcpclient.Server{"calc": {URL: url, Token: "calc-token"}}, []any{map[string]any{"server": "calc", "tools": []any{"mul"}}}, `MCP server "calc" has no tool "mul"`},
		{"refused", map[string]mcpclient.Server{"calc": {URL: url, Token: "wrong"}}, []any{"calc"}, `connect to MCP server "calc"`},
		{"no tool servers", nil, []any{"calc"}, `no such MCP server configured`},
		{"bad config", nil, 42.0, `config "mcpServers": want a list of server names`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svcs := nodes.Services{Completion: comp}
			if tc.servers != nil {
				c := mcpclient.New(tc.servers)
				t.Cleanup(func() { c.Close() })
				svcs.ToolServers = c
			}
			h := newHarness(t, svcs)
			_, _, err := h.run(context.Background(), chatSpell(map[string]any{"prompt": "hi", "mcpServers": tc.cfg}), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
