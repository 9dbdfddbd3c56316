package eio3

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/googollee/go-socket.io/engineio"
	"github.com/googollee/go-socket.io/engineio/session"
	"github.com/googollee/go-socket.io/engineio/transport"
	"github.com/googollee/go-socket.io/engineio/transport/polling"
	"github.com/googollee/go-socket.io/engineio/transport/websocket"

	"github.com/grimoire-run/grimoire/server/auth"
	"github.com/grimoire-run/grimoire/server/socket/wire"
)

// Options configures the Engine.IO 3 adapter.
type Options struct {
	Core   wire.Core
	Limits wire.Limits
	// PingInterval and PingTimeout are sent to the client. Engine.IO 3
	// clients ping; the server drops a client silent for PingTimeout, so
	// PingTimeout must exceed PingInterval (the caller validates).
	PingInterval time.Duration
	PingTimeout  time.Duration
	// AllowOrigin reports whether a browser Origin may read polling
	// responses (CORS). Refusing disallowed origins is the router's job.
	AllowOrigin func(origin string) bool
	// DisconnectGrace is how long a polling client has to fetch the
	// DISCONNECT packet before its session is closed. Default 1s.
	DisconnectGrace time.Duration
	Logger          *slog.Logger
}

// Server serves Engine.IO 3 (socket.io-client 1.x/2.x) clients.
type Server struct {
	opts   Options
	log    *slog.Logger
	engine *engineio.Server

	mu      sync.Mutex
	closing bool
	// engineClosed: the engine is closed; requests for sessions are refused.
	engineClosed bool
	bindings     map[string]*binding // by engine session id
	handshake    sync.WaitGroup      // handshake requests between the gate and ConnInitor
	wg           sync.WaitGroup      // accept loop and per-connection read loops
	acceptWG     sync.WaitGroup
}

// binding ties an engine session to the identity that opened it. Every later
// request naming the session must authenticate as the same user.
type binding struct {
	ready    chan struct{} // closed once id and conn are set
	id       auth.Identity
	conn     engineio.Conn
	link     *link // set once serve runs
	accepted bool
	release  func() // gives the user's socket slot back
}

type ctxKey struct{}

