package grimoire

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client talks to one Grimoire server. It is safe for concurrent use.
type Client struct {
	base       *url.URL
	http       *http.Client
	token      TokenSource
	userAgent  string
	reconnects int
	retryDelay time.Duration
	idle       time.Duration
}

// TokenSource returns the bearer token for a request; it is called for
// every request, so it may refresh an expiring token.
type TokenSource func(ctx context.Context) (string, error)

// Option configures a Client.
type Option func(*Client)

// WithToken sends token as `Authorization: Bearer <token>` on every request
// (`grimoire token create --user NAME` prints one; IssueToken signs one).
func WithToken(token string) Option {
	return func(c *Client) {
		c.token = func(context.Context) (string, error) { return token, nil }
	}
}

// WithTokenSource asks src for the token before every request.
func WithTokenSource(src TokenSource) Option {
	return func(c *Client) { c.token = src }
}

// WithHTTPClient uses hc for every request (default: a client without an
// overall timeout, since streams last as long as their runs; bound calls
// with their context).
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.http = hc
		}
	}
}

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option {
	return func(c *Client) { c.userAgent = ua }
}

// WithReconnect sets how an event stream recovers from a dropped
// connection: up to max consecutive reconnections without receiving an
// event (default 5; 0 disables), waiting delay before each (default 500ms,
// doubling on each failure up to 10s; a `retry:` field from the server
// replaces it).
func WithReconnect(max int, delay time.Duration) Option {
	return func(c *Client) {
		c.reconnects = max
		if delay > 0 {
			c.retryDelay = delay
		}
	}
}

// WithStreamIdleTimeout drops and reopens an event stream that has sent
// nothing, not even a keep-alive comment, for d (default 45s; the server
// sends a keep-alive every 15s). It catches connections that died without
// closing. 0 disables it.
func WithStreamIdleTimeout(d time.Duration) Option {
	return func(c *Client) { c.idle = d }
}

// New returns a client for the server at baseURL, such as
// "http://127.0.0.1:8080".
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("grimoire: base URL %q: %w", baseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("grimoire: base URL %q: want http(s)://HOST[:PORT]", baseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	c := &Client{
		base:       u,
		http:       &http.Client{},
		userAgent:  "grimoire-go",
		reconnects: 5,
		retryDelay: 500 * time.Millisecond,
		idle:       45 * time.Second,
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// endpoint joins path segments (each escaped) under the base URL.
func (c *Client) endpoint(query url.Values, segments ...string) string {
	u := *c.base
	var b strings.Builder
	b.WriteString(u.EscapedPath())
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	u.RawPath = b.String()
	u.Path, _ = url.PathUnescape(u.RawPath)
	u.RawQuery = query.Encode()
	return u.String()
}

// newRequest builds an authenticated request.
func (c *Client) newRequest(ctx context.Context, method, target string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, fmt.Errorf("grimoire: %s %s: %w", method, target, err)
	}
	if c.token != nil {
		tok, err := c.token(ctx)
		if err != nil {
			return nil, fmt.Errorf("grimoire: get token for %s %s: %w", method, target, err)
		}
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
	}
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// send performs req and returns the response; a status of 400 or above is
// read and returned as an *APIError.
func (c *Client) send(req *http.Request) (*http.Response, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("grimoire: %s %s: %w", req.Method, redactedURL(req), err)
	}
	if resp.StatusCode >= 400 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		return nil, apiErrorFrom(resp, body)
	}
	return resp, nil
}

// doJSON sends in (if not nil) as JSON and decodes a success answer into
// out (if not nil). It returns the response with its body closed.
func (c *Client) doJSON(ctx context.Context, method, target string, in, out any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("grimoire: encode %s %s: %w", method, target, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := c.newRequest(ctx, method, target, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.send(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode != http.StatusNoContent {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return resp, fmt.Errorf("grimoire: decode %s %s answer: %w", method, target, err)
		}
	}
	return resp, nil
}

// Health reports whether the server answers /readyz with 200 (its event
// store is reachable).
func (c *Client) Health(ctx context.Context) error {
	_, err := c.doJSON(ctx, http.MethodGet, c.endpoint(nil, "readyz"), nil, nil)
	return err
}

// retriable reports whether a failed stream connection is worth another
// try: network errors and 5xx answers, never an answer about the request.
func retriable(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status >= 500 && ae.Status != http.StatusNotImplemented
	}
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}
