package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/grimoire-run/grimoire/services/mcpclient"
)

// ProxyMCP serves, over one stdio connection (in, out), the MCP tools of
// the Grimoire server at baseURL as the holder of token sees them: it is a
// client of the server's /mcp and a server to the process that started it
// (`grimoire mcp --server URL`). Tool calls, their progress and their
// cancellation pass through; when the server says its tools changed, the
// proxy lists them again and tells its own client.
func ProxyMCP(ctx context.Context, baseURL, token string, in io.ReadCloser, out io.WriteCloser) error {
	p := &mcpProxy{progress: map[any]*forwarded{}, tools: map[string]bool{}, changed: make(chan struct{}, 1)}
	p.local = mcp.NewServer(&mcp.Implementation{Name: "grimoire", Title: "Grimoire spells", Version: "1"}, &mcp.ServerOptions{
		Capabilities: &mcp.ServerCapabilities{Tools: &mcp.ToolCapabilities{ListChanged: true}},
	})
	client := mcp.NewClient(&mcp.Implementation{Name: "grimoire-mcp-proxy", Version: "1"}, &mcp.ClientOptions{
		// Listing again is a request: it is made outside the client's
		// notification handler, which must not wait on the connection.
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) {
			select {
			case p.changed <- struct{}{}:
			default:
			}
		},
		ProgressNotificationHandler: p.forwardProgress,
	})
	p.errs = make(chan error, 1)
	endpoint := strings.TrimRight(baseURL, "/") + "/mcp"
	remote, err := client.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint:   endpoint,
		HTTPClient: &http.Client{Transport: mcpclient.Bearer{Token: token}},
	}, nil)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", endpoint, err)
	}
	defer remote.Close()
	p.remote = remote
	if err := p.syncTools(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	synced := make(chan struct{})
	go func() {
		defer close(synced)
		for {
			select {
			case <-ctx.Done():
				return
			case <-p.changed:
			}
			if err := p.syncTools(ctx); err != nil && ctx.Err() == nil {
				p.errs <- err
				return
			}
		}
	}()
	defer func() { cancel(); <-synced }()
	served := make(chan error, 1)
	go func() { served <- p.local.Run(ctx, &mcp.IOTransport{Reader: in, Writer: out}) }()
	select {
	case err = <-served:
	case err = <-p.errs:
		cancel()
		<-served
	case <-remoteGone(remote):
		cancel()
		<-served
		err = fmt.Errorf("the server at %s closed the MCP session", baseURL)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func remoteGone(s *mcp.ClientSession) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		s.Wait()
		close(done)
	}()
	return done
}

type mcpProxy struct {
	local   *mcp.Server
	remote  *mcp.ClientSession
	errs    chan error
	changed chan struct{} // the server's tools changed

	mu       sync.Mutex
	tools    map[string]bool
	progress map[any]*forwarded // by progress token
}

// forwarded is a call's progress: the local session that asked for it and
// how many notifications went to it.
type forwarded struct {
	session *mcp.ServerSession
	sent    int
	more    chan struct{} // signalled after each notification
}

// proxyProgressWait bounds how long a call's result waits for the progress
// notifications that the server sent before it.
const proxyProgressWait = 5 * time.Second

// syncTools mirrors the server's tools.
func (p *mcpProxy) syncTools(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	seen := map[string]bool{}
	for tool, err := range p.remote.Tools(ctx, nil) {
		if err != nil {
			return fmt.Errorf("list the server's tools: %w", err)
		}
		seen[tool.Name] = true
		p.local.AddTool(tool, p.forwardCall(tool.Name))
		p.tools[tool.Name] = true
	}
	dropTools(p.local, p.tools, seen)
	return nil
}

// forwardCall calls the server's tool; a cancelled call is cancelled there
// too (the SDK client sends notifications/cancelled).
func (p *mcpProxy) forwardCall(name string) mcp.ToolHandler {
	return func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		params := &mcp.CallToolParams{Name: name, Arguments: json.RawMessage(req.Params.Arguments)}
		if len(req.Params.Arguments) == 0 {
			params.Arguments = map[string]any{}
		}
		token := req.Params.GetProgressToken()
		if token == nil {
			return p.remote.CallTool(ctx, params)
		}
		params.SetProgressToken(token)
		f := &forwarded{session: req.Session, more: make(chan struct{}, 1)}
		p.mu.Lock()
		p.progress[token] = f
		p.mu.Unlock()
		defer func() {
			p.mu.Lock()
			delete(p.progress, token)
			p.mu.Unlock()
		}()
		res, err := p.remote.CallTool(ctx, params)
		if err == nil {
			// The result can overtake the notifications before it (the
			// client hands those to a queue): they go out first.
			want, _ := res.Meta[progressSentMeta].(float64)
			timeout := time.After(proxyProgressWait)
			for {
				p.mu.Lock()
				sent := f.sent
				p.mu.Unlock()
				if float64(sent) >= want {
					break
				}
				select {
				case <-f.more:
				case <-timeout:
					return res, nil
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
		}
		return res, err
	}
}

func (p *mcpProxy) forwardProgress(ctx context.Context, req *mcp.ProgressNotificationClientRequest) {
	p.mu.Lock()
	f := p.progress[req.Params.ProgressToken]
	p.mu.Unlock()
	if f == nil {
		return
	}
	_ = f.session.NotifyProgress(ctx, req.Params)
	p.mu.Lock()
	f.sent++
	p.mu.Unlock()
	select {
	case f.more <- struct{}{}:
	default:
	}
}