// New builds the adapter and starts its accept loop; Close stops it.
func New(opts Options) (*Server, error) {
	if opts.Core == nil {
		return nil, errors.New("eio3: no Core")
	}
	if opts.PingTimeout <= opts.PingInterval {
		return nil, fmt.Errorf("eio3: PingTimeout %v must exceed PingInterval %v", opts.PingTimeout, opts.PingInterval)
	}
	if opts.DisconnectGrace <= 0 {
		opts.DisconnectGrace = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.AllowOrigin == nil {
		opts.AllowOrigin = func(string) bool { return false }
	}
	s := &Server{opts: opts, log: opts.Logger.With("transport", "eio3"), bindings: map[string]*binding{}}
	s.engine = engineio.NewServer(&engineio.Options{
		PingInterval: opts.PingInterval,
		PingTimeout:  opts.PingTimeout,
		// websocket first: a polling session then advertises no upgrade, so
		// clients stay on polling instead of hitting the library's broken
		// polling→websocket upgrade ("payload: paused", upstream #547).
		Transports: []transport.Transport{
			&websocket.Transport{CheckOrigin: func(*http.Request) bool { return true }},
			&polling.Transport{CheckOrigin: func(r *http.Request) bool {
				o := r.Header.Get("Origin")
				return o == "" || opts.AllowOrigin(o)
			}},
		},
		SessionIDGenerator: randomIDs{},
		ConnInitor:         s.bind,
	})
	s.acceptWG.Add(1)
	go s.acceptLoop()
	return s, nil
}

// randomIDs replaces the library's sequential session ids (1, 2, …), which
// let anyone address another client's polling session.
type randomIDs struct{}

func (randomIDs) NewID() string {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("eio3: session id: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *Server) handshakeOf(r *http.Request) wire.Handshake {
	return wire.Handshake{Header: r.Header, Query: r.URL.Query(), RemoteAddr: r.RemoteAddr}
}

// ServeHTTP authenticates every request before the engine sees it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodOptions {
		s.preflight(w, r)
		return
	}
	sid := r.URL.Query().Get("sid")
	id, err := s.opts.Core.Authenticate(r.Context(), s.handshakeOf(r))
	if err != nil {
		wire.Refuse(w, http.StatusUnauthorized, err)
		return
	}
	if sid != "" {
		s.mu.Lock()
		b := s.bindings[sid]
		closed := s.engineClosed
		s.mu.Unlock()
		if closed {
			// The closed engine would hold a long-poll until its timeout,
			// and with it the HTTP server's shutdown.
			wire.Refuse(w, http.StatusServiceUnavailable, &wire.Error{Code: "shutting_down", Message: "server is shutting down"})
			return
		}
		if b == nil {
			wire.Refuse(w, http.StatusBadRequest, &wire.Error{Code: "unknown_session", Message: "no such session"})
			return
		}
		select {
		case <-b.ready:
		default:
			wire.Refuse(w, http.StatusBadRequest, &wire.Error{Code: "unknown_session", Message: "session not ready"})
			return
		}
		if b.id.User != id.User {
			wire.Refuse(w, http.StatusForbidden, &wire.Error{Code: "forbidden", Message: "session belongs to another user"})
			return
		}
		if r.Method == http.MethodPost && s.opts.Limits.HardMaxBytes > 0 {
			r.Body = http.MaxBytesReader(w, r.Body, s.opts.Limits.HardMaxBytes)
		}
		s.engine.ServeHTTP(limitFrames(w, s.opts.Limits.HardMaxBytes), r)
		return
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		wire.Refuse(w, http.StatusServiceUnavailable, &wire.Error{Code: "shutting_down", Message: "server is shutting down"})
		return
	}
	s.handshake.Add(1)
	s.mu.Unlock()
	if err := s.opts.Core.Opening(id); err != nil {
		s.handshake.Done()
		wire.Refuse(w, http.StatusTooManyRequests, err)
		return
	}
	release, err := s.opts.Core.Admit(id)
	if err != nil {
		s.handshake.Done()
		wire.Refuse(w, http.StatusTooManyRequests, err)
		return
	}
	st := &handshakeState{id: id, wg: &s.handshake, release: release}
	r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, st))
	defer st.done()
	s.engine.ServeHTTP(limitFrames(w, s.opts.Limits.HardMaxBytes), r)
}

type handshakeState struct {
	id   auth.Identity
	wg   *sync.WaitGroup
	once sync.Once

	mu sync.Mutex
	// release is the socket slot, until bind hands it to the binding.
	release func()
}

// takeRelease hands over the socket slot (nil once taken).
func (h *handshakeState) takeRelease() func() {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.release
	h.release = nil
	return r
}

// done ends the handshake; a slot no session took is given back.
func (h *handshakeState) done() {
	h.once.Do(func() {
		if r := h.takeRelease(); r != nil {
			r()
		}
		h.wg.Done()
	})
}

// bind runs inside the engine's handshake, after the session id exists and
// before the client can learn it.
func (s *Server) bind(r *http.Request, c engineio.Conn) {
	st, _ := r.Context().Value(ctxKey{}).(*handshakeState)
	if st == nil {
		c.Close()
		return
	}
	defer st.done()
	s.mu.Lock()
	b := s.bindingLocked(c.ID())
	b.id, b.conn = st.id, c
	b.release = st.takeRelease()
	closing := s.closing
	s.mu.Unlock()
	close(b.ready)
	if closing {
		c.Close()
	}
}

func (s *Server) bindingLocked(sid string) *binding {
	b := s.bindings[sid]
	if b == nil {
		b = &binding{ready: make(chan struct{})}
		s.bindings[sid] = b
	}
	return b
}

