package socket

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/grimoire-run/grimoire/server/auth"
	"github.com/grimoire-run/grimoire/server/socket/eio3"
	"github.com/grimoire-run/grimoire/server/socket/eio4"
	"github.com/grimoire-run/grimoire/server/socket/wire"
)

// TokenVerifier turns a bearer token into an Identity; *auth.Verifier is one.
type TokenVerifier interface {
	Verify(ctx context.Context, token string) (auth.Identity, error)
}

// Options configures a Server. The zero value of every field but Verifier
// means its default.
type Options struct {
	// Verifier checks the token each client presents (required).
	Verifier TokenVerifier
	// AllowedOrigins lists the browser origins that may connect
	// ("https://editor.example.com"); "*" allows any. Requests without an
	// Origin header (non-browser clients) and same-origin requests are
	// always allowed.
	AllowedOrigins []string
	// PingInterval and PingTimeout: heartbeat. PingTimeout must exceed
	// PingInterval (Engine.IO 3 drops every client otherwise). Defaults 20s
	// and 30s.
	PingInterval time.Duration
	PingTimeout  time.Duration
	// MaxMessageBytes: a client packet above it gets an error ack
	// ("message_too_large") and the socket stays up. Default 1 MiB.
	MaxMessageBytes int64
	// HardMaxBytes: the transport refuses anything above it outright.
	// Default 4×MaxMessageBytes.
	HardMaxBytes int64
	// RatePerSecond and RateBurst: requests a connection may send (token
	// bucket). Beyond, a request gets an error ack ("rate_limited") without
	// reaching its handler, and a connection that goes on sending (4×
	// RateBurst refused requests in a row, at least 100) is closed (closing
	// {code: "rate_limited"}). Defaults 20/s and 40.
	RatePerSecond float64
	RateBurst     int
	// MaxPending: requests queued on one connection while its handlers run;
	// beyond, "overloaded". Default 64.
	MaxPending int
	// SendQueue: events queued for one connection that has not read them
	// yet; beyond, the connection is closed ("slow_consumer"). Default 4096.
	SendQueue int
	// HandshakesPerSecond and HandshakeBurst: requests without a valid
	// token one client address may make (token bucket); beyond, they are
	// answered HTTP 429 with Retry-After (rate_limited) until the bucket
	// refills. Authenticated requests are not counted. Defaults 5/s and 20.
	HandshakesPerSecond float64
	HandshakeBurst      int
	// ConnectsPerSecond and ConnectBurst: new sockets (Engine.IO sessions)
	// one user may open (token bucket); beyond, the handshake is answered
	// HTTP 429 rate_limited with Retry-After. Defaults 5/s and 30.
	ConnectsPerSecond float64
	ConnectBurst      int
	// MaxSocketsPerUser: sockets one user may hold open at once, over both
	// generations; one more gets connect_error too_many_sockets. Default 64.
	MaxSocketsPerUser int
	// ConnectTimeout: an Engine.IO 4 connection must connect its namespace
	// (send its Socket.IO CONNECT) within it, or is closed. Default 10s.
	ConnectTimeout time.Duration
	Logger         *slog.Logger
}

func (o *Options) defaults() error {
	if o.Verifier == nil {
		return errors.New("socket: Options.Verifier is required")
	}
	if o.PingInterval == 0 {
		o.PingInterval = 20 * time.Second
	}
	if o.PingTimeout == 0 {
		o.PingTimeout = 30 * time.Second
	}
	if o.PingInterval < 0 || o.PingTimeout <= o.PingInterval {
		return fmt.Errorf("socket: PingTimeout (%v) must be greater than PingInterval (%v): Engine.IO 3 clients ping every PingInterval and are dropped after PingTimeout of silence", o.PingTimeout, o.PingInterval)
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = 1 << 20
	}
	if o.HardMaxBytes <= 0 {
		o.HardMaxBytes = 4 * o.MaxMessageBytes
	}
	if o.HardMaxBytes < o.MaxMessageBytes {
		return fmt.Errorf("socket: HardMaxBytes (%d) below MaxMessageBytes (%d)", o.HardMaxBytes, o.MaxMessageBytes)
	}
	if o.RatePerSecond <= 0 {
		o.RatePerSecond = 20
	}
	if o.RateBurst <= 0 {
		o.RateBurst = int(2 * o.RatePerSecond)
	}
	if o.MaxPending <= 0 {
		o.MaxPending = 64
	}
	if o.SendQueue <= 0 {
		o.SendQueue = 4096
	}
	if o.HandshakesPerSecond <= 0 {
		o.HandshakesPerSecond = 5
	}
	if o.HandshakeBurst <= 0 {
		o.HandshakeBurst = 20
	}
	if o.ConnectsPerSecond <= 0 {
		o.ConnectsPerSecond = 5
	}
	if o.ConnectBurst <= 0 {
		o.ConnectBurst = 30
	}
	if o.MaxSocketsPerUser <= 0 {
		o.MaxSocketsPerUser = 64
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	for _, origin := range o.AllowedOrigins {
		if origin == "*" {
			continue
		}
		u, err := url.Parse(origin)
		if err != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return fmt.Errorf("socket: allowed origin %q is not scheme://host[:port]", origin)
		}
	}
	return nil
}

