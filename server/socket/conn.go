package socket

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"sort"
	"sync"
	"time"

	"github.com/grimoire-run/grimoire/server/auth"
	"github.com/grimoire-run/grimoire/server/socket/wire"
)

// Conn is one connected, authenticated client, whatever its protocol
// generation. All methods are safe for concurrent use.
type Conn interface {
	// ID is a random id of ours (not the library's session id).
	ID() string
	Identity() auth.Identity
	// Protocol is the Engine.IO revision: 3 (socket.io-client 1.x/2.x) or 4.
	Protocol() int
	Transport() string
	RemoteAddr() string
	// Emit queues event for this client and returns at once; events from
	// one goroutine arrive in order. It fails once the connection closed.
	Emit(event string, payload any) error
	// Send queues an event encoded once (NewEvent) as Emit does: for an
	// event that goes to many connections.
	Send(e *Event) error
	Join(room string)
	Leave(room string)
	Rooms() []string
	// Close sends the client EventClosing {code: reason}, then a DISCONNECT
	// packet (so it does not reconnect), after the events already queued.
	Close(reason string)
	// Context is cancelled when the connection ends.
	Context() context.Context
}

type outItem struct {
	packet  []byte                      // an encoded event, shared with other connections
	payload json.RawMessage             // the ack's
	ack     func(json.RawMessage) error // set: an ack, not an event
	closing *Error                      // set: say why, then disconnect
	abort   bool                        // with closing: then cut the transport at once
}

type inKind int

const (
	inConnect inKind = iota
	inRequest
	inDisconnect
)

type inItem struct {
	kind   inKind
	req    wire.Request
	reason string
}

// conn runs two mailboxes: out (writes to the client, one at a time, in
// order) and in (handlers, one at a time, in order). Each drains on a
// goroutine that exists only while the mailbox is non-empty, so an idle
// connection costs no goroutine of ours.
type conn struct {
	srv    *Server
	id     string
	link   wire.Link
	ident  auth.Identity
	ctx    context.Context
	cancel context.CancelFunc
	expiry *time.Timer

	// guarded by srv.mu
	rooms map[string]struct{}
	gone  bool

	outMu     sync.Mutex
	out       []outItem
	outBusy   bool
	outSealed bool
	reason    string // why we closed it, for OnDisconnect

	inMu     sync.Mutex
	in       []inItem
	inBusy   bool
	inSealed bool
	requests int // queued requests (not connect/disconnect)
	rate     tokenBucket
	limited  int // requests refused for the rate since the last one served
}

func newConn(s *Server, l wire.Link, id auth.Identity) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	return &conn{
		srv: s, id: newID(), link: l, ident: id, ctx: ctx, cancel: cancel,
		rooms: map[string]struct{}{}, rate: fullBucket(s.opts.RateBurst, time.Now()),
	}
}

func (c *conn) start() {
	c.enqueueIn(inItem{kind: inConnect})
	if !c.ident.Expires.IsZero() {
		c.outMu.Lock()
		c.expiry = time.AfterFunc(time.Until(c.ident.Expires), func() { c.Close(CodeTokenExpired) })
		c.outMu.Unlock()
	}
}

func (c *conn) ID() string               { return c.id }
func (c *conn) Identity() auth.Identity  { return c.ident }
func (c *conn) Protocol() int            { return c.link.Protocol() }
func (c *conn) Transport() string        { return c.link.Transport() }
func (c *conn) RemoteAddr() string       { return c.link.RemoteAddr() }
func (c *conn) Context() context.Context { return c.ctx }
func (c *conn) Join(room string)         { c.srv.join(c, room) }
func (c *conn) Leave(room string)        { c.srv.leave(c, room) }