func (s *Server) preflight(w http.ResponseWriter, r *http.Request) {
	if o := r.Header.Get("Origin"); o != "" && s.opts.AllowOrigin(o) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", o)
		h.Set("Access-Control-Allow-Credentials", "true")
		h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization")
		h.Set("Vary", "Origin")
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) acceptLoop() {
	defer s.acceptWG.Done()
	for {
		c, err := s.engine.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		b := s.bindingLocked(c.ID())
		b.accepted = true
		closing := s.closing
		if !closing {
			s.wg.Add(1)
		}
		s.mu.Unlock()
		if closing {
			c.Close()
			s.forget(c.ID())
			continue
		}
		go s.serve(c, b)
	}
}

func (s *Server) serve(c engineio.Conn, b *binding) {
	defer s.wg.Done()
	select {
	case <-b.ready:
	case <-time.After(10 * time.Second):
		s.log.Warn("session never bound", "sid", c.ID())
		c.Close()
		s.forget(c.ID())
		return
	}
	u := c.URL()
	l := &link{srv: s, conn: c, transport: u.Query().Get("transport"), remote: c.RemoteAddr().String()}
	s.mu.Lock()
	b.link = l
	s.mu.Unlock()
	if err := l.write([]byte{typeConnect}); err != nil {
		c.Close()
		s.forget(c.ID())
		return
	}
	sess, err := s.opts.Core.Open(l, b.id)
	if err != nil {
		l.Disconnect()
		c.Close()
		s.forget(c.ID())
		return
	}
	reason := l.readLoop(sess)
	l.stopGrace()
	l.close()
	s.forget(c.ID())
	sess.Closed(reason)
}

func (s *Server) forget(sid string) {
	s.engine.Remove(sid)
	s.mu.Lock()
	b := s.bindings[sid]
	delete(s.bindings, sid)
	s.mu.Unlock()
	if b != nil && b.release != nil {
		b.release()
	}
}

// Close disconnects every client and stops the accept loop.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil
	}
	s.closing = true
	s.mu.Unlock()
	// Handshakes past the gate finish binding (bind closes their conn).
	s.handshake.Wait()
	s.mu.Lock()
	var pending []*binding
	for _, b := range s.bindings {
		switch {
		case b.link != nil:
			b.link.close()
		case b.conn != nil:
			b.conn.Close()
		}
		if !b.accepted {
			pending = append(pending, b)
		}
	}
	s.mu.Unlock()
	// A session whose handshake completed is handed to Accept by a library
	// goroutine; closing the engine under it would panic, so give those a
	// moment to arrive (their conns are closed, so they do so at once).
	deadline := time.Now().Add(time.Second)
	for len(pending) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		s.mu.Lock()
		n := pending[:0]
		for _, b := range pending {
			if !b.accepted {
				n = append(n, b)
			}
		}
		pending = n
		s.mu.Unlock()
	}
	s.mu.Lock()
	s.engineClosed = true
	s.mu.Unlock()
	s.engine.Close()
	s.acceptWG.Wait()
	s.wg.Wait()
	return nil
}

// link is one Engine.IO 3 client.
type link struct {
	srv       *Server
	conn      engineio.Conn
	transport string
	remote    string

	mu         sync.Mutex // one writer at a time
	closeAfter atomic.Bool
	disconnect sync.Once
	grace      *time.Timer
	skip       int // binary attachments still to discard
}

func (l *link) Protocol() int      { return 3 }
func (l *link) Transport() string  { return l.transport }
func (l *link) RemoteAddr() string { return l.remote }

