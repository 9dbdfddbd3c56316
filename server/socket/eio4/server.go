package eio4

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/zishang520/engine.io-go-parser/packet"
	"github.com/zishang520/engine.io/v2/types"
	sio "github.com/zishang520/socket.io/v2/socket"

	"github.com/grimoire-run/grimoire/server/auth"
	"github.com/grimoire-run/grimoire/server/socket/wire"
)

// Options configures the Engine.IO 4 adapter.
type Options struct {
	Core   wire.Core
	Limits wire.Limits
	// The server pings every PingInterval; a client silent for PingTimeout
	// after a ping is dropped.
	PingInterval time.Duration
	PingTimeout  time.Duration
	// AllowedOrigins for CORS on polling: nil (no cross-origin browser
	// access), ["*"] (any), or exact origins. Refusing disallowed origins is
	// the router's job.
	AllowedOrigins []string
	// ConnectTimeout closes an Engine.IO connection that does not connect a
	// namespace in time. Default 10s.
	ConnectTimeout time.Duration
	Logger         *slog.Logger
}

// Server serves Engine.IO 4 (socket.io-client 3.x/4.x) clients.
type Server struct {
	opts    Options
	log     *slog.Logger
	io      *sio.Server
	handler http.Handler

	mu       sync.Mutex
	closing  bool
	links    map[*link]struct{}
	draining map[*link]*time.Timer // disconnected, waiting for the client to hang up
}

// New builds the adapter.
func New(opts Options) (*Server, error) {
	if opts.Core == nil {
		return nil, errors.New("eio4: no Core")
	}
	if opts.PingInterval <= 0 || opts.PingTimeout <= 0 {
		return nil, fmt.Errorf("eio4: PingInterval %v and PingTimeout %v must be positive", opts.PingInterval, opts.PingTimeout)
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{opts: opts, log: opts.Logger.With("transport", "eio4"), links: map[*link]struct{}{}, draining: map[*link]*time.Timer{}}

	so := sio.DefaultServerOptions()
	so.SetServeClient(false)
	so.SetAllowEIO3(false) // Engine.IO 3 clients go to the eio3 adapter
	so.SetPingInterval(opts.PingInterval)
	so.SetPingTimeout(opts.PingTimeout)
	so.SetConnectTimeout(opts.ConnectTimeout)
	so.SetTransports(types.NewSet("polling", "websocket"))
	if opts.Limits.HardMaxBytes > 0 {
		so.SetMaxHttpBufferSize(opts.Limits.HardMaxBytes)
	}
	if len(opts.AllowedOrigins) > 0 {
		var origin any = true
		if opts.AllowedOrigins[0] != "*" {
			list := make([]any, len(opts.AllowedOrigins))
			for i, o := range opts.AllowedOrigins {
				list[i] = o
			}
			origin = list
		}
		so.SetCors(&types.Cors{Origin: origin, Credentials: true, AllowedHeaders: []string{"Content-Type", "Authorization"}})
	}
	s.io = sio.NewServer(nil, so)
	s.handler = s.io.ServeHandler(so)
	// After Socket.IO's own "connection" listener, which this one must follow.
	s.io.Engine().On("connection", openReadGate)
	s.io.Engine().On("connection", hangUpOnClose)
	root := s.io.Of("/", nil)
	root.Use(s.authenticate)
	root.On("connection", func(args ...any) {
		if len(args) > 0 {
			if sock, ok := args[0].(*sio.Socket); ok {
				s.connected(sock)
			}
		}
	})
	return s, nil
}

// ServeHTTP authenticates every request before the library sees it, as
// the Engine.IO 3 adapter does: a handshake without a valid token (query
// `token` or Authorization: Bearer) creates no session, and a request
// naming a session must carry a token of the session's user. The Socket.IO
// `auth` payload arrives only after the handshake, inside the session, so
// it cannot be what authenticates the session (docs/protocol.md).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodOptions {
		// A CORS preflight carries no credentials and touches no session.
		s.handler.ServeHTTP(w, r)
		return
	}
	q := r.URL.Query()
	id, err := s.opts.Core.Authenticate(r.Context(), wire.Handshake{Header: r.Header, Query: q, RemoteAddr: r.RemoteAddr})
	if err != nil {
		s.refuse(w, r, http.StatusUnauthorized, err)
		return
	}
	if sid := q.Get("sid"); sid != "" {
		owner, ok := s.owner(sid)
		switch {
		case !ok:
			s.refuse(w, r, http.StatusBadRequest, &wire.Error{Code: "unknown_session", Message: "no such session"})
			return
		case owner.User != id.User:
			s.refuse(w, r, http.StatusForbidden, &wire.Error{Code: "forbidden", Message: "session belongs to another user"})
			return
		}
		s.handler.ServeHTTP(w, r)
		return
	}
	if err := s.opts.Core.Opening(id); err != nil {
		s.refuse(w, r, http.StatusTooManyRequests, err)
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), ownerKey{}, id))
	w, r = gateHandshake(w, r)
	s.handler.ServeHTTP(w, r)
}