// Handler answers one client event. payload is the event's first argument as
// the client sent it (nil when absent): decode it with Decode. The returned
// ack is sent to the client when it asked for one; an error is sent as
// {"error":{"code","message"}} (use *Error to choose the code). Handlers of
// one connection run one at a time, in arrival order; a handler that starts
// long work (a run) must do it on its own goroutine bound to c.Context().
type Handler func(ctx context.Context, c Conn, payload json.RawMessage) (ack any, err error)

// Server is the transport-neutral Socket.IO server: one http.Handler for
// /socket.io/ that serves Engine.IO 3 clients (socket.io-client 1.x/2.x)
// through go-socket.io and Engine.IO 4 clients (3.x/4.x) through
// zishang520/socket.io, with one set of handlers, rooms and limits.
type Server struct {
	opts Options
	log  *slog.Logger
	v3   *eio3.Server
	v4   *eio4.Server

	refusals *keyedBuckets // failed authentications, by client address
	opens    *keyedBuckets // new sessions, by user
	sockets  *userSockets

	hmu          sync.RWMutex
	handlers     map[string]Handler
	onConnect    []func(ctx context.Context, c Conn)
	onDisconnect []func(c Conn, reason string)

	mu      sync.RWMutex
	closing bool
	conns   map[string]*conn
	rooms   map[string]map[*conn]struct{}
	wg      sync.WaitGroup // one count per live conn and per mailbox goroutine
}

// New builds a Server. Serve it with http.Handle("/socket.io/", srv).
func New(opts Options) (*Server, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	s := &Server{
		opts:     opts,
		log:      opts.Logger.With("component", "socket"),
		handlers: map[string]Handler{},
		conns:    map[string]*conn{},
		rooms:    map[string]map[*conn]struct{}{},
		refusals: newKeyedBuckets(opts.HandshakesPerSecond, opts.HandshakeBurst),
		opens:    newKeyedBuckets(opts.ConnectsPerSecond, opts.ConnectBurst),
		sockets:  &userSockets{max: opts.MaxSocketsPerUser, open: map[string]int{}},
	}
	limits := wire.Limits{MaxMessageBytes: opts.MaxMessageBytes, HardMaxBytes: opts.HardMaxBytes}
	var err error
	s.v3, err = eio3.New(eio3.Options{
		Core: s, Limits: limits, PingInterval: opts.PingInterval, PingTimeout: opts.PingTimeout,
		AllowOrigin: s.originAllowed, Logger: opts.Logger,
	})
	if err != nil {
		return nil, err
	}
	s.v4, err = eio4.New(eio4.Options{
		Core: s, Limits: limits, PingInterval: opts.PingInterval, PingTimeout: opts.PingTimeout,
		AllowedOrigins: opts.AllowedOrigins, ConnectTimeout: opts.ConnectTimeout, Logger: opts.Logger,
	})
	if err != nil {
		s.v3.Close()
		return nil, err
	}
	return s, nil
}

// On registers the handler of event, replacing any previous one.
func (s *Server) On(event string, h Handler) {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	s.handlers[event] = h
}

// OnConnect registers f to run when a client has connected, before any of
// its requests is handled. Emitting from f is safe.
func (s *Server) OnConnect(f func(ctx context.Context, c Conn)) {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	s.onConnect = append(s.onConnect, f)
}

// OnDisconnect registers f to run once a client is gone, after its last
// handler returned. c.Context() is already cancelled.
func (s *Server) OnDisconnect(f func(c Conn, reason string)) {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	s.onDisconnect = append(s.onDisconnect, f)
}

// ServeHTTP routes by the EIO query parameter: 3 to the Engine.IO 3
// adapter, 4 to the Engine.IO 4 one.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if o := r.Header.Get("Origin"); o != "" && !s.originAllowed(o) && !sameOrigin(o, r) {
		writeError(w, http.StatusForbidden, &Error{Code: CodeForbidden, Message: fmt.Sprintf("origin %q is not allowed", o)})
		return
	}
	switch r.URL.Query().Get("EIO") {
	case "3":
		s.v3.ServeHTTP(w, r)
	case "4":
		s.v4.ServeHTTP(w, r)
	default:
		writeError(w, http.StatusBadRequest, &Error{Code: "unsupported_protocol", Message: "EIO must be 3 (socket.io-client 1.x/2.x) or 4 (3.x/4.x)"})
	}
}

func (s *Server) originAllowed(origin string) bool {
	for _, o := range s.opts.AllowedOrigins {
		if o == "*" || strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return true
		}
	}
	return false
}

func sameOrigin(origin string, r *http.Request) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}

func writeError(w http.ResponseWriter, status int, e *Error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": e})
}

// floodLimit is how many requests in a row a connection may have refused
// for the rate before it is closed.
func (s *Server) floodLimit() int { return max(4*s.opts.RateBurst, 100) }