func (l *link) write(b []byte) error {
	l.mu.Lock()
	defer func() {
		if l.closeAfter.Load() {
			l.conn.Close()
		}
		l.mu.Unlock()
	}()
	w, err := l.conn.NextWriter(session.TEXT)
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// WritePacket implements wire.Link. The engine copies the bytes into its
// own frame as it writes them.
func (l *link) WritePacket(packet []byte) error { return l.write(packet) }

func (l *link) Disconnect() error {
	var err error
	l.disconnect.Do(func() {
		err = l.write([]byte{typeDisconnect})
		if l.transport == "polling" && err == nil {
			// The packet waits in the session until the client polls; the
			// client closes on reading it, or we do after the grace period.
			l.mu.Lock()
			l.grace = time.AfterFunc(l.srv.opts.DisconnectGrace, l.close)
			l.mu.Unlock()
			return
		}
		l.close()
	})
	return err
}

// abortFlush is how long Abort leaves the library's websocket writer to
// send what was written before it closes the session (closing it at once
// drops the last frames).
const abortFlush = 100 * time.Millisecond

// Abort implements wire.Link: DISCONNECT, then the session is closed
// after abortFlush, whatever the transport.
func (l *link) Abort() error {
	var err error
	l.disconnect.Do(func() {
		err = l.write([]byte{typeDisconnect})
		time.AfterFunc(abortFlush, l.close)
	})
	return err
}

// closeWait bounds how long close defers to a write in progress: one
// waiting for a long-poll that will not come must not hold the session.
const closeWait = time.Second

// close closes the session, but not in the middle of a write. googollee's
// polling payload (v1.7.0) hands a long-poll's response to the writer and
// then waits for the write's result with no regard for Close: a session
// closed between a writer's NextWriter and its Close leaves that poll, and
// with it the HTTP server's shutdown, hanging until the ping deadline. A
// write in progress closes the session itself as it ends.
func (l *link) close() {
	if l.mu.TryLock() {
		l.conn.Close()
		l.mu.Unlock()
		return
	}
	l.closeAfter.Store(true)
	time.AfterFunc(closeWait, func() { l.conn.Close() })
}

func (l *link) stopGrace() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.grace != nil {
		l.grace.Stop()
	}
}

func (l *link) ack(id int64) func(json.RawMessage) error {
	if id < 0 {
		return nil
	}
	return func(payload json.RawMessage) error { return l.write(encodeAck(id, payload)) }
}

// readLoop reads packets until the client leaves; it returns the reason.
func (l *link) readLoop(sess wire.Session) string {
	max := l.srv.opts.Limits.MaxMessageBytes
	for {
		ft, r, err := l.conn.NextReader()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return "transport close"
			}
			return "transport error"
		}
		if ft == session.BINARY {
			io.Copy(io.Discard, r)
			r.Close()
			if l.skip > 0 {
				l.skip--
			}
			continue
		}
		var buf bytes.Buffer
		n, err := io.Copy(&buf, io.LimitReader(r, max+1))
		tooLarge := n > max
		size := int(n)
		if tooLarge {
			d, _ := io.Copy(io.Discard, r)
			size += int(d)
		}
		r.Close()
		if err != nil {
			return "transport error"
		}
		if done, reason := l.handle(sess, buf.Bytes(), size, tooLarge); done {
			return reason
		}
	}
}

func (l *link) handle(sess wire.Session, b []byte, size int, tooLarge bool) (bool, string) {
	p, err := parsePacket(b)
	if err != nil {
		l.srv.log.Debug("dropped malformed packet", "remote", l.remote, "err", err)
		return false, ""
	}
	if p.nsp != "/" {
		if p.typ == typeConnect {
			l.write(encodeNamespaceError(p.nsp, "Invalid namespace"))
		}
		l.skip += p.attachments
		return false, ""
	}
	switch p.typ {
	case typeDisconnect:
		return true, "client namespace disconnect"
	case typeBinaryAck:
		l.skip += p.attachments
	case typeEvent, typeBinaryEvent:
		req := wire.Request{Size: size, Ack: l.ack(p.id), TooLarge: tooLarge, Binary: p.typ == typeBinaryEvent}
		l.skip += p.attachments
		if tooLarge || req.Binary {
			req.Event, _ = eventName(p.data)
			sess.Receive(req)
			return false, ""
		}
		req.Event, req.Payload, err = eventArgs(p.data)
		if err != nil {
			if req.Ack != nil {
				e, _ := json.Marshal(map[string]any{"error": wire.Error{Code: "bad_packet", Message: err.Error()}})
				req.Ack(e)
			}
			return false, ""
		}
		sess.Receive(req)
	}
	return false, ""
}