// refuse answers a request the library never sees; an allowed browser
// origin may read why (the library's CORS headers are not on it).
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, status int, err error) {
	if o := r.Header.Get("Origin"); o != "" {
		for _, allowed := range s.opts.AllowedOrigins {
			if allowed == "*" || strings.EqualFold(strings.TrimSuffix(allowed, "/"), o) {
				w.Header().Set("Access-Control-Allow-Origin", o)
				w.Header().Set("Access-Control-Allow-Credentials", "true")
				w.Header().Add("Vary", "Origin")
				break
			}
		}
	}
	wire.Refuse(w, status, err)
}

// ownerKey holds, in the context of a session's first request, the
// identity that opened it.
type ownerKey struct{}

// owner is the identity that opened Engine.IO session sid.
func (s *Server) owner(sid string) (auth.Identity, bool) {
	sock, ok := s.io.Engine().Clients().Load(sid)
	if !ok {
		return auth.Identity{}, false
	}
	return ownerOf(sock.Request())
}

func ownerOf(ctx *types.HttpContext) (auth.Identity, bool) {
	if ctx == nil || ctx.Request() == nil {
		return auth.Identity{}, false
	}
	id, ok := ctx.Request().Context().Value(ownerKey{}).(auth.Identity)
	return id, ok
}

// refuseUpgradeWait bounds how long a refused polling client's
// connect_error waits for its websocket upgrade (see authenticate).
const refuseUpgradeWait = time.Second

