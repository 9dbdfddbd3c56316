package eio4

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/zishang520/engine.io/v2/engine"
)

// Engine.IO v2.5.0 handshakes a websocket-only client like this: it starts
// the transport's reader, writes the OPEN packet, and only then emits
// "connection", where the Socket.IO layer starts listening for data. A
// client answers OPEN at once with its namespace CONNECT; when that packet
// is read before the listener exists the library drops it, and the client
// waits for a connect that never comes (about 1 connect in 100 under the
// race detector; TestWebsocketConnectRightAfterOpen).
//
// The read gate closes that window from outside the library: the hijacked
// connection of a new websocket handshake does not deliver what the client
// sent until the engine has emitted "connection" for it (the listener that
// opens the gate is registered after Socket.IO's own), or until
// readGateMax passed, or the connection is closed.

// readGateMax bounds the wait, so a handshake the engine refuses (no
// "connection" event) cannot hold a reader forever.
const readGateMax = 5 * time.Second

type readGateKey struct{}

// readGate is opened once.
type readGate struct {
	once sync.Once
	ch   chan struct{}
}

func newReadGate() *readGate { return &readGate{ch: make(chan struct{})} }

func (g *readGate) open() { g.once.Do(func() { close(g.ch) }) }

// gateHandshake returns w and r prepared for the read gate when r is a new
// websocket handshake (no session id yet) on a connection that can be
// hijacked; otherwise it returns them unchanged.
func gateHandshake(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, *http.Request) {
	q := r.URL.Query()
	if q.Get("transport") != "websocket" || q.Get("sid") != "" {
		return w, r
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		return w, r
	}
	g := newReadGate()
	return &gatedWriter{ResponseWriter: w, hj: hj, gate: g}, r.WithContext(context.WithValue(r.Context(), readGateKey{}, g))
}

// openReadGate is the engine's "connection" listener.
func openReadGate(args ...any) {
	if len(args) == 0 {
		return
	}
	sock, ok := args[0].(engine.Socket)
	if !ok || sock.Request() == nil || sock.Request().Request() == nil {
		return
	}
	if g, ok := sock.Request().Request().Context().Value(readGateKey{}).(*readGate); ok {
		g.open()
	}
}

// gatedWriter hands the websocket library a gated connection when it
// hijacks.
type gatedWriter struct {
	http.ResponseWriter
	hj   http.Hijacker
	gate *readGate
}

func (w *gatedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := w.hj.Hijack()
	if err != nil {
		return c, rw, err
	}
	if rw.Reader.Buffered() > 0 {
		// The client sent before the handshake finished; the websocket
		// library refuses that itself, ungated.
		return c, rw, nil
	}
	gc := &gatedConn{Conn: c, gate: w.gate, closed: make(chan struct{})}
	return gc, bufio.NewReadWriter(bufio.NewReader(gc), rw.Writer), nil
}

// gatedConn holds its first Read until the gate opens.
type gatedConn struct {
	net.Conn
	gate      *readGate
	waited    bool // only the reader goroutine touches it
	closeOnce sync.Once
	closed    chan struct{}
}

func (c *gatedConn) Read(p []byte) (int, error) {
	if !c.waited {
		c.waited = true
		t := time.NewTimer(readGateMax)
		select {
		case <-c.gate.ch:
		case <-c.closed:
		case <-t.C:
		}
		t.Stop()
	}
	return c.Conn.Read(p)
}

func (c *gatedConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return c.Conn.Close()
}