func (c *conn) Rooms() []string {
	c.srv.mu.RLock()
	defer c.srv.mu.RUnlock()
	out := make([]string, 0, len(c.rooms))
	for r := range c.rooms {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

func (c *conn) Emit(event string, payload any) error {
	e, err := NewEvent(event, payload)
	if err != nil {
		return err
	}
	return c.Send(e)
}

func (c *conn) Send(e *Event) error { return c.send(outItem{packet: e.packet}) }

var closeMessages = map[string]string{
	CodeTokenExpired: "your token expired: reconnect with a new one",
	CodeSlowConsumer: "you did not read events fast enough",
	CodeShuttingDown: "the server is shutting down",
}

func (c *conn) Close(reason string) {
	if reason == "" {
		reason = "closed"
	}
	msg := closeMessages[reason]
	if msg == "" {
		msg = reason
	}
	c.closeWith(&Error{Code: reason, Message: msg}, reason == CodeSlowConsumer, false)
}

// closeWith queues e's closing event and the disconnect; dropQueued drops
// what is still queued first, abort cuts the transport right after instead
// of letting the client hang up (for a client that does not listen).
func (c *conn) closeWith(e *Error, dropQueued, abort bool) {
	c.outMu.Lock()
	if c.outSealed {
		c.outMu.Unlock()
		return
	}
	c.reason = e.Code
	if dropQueued {
		c.out = nil
	}
	c.pushOutLocked(outItem{closing: e, abort: abort})
	c.outMu.Unlock()
}

// send queues item; it fails when the connection closed or the queue is
// full (the connection is then closed as a slow consumer).
func (c *conn) send(item outItem) error {
	c.outMu.Lock()
	if c.outSealed {
		c.outMu.Unlock()
		return ErrClosed
	}
	if len(c.out) >= c.srv.opts.SendQueue {
		c.outMu.Unlock()
		c.Close(CodeSlowConsumer)
		return &Error{Code: CodeSlowConsumer, Message: fmt.Sprintf("more than %d events queued", c.srv.opts.SendQueue)}
	}
	c.pushOutLocked(item)
	c.outMu.Unlock()
	return nil
}

func (c *conn) pushOutLocked(item outItem) {
	c.out = append(c.out, item)
	if item.closing != nil {
		c.outSealed = true
	}
	if !c.outBusy {
		c.outBusy = true
		c.srv.wg.Add(1)
		go c.drainOut()
	}
}

func (c *conn) drainOut() {
	defer c.srv.wg.Done()
	for {
		c.outMu.Lock()
		if len(c.out) == 0 {
			c.out = nil
			c.outBusy = false
			c.outMu.Unlock()
			return
		}
		item := c.out[0]
		c.out[0] = outItem{}
		c.out = c.out[1:]
		c.outMu.Unlock()

		var err error
		switch {
		case item.ack != nil:
			err = item.ack(item.payload)
		case item.closing != nil:
			b, _ := json.Marshal(item.closing)
			if p, err := wire.EventPacket(EventClosing, b); err == nil {
				c.link.WritePacket(p)
			}
			if item.abort {
				err = c.link.Abort()
			} else {
				err = c.link.Disconnect()
			}
		default:
			err = c.link.WritePacket(item.packet)
		}
		if err != nil {
			c.srv.log.Debug("write failed", "conn", c.id, "user", c.ident.User, "err", err)
		}
	}
}

// Receive implements wire.Session; it runs on the adapter's read goroutine
// and never blocks on a handler.
func (c *conn) Receive(req wire.Request) {
	switch {
	case req.TooLarge:
		c.reject(req, CodeMessageTooLarge, fmt.Sprintf("message of %d bytes exceeds the %d-byte limit", req.Size, c.srv.opts.MaxMessageBytes))
		return
	case req.Binary:
		c.reject(req, CodeBinaryUnsupported, "binary payloads are not supported: send JSON")
		return
	}
	c.inMu.Lock()
	if c.inSealed {
		c.inMu.Unlock()
		return
	}
	if !c.allowLocked(time.Now()) {
		c.limited++
		flooding := c.limited > c.srv.floodLimit()
		c.inMu.Unlock()
		if flooding {
			// Answering every request of a client that ignores the
			// refusals costs the server as much as serving it, and so
			// does reading what it still sends: the transport is cut.
			c.closeWith(&Error{Code: CodeRateLimited, Message: fmt.Sprintf("%d requests refused for the rate in a row: reconnect and stay under %g per second", c.srv.floodLimit(), c.srv.opts.RatePerSecond)}, true, true)
			return
		}
		c.reject(req, CodeRateLimited, fmt.Sprintf("more than %g requests per second: slow down", c.srv.opts.RatePerSecond))
		return
	}
	c.limited = 0
	if c.requests >= c.srv.opts.MaxPending {
		c.inMu.Unlock()
		c.reject(req, CodeOverloaded, fmt.Sprintf("%d requests already waiting on this connection", c.requests))
		return
	}
	c.requests++
	c.pushInLocked(inItem{kind: inRequest, req: req})
	c.inMu.Unlock()
}

// allowLocked spends one of the connection's RateBurst request tokens,
// refilled at RatePerSecond.
func (c *conn) allowLocked(now time.Time) bool {
	ok, _ := c.rate.take(now, c.srv.opts.RatePerSecond, c.srv.opts.RateBurst)
	return ok
}

func (c *conn) reject(req wire.Request, code, msg string) {
	c.srv.log.Debug("request refused", "conn", c.id, "user", c.ident.User, "event", req.Event, "code", code)
	if req.Ack != nil {
		c.send(outItem{ack: req.Ack, payload: errorAck(&Error{Code: code, Message: msg})})
	}
}

func (c *conn) enqueueIn(item inItem) {
	c.inMu.Lock()
	defer c.inMu.Unlock()
	if c.inSealed {
		return
	}
	c.pushInLocked(item)
}

func (c *conn) pushInLocked(item inItem) {
	c.in = append(c.in, item)
	if item.kind == inDisconnect {
		c.inSealed = true
	}
	if !c.inBusy {
		c.inBusy = true
		c.srv.wg.Add(1)
		go c.drainIn()
	}
}

func (c *conn) drainIn() {
	defer c.srv.wg.Done()
	for {
		c.inMu.Lock()
		if len(c.in) == 0 {
			c.in = nil
			c.inBusy = false
			c.inMu.Unlock()
			return
		}
		item := c.in[0]
		c.in[0] = inItem{}
		c.in = c.in[1:]
		if item.kind == inRequest {
			c.requests--
		}
		c.inMu.Unlock()

		switch item.kind {
		case inConnect:
			c.srv.hmu.RLock()
			fs := c.srv.onConnect
			c.srv.hmu.RUnlock()
			for _, f := range fs {
				c.guard("OnConnect", func() { f(c.ctx, c) })
			}
		case inRequest:
			c.handle(item.req)
		case inDisconnect:
			c.srv.hmu.RLock()
			fs := c.srv.onDisconnect
			c.srv.hmu.RUnlock()
			for _, f := range fs {
				c.guard("OnDisconnect", func() { f(c, item.reason) })
			}
			c.srv.wg.Done() // the connection's own count, taken in Open
		}
	}
}

func (c *conn) guard(what string, f func()) (panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			panicked = true
			c.srv.log.Error("handler panicked", "in", what, "conn", c.id, "user", c.ident.User, "panic", r, "stack", string(debug.Stack()))
		}
	}()
	f()
	return false
}