// authenticate runs for every namespace connection before the client is
// told it is connected; an error becomes the client's connect_error.
func (s *Server) authenticate(sock *sio.Socket, next func(*sio.ExtendedError)) {
	refuse := func(we *wire.Error) {
		send := func() { next(sio.NewExtendedError(we.Message, map[string]any{"code": we.Code, "message": we.Message})) }
		if sock.Conn().Transport().Name() != "polling" {
			send()
			return
		}
		// A refused client closes its connection at once. A default v4
		// client is then usually upgrading from polling to websocket, and
		// engine.io v2.5.0 races on its own state when a websocket closes
		// mid-upgrade (socket.MaybeUpgrade: the race detector reports it).
		// So the refusal waits, on its own goroutine (the library allows an
		// asynchronous next), until the upgrade is done, the connection is
		// gone, or refuseUpgradeWait passed (polling-only clients).
		go func() {
			conn := sock.Conn()
			deadline := time.Now().Add(refuseUpgradeWait)
			for !conn.Upgraded() && conn.ReadyState() == "open" && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			send()
		}()
	}
	req := sock.Request()
	id, ok := ownerOf(req)
	if !ok {
		refuse(&wire.Error{Code: "unauthorized", Message: "session opened without a token"})
		return
	}
	// A token in the auth payload too must name the session's user.
	if a := sock.Handshake().Auth; a != nil {
		b, err := json.Marshal(a)
		if err != nil {
			refuse(&wire.Error{Code: "bad_request", Message: "auth payload: " + err.Error()})
			return
		}
		var payload struct {
			Token string `json:"token"`
		}
		if json.Unmarshal(b, &payload) == nil && payload.Token != "" {
			h := wire.Handshake{Header: req.Request().Header, Query: req.Request().URL.Query(), RemoteAddr: req.Request().RemoteAddr, Auth: b}
			authID, err := s.opts.Core.Authenticate(req.Request().Context(), h)
			if err != nil {
				var we *wire.Error
				if !errors.As(err, &we) {
					we = &wire.Error{Code: "unauthorized", Message: err.Error()}
				}
				refuse(we)
				return
			}
			if authID.User != id.User {
				refuse(&wire.Error{Code: "forbidden", Message: "the auth payload's token names another user than the session's"})
				return
			}
			id = authID
		}
	}
	release, err := s.opts.Core.Admit(id)
	if err != nil {
		var we *wire.Error
		if !errors.As(err, &we) {
			we = &wire.Error{Code: "refused", Message: err.Error()}
		}
		refuse(we)
		return
	}
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing {
		release()
		next(sio.NewExtendedError("server is shutting down", map[string]any{"code": "shutting_down"}))
		return
	}
	// Listeners go on now, before the CONNECT packet leaves: the library
	// dispatches the "connection" event on another goroutine, and an event
	// the client sends right after connecting could otherwise find no
	// listener. Until Open runs, link buffers what arrives.
	l := &link{srv: s, sock: sock, id: id, release: release}
	sock.OnAny(l.onAny)
	sock.On("disconnect", func(args ...any) {
		reason := "transport close"
		if len(args) > 0 {
			if r, ok := args[0].(string); ok {
				reason = r
			}
		}
		l.closed(reason)
	})
	sock.SetData(l)
	next(nil)
}

func (s *Server) connected(sock *sio.Socket) {
	l, ok := sock.Data().(*link)
	if !ok {
		sock.Disconnect(true)
		return
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		sock.Disconnect(true)
		return
	}
	s.links[l] = struct{}{}
	s.mu.Unlock()
	l.open()
}

// Close disconnects every client and closes the engine.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closing = true
	links := make([]*link, 0, len(s.links))
	for l := range s.links {
		links = append(links, l)
	}
	s.mu.Unlock()
	for _, l := range links {
		l.sock.Disconnect(true)
	}
	s.mu.Lock()
	for l, t := range s.draining {
		t.Stop()
		l.sock.Conn().Close(true)
		delete(s.draining, l)
	}
	s.mu.Unlock()
	s.io.Close(nil)
	return nil
}

// link is one Engine.IO 4 client.
type link struct {
	srv     *Server
	sock    *sio.Socket
	id      auth.Identity
	release func() // the user's socket slot

	mu      sync.Mutex
	sess    wire.Session
	pending []wire.Request // arrived before Open
	opened  bool
	ended   bool
	reason  string
}

func (l *link) Protocol() int { return 4 }

func (l *link) Transport() string {
	if c := l.sock.Conn(); c != nil && c.Transport() != nil {
		return c.Transport().Name()
	}
	return ""
}

func (l *link) RemoteAddr() string { return l.sock.Conn().RemoteAddress() }

// WritePacket implements wire.Link. The packet goes to the Engine.IO
// socket as a text message, each link reading the one shared buffer
// through its own reader: the library's Socket.Emit would encode the event
// again (json.Marshal) and copy it, for every socket. What the library
// adds on that path (outgoing listeners, connection-state recovery) is not
// in use.
func (l *link) WritePacket(p []byte) error {
	if l.sock.Disconnected() {
		return errors.New("disconnected")
	}
	// Compress off, as the library's Emit path sends it.
	l.sock.Conn().Write(types.NewStringBuffer(p), &packet.Options{}, nil)
	return nil
}

