package mcpclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/grimoire-run/grimoire/services"
)

// Server is one configured MCP server.
type Server struct {
	// URL is its Streamable HTTP endpoint, such as http://host:8080/mcp.
	URL string `json:"url"`
	// Token, when set, is sent as Authorization: Bearer.
	Token string `json:"token,omitempty"`
}

// Client holds one session per server, opened on first use and opened
// again after a failure. It is safe for concurrent use.
type Client struct {
	servers map[string]Server

	mu       sync.Mutex
	sessions map[string]*mcp.ClientSession
	closed   bool
}

var _ services.ToolServers = (*Client)(nil)

// New returns a client of the given servers, by name.
func New(servers map[string]Server) *Client {
	return &Client{servers: servers, sessions: map[string]*mcp.ClientSession{}}
}

// ParseServers reads GRIMOIRE_MCP_SERVERS: a JSON object of servers by
// name, {"search": {"url": "http://127.0.0.1:9000/mcp", "token": "…"}}.
func ParseServers(raw string) (map[string]Server, error) {
	var servers map[string]Server
	if err := json.Unmarshal([]byte(raw), &servers); err != nil {
		return nil, fmt.Errorf(`want a JSON object such as {"search": {"url": "http://127.0.0.1:9000/mcp"}}: %w`, err)
	}
	for name, s := range servers {
		u, err := url.Parse(s.URL)
		if strings.TrimSpace(name) == "" {
			return nil, errors.New("a server has an empty name")
		}
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("server %q: url %q: want http(s)://HOST:PORT/PATH", name, s.URL)
		}
	}
	return servers, nil
}

// Names lists the configured servers.
func (c *Client) Names() []string {
	names := make([]string, 0, len(c.servers))
	for n := range c.servers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (c *Client) session(ctx context.Context, name string) (*mcp.ClientSession, error) {
	srv, ok := c.servers[name]
	if !ok {
		return nil, fmt.Errorf("MCP server %q: %w; configured: %s", name, services.ErrNoToolServer, strings.Join(c.Names(), ", "))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errors.New("mcpclient: closed")
	}
	if s := c.sessions[name]; s != nil {
		return s, nil
	}
	hc := http.DefaultClient
	if srv.Token != "" {
		hc = &http.Client{Transport: Bearer{Token: srv.Token}}
	}
	cl := mcp.NewClient(&mcp.Implementation{Name: "grimoire", Version: "1"}, nil)
	s, err := cl.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: srv.URL, HTTPClient: hc, DisableStandaloneSSE: true}, nil)
	if err != nil {
		return nil, fmt.Errorf("connect to MCP server %q (%s): %w", name, srv.URL, err)
	}
	c.sessions[name] = s
	return s, nil
}

// forget drops a session that failed, so that the next call opens another.
func (c *Client) forget(name string, s *mcp.ClientSession) {
	c.mu.Lock()
	if c.sessions[name] == s {
		delete(c.sessions, name)
	}
	c.mu.Unlock()
	s.Close()
}

// withSession runs f on the server's session, once more on a new session
// when the first fails for any reason but ctx.
func withSession[T any](ctx context.Context, c *Client, name string, f func(*mcp.ClientSession) (T, error)) (T, error) {
	var zero T
	for attempt := 0; ; attempt++ {
		s, err := c.session(ctx, name)
		if err != nil {
			return zero, err
		}
		v, err := f(s)
		if err == nil || ctx.Err() != nil || attempt == 1 {
			if err != nil {
				return zero, fmt.Errorf("MCP server %q: %w", name, err)
			}
			return v, nil
		}
		c.forget(name, s)
	}
}

// ListTools implements services.ToolServers.
func (c *Client) ListTools(ctx context.Context, server string) ([]services.Tool, error) {
	return withSession(ctx, c, server, func(s *mcp.ClientSession) ([]services.Tool, error) {
		var out []services.Tool
		for t, err := range s.Tools(ctx, nil) {
			if err != nil {
				return nil, err
			}
			schema, err := json.Marshal(t.InputSchema)
			if err != nil {
				return nil, fmt.Errorf("tool %q: input schema: %w", t.Name, err)
			}
			out = append(out, services.Tool{Name: t.Name, Description: t.Description, Parameters: schema})
		}
		return out, nil
	})
}

// CallTool implements services.ToolServers: the result's text contents,
// joined, or its structured content as JSON when it has no text.
func (c *Client) CallTool(ctx context.Context, server, tool string, arguments json.RawMessage) (string, bool, error) {
	var args any = map[string]any{}
	if len(strings.TrimSpace(string(arguments))) > 0 {
		args = arguments
	}
	type result struct {
		text    string
		isError bool
	}
	r, err := withSession(ctx, c, server, func(s *mcp.ClientSession) (result, error) {
		res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
		if err != nil {
			return result{}, err
		}
		var texts []string
		for _, content := range res.Content {
			if t, ok := content.(*mcp.TextContent); ok {
				texts = append(texts, t.Text)
			}
		}
		text := strings.Join(texts, "\n")
		if text == "" && res.StructuredContent != nil {
			b, err := json.Marshal(res.StructuredContent)
			if err != nil {
				return result{}, err
			}
			text = string(b)
		}
		return result{text: text, isError: res.IsError}, nil
	})
	return r.text, r.isError, err
}

// Close ends every session.
func (c *Client) Close() error {
	c.mu.Lock()
	sessions := c.sessions
	c.sessions, c.closed = map[string]*mcp.ClientSession{}, true
	c.mu.Unlock()
	var errs []error
	for _, s := range sessions {
		if err := s.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Bearer is an http.RoundTripper that sends Token as Authorization: Bearer
// on every request (an MCP client's HTTP client).
type Bearer struct{ Token string }

func (b Bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.Token)
	return http.DefaultTransport.RoundTrip(r)
}