func (c *conn) handle(req wire.Request) {
	h := c.srv.handler(req.Event)
	var ack any
	var err error
	if h == nil {
		err = &Error{Code: CodeUnknownEvent, Message: fmt.Sprintf("no handler for event %q", req.Event)}
	} else if c.guard(req.Event, func() { ack, err = h(c.ctx, c, req.Payload) }) {
		err = &Error{Code: CodeInternal, Message: fmt.Sprintf("%s failed; see server logs", req.Event)}
	}
	if req.Ack == nil {
		if err != nil {
			c.srv.log.Debug("request failed (no ack asked)", "conn", c.id, "event", req.Event, "err", err)
		}
		return
	}
	var payload json.RawMessage
	if err != nil {
		payload = errorAck(err)
	} else if payload, err = json.Marshal(ack); err != nil {
		payload = errorAck(&Error{Code: CodeInternal, Message: fmt.Sprintf("%s: encode answer: %v", req.Event, err)})
	}
	c.send(outItem{ack: req.Ack, payload: payload})
}

// Closed implements wire.Session.
func (c *conn) Closed(reason string) {
	if !c.srv.remove(c) {
		return
	}
	c.cancel()
	c.outMu.Lock()
	c.outSealed = true
	c.out = nil
	if c.expiry != nil {
		c.expiry.Stop()
	}
	if c.reason != "" {
		reason = c.reason
	}
	c.outMu.Unlock()

	c.inMu.Lock()
	// Keep a connect not yet handled, so OnConnect always precedes
	// OnDisconnect; drop the requests nobody will read the answer of.
	kept := c.in[:0]
	for _, it := range c.in {
		if it.kind == inConnect {
			kept = append(kept, it)
		}
	}
	c.in = kept
	c.requests = 0
	c.pushInLocked(inItem{kind: inDisconnect, reason: reason})
	c.inMu.Unlock()
}