// Disconnect sends DISCONNECT for the namespace; the client then closes the
// Engine.IO connection itself (closing it from here races the packet out:
// the client would see "transport close" and reconnect). A client that does
// not is cut off after the grace period.
func (l *link) Disconnect() error {
	conn := l.sock.Conn()
	l.sock.Disconnect(false)
	s := l.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.draining[l]; ok || s.closing {
		return nil
	}
	s.draining[l] = time.AfterFunc(disconnectGrace, func() {
		s.mu.Lock()
		delete(s.draining, l)
		s.mu.Unlock()
		if conn.ReadyState() == "open" {
			conn.Close(true)
		}
	})
	return nil
}

const disconnectGrace = 2 * time.Second

// abortFlush is how long Abort leaves the transport to send what was
// written before it closes the connection (closing at once drops it).
const abortFlush = 100 * time.Millisecond

// Abort implements wire.Link: DISCONNECT, then the Engine.IO connection
// is closed after abortFlush, whether the client hung up or not.
func (l *link) Abort() error {
	conn := l.sock.Conn()
	l.sock.Disconnect(false)
	time.AfterFunc(abortFlush, func() {
		if conn.ReadyState() == "open" {
			conn.Close(true)
		}
	})
	return nil
}

func (l *link) open() {
	sess, err := l.srv.opts.Core.Open(l, l.id)
	if err != nil {
		l.srv.log.Warn("open refused", "err", err)
		l.sock.Disconnect(true)
		return
	}
	l.mu.Lock()
	l.sess = sess
	l.opened = true
	pending := l.pending
	l.pending = nil
	ended, reason := l.ended, l.reason
	l.mu.Unlock()
	for _, r := range pending {
		sess.Receive(r)
	}
	if ended {
		l.forget()
		sess.Closed(reason)
	}
}

func (l *link) closed(reason string) {
	l.mu.Lock()
	if l.ended {
		l.mu.Unlock()
		return
	}
	l.ended, l.reason = true, reason
	sess := l.sess
	l.mu.Unlock()
	l.release()
	if sess != nil {
		l.forget()
		sess.Closed(reason)
	}
}

func (l *link) forget() {
	l.srv.mu.Lock()
	delete(l.srv.links, l)
	l.srv.mu.Unlock()
}

// onAny receives every client event: args are the event name, its
// arguments, and an ack function when the client asked for one.
func (l *link) onAny(args ...any) {
	req := wire.Request{}
	if n := len(args); n > 0 {
		if ack, ok := args[n-1].(sio.Ack); ok {
			req.Ack = func(p json.RawMessage) error {
				if p == nil {
					ack(nil, nil)
				} else {
					ack([]any{p}, nil)
				}
				return nil
			}
			args = args[:n-1]
		}
	}
	if len(args) == 0 {
		return
	}
	req.Event, _ = args[0].(string)
	if len(args) > 1 {
		b, err := json.Marshal(args[1])
		if err != nil {
			// Binary attachments ([]byte, io.Reader) land here or as base64.
			req.Binary = true
		} else {
			req.Payload = b
			req.Size = len(b)
		}
		if hasBinary(args[1]) {
			req.Binary, req.Payload = true, nil
		}
	}
	if max := l.srv.opts.Limits.MaxMessageBytes; max > 0 && int64(req.Size) > max {
		req.TooLarge, req.Payload = true, nil
	}
	l.mu.Lock()
	if !l.opened {
		if !l.ended {
			l.pending = append(l.pending, req)
		}
		l.mu.Unlock()
		return
	}
	sess := l.sess
	l.mu.Unlock()
	sess.Receive(req)
}

func hasBinary(v any) bool {
	switch t := v.(type) {
	case []byte, types.BufferInterface:
		return true
	case []any:
		for _, x := range t {
			if hasBinary(x) {
				return true
			}
		}
	case map[string]any:
		for _, x := range t {
			if hasBinary(x) {
				return true
			}
		}
	}
	return false
}