// Authenticate implements wire.Core: the token comes from the v4 `auth`
// payload ({"token": "..."}), the `token` query parameter, or an
// `Authorization: Bearer` header, in that order. Every failure counts
// against the client address's HandshakesPerSecond; past it the answer is
// rate_limited.
func (s *Server) Authenticate(ctx context.Context, h wire.Handshake) (auth.Identity, error) {
	id, err := s.authenticate(ctx, h)
	if err != nil {
		if limited := s.refused(h.RemoteAddr, time.Now()); limited != nil {
			return auth.Identity{}, limited
		}
	}
	return id, err
}

func (s *Server) authenticate(ctx context.Context, h wire.Handshake) (auth.Identity, error) {
	tok := tokenOf(h)
	id, err := s.opts.Verifier.Verify(ctx, tok)
	if err == nil {
		if !id.Expires.IsZero() && !id.Expires.After(time.Now()) {
			return auth.Identity{}, &Error{Code: CodeTokenExpired, Message: "token expired"}
		}
		return id, nil
	}
	switch {
	case errors.Is(err, auth.ErrNoToken):
		return auth.Identity{}, &Error{Code: CodeTokenMissing, Message: "no token: pass the token query parameter or an Authorization: Bearer header on every request (socket.io-client v3/v4: query: {token}; the auth payload alone is not enough, see docs/protocol.md)"}
	case errors.Is(err, auth.ErrTokenExpired):
		return auth.Identity{}, &Error{Code: CodeTokenExpired, Message: "token expired: get a new one"}
	default:
		s.log.Debug("token refused", "remote", h.RemoteAddr, "err", err)
		return auth.Identity{}, &Error{Code: CodeTokenInvalid, Message: "token invalid"}
	}
}

// Admit implements wire.Core: at most MaxSocketsPerUser sockets per user.
func (s *Server) Admit(id auth.Identity) (func(), error) { return s.sockets.admit(id) }

func tokenOf(h wire.Handshake) string {
	if len(h.Auth) > 0 {
		var a struct {
			Token string `json:"token"`
		}
		if json.Unmarshal(h.Auth, &a) == nil && a.Token != "" {
			return a.Token
		}
	}
	if t := h.Query.Get("token"); t != "" {
		return t
	}
	if v := h.Header.Get("Authorization"); len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
		return strings.TrimSpace(v[7:])
	}
	return ""
}

// Open implements wire.Core.
func (s *Server) Open(l wire.Link, id auth.Identity) (wire.Session, error) {
	c := newConn(s, l, id)
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil, errors.New("server closing")
	}
	s.conns[c.id] = c
	s.wg.Add(1) // released when OnDisconnect has run
	s.mu.Unlock()
	c.start()
	return c, nil
}

// ToRoom sends event to every connection in room, each exactly once. The
// event is encoded once. Events sent to one room from one goroutine reach
// each member in the order sent.
func (s *Server) ToRoom(room, event string, payload any) error {
	e, err := NewEvent(event, payload)
	if err != nil {
		return err
	}
	s.mu.RLock()
	members := make([]*conn, 0, len(s.rooms[room]))
	for c := range s.rooms[room] {
		members = append(members, c)
	}
	s.mu.RUnlock()
	for _, c := range members {
		c.Send(e)
	}
	return nil
}

// RoomSize reports how many connections are in room.
func (s *Server) RoomSize(room string) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.rooms[room])
}

// Count reports the connected clients.
func (s *Server) Count() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.conns)
}

// Close disconnects every client (they get a DISCONNECT packet and do not
// reconnect), waits for their OnDisconnect handlers, and stops the adapters.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closing = true
	all := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		all = append(all, c)
	}
	s.mu.Unlock()
	for _, c := range all {
		c.Close(CodeShuttingDown)
	}
	// Adapters close their transports and report every connection closed.
	err := errors.Join(s.v4.Close(), s.v3.Close())
	s.wg.Wait()
	return err
}

func (s *Server) join(c *conn, room string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.gone {
		return
	}
	m := s.rooms[room]
	if m == nil {
		m = map[*conn]struct{}{}
		s.rooms[room] = m
	}
	m[c] = struct{}{}
	c.rooms[room] = struct{}{}
}

func (s *Server) leave(c *conn, room string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.leaveLocked(c, room)
}

func (s *Server) leaveLocked(c *conn, room string) {
	if m := s.rooms[room]; m != nil {
		delete(m, c)
		if len(m) == 0 {
			delete(s.rooms, room)
		}
	}
	delete(c.rooms, room)
}

// remove unregisters c; it reports false when c was already gone.
func (s *Server) remove(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.gone {
		return false
	}
	c.gone = true
	for room := range c.rooms {
		s.leaveLocked(c, room)
	}
	delete(s.conns, c.id)
	return true
}

func (s *Server) handler(event string) Handler {
	s.hmu.RLock()
	defer s.hmu.RUnlock()
	return s.handlers[event]
}

func newID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("socket: connection id: %v", err))
	}
	return hex.EncodeToString(b)
}
