package wire

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/grimoire-run/grimoire/server/auth"
)

// Error is an error a client may see: in an ack as {"error":{"code","message"}}
// or, for a refused handshake, in the client's connect_error.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Problems, when set, locate what to change (a list of
	// {nodeId, port, field, message}).
	Problems any `json:"problems,omitempty"`
	// RetryAfter, when set, is how long the client should wait before
	// trying again (a refused HTTP request carries it as Retry-After).
	RetryAfter time.Duration `json:"-"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Handshake is what a client presented when it connected.
type Handshake struct {
	Header     http.Header
	Query      url.Values
	Auth       json.RawMessage // Socket.IO v4 `auth` payload; nil for v2 clients
	RemoteAddr string
}

// Request is one event a client sent.
type Request struct {
	Event string
	// Payload is the event's first argument, raw; nil when there was none.
	// Further arguments are dropped.
	Payload json.RawMessage
	// Size is the packet's size in bytes as received.
	Size int
	// TooLarge reports that the packet exceeded the size limit; Payload is
	// then nil and Event may be empty.
	TooLarge bool
	// Binary reports that the packet carried binary attachments, which are
	// not supported and were dropped.
	Binary bool
	// Ack answers the client, which asked for an answer; nil when it did not.
	// Core calls it at most once, serialized with Link's methods.
	Ack func(payload json.RawMessage) error
}

// Link is one connected client as an adapter exposes it. Core never calls two
// of its methods at once for the same Link.
type Link interface {
	// Protocol is the Engine.IO protocol revision: 3 or 4.
	Protocol() int
	// Transport is the transport in use: "websocket" or "polling".
	Transport() string
	RemoteAddr() string
	// WritePacket sends one encoded Socket.IO packet of the root namespace
	// (EventPacket). The same bytes go to many links at once: a Link reads
	// them and never modifies or keeps them past the write.
	WritePacket(packet []byte) error
	// Disconnect sends a Socket.IO DISCONNECT packet, so that the client does
	// not reconnect, and closes the transport. The adapter then reports
	// Session.Closed.
	Disconnect() error
	// Abort sends DISCONNECT and closes the transport at once, without
	// waiting for the client to hang up or to read what is queued: for a
	// client that floods. The adapter then reports Session.Closed.
	Abort() error
}

// Session is Core's side of one connection.
type Session interface {
	// Receive takes one client event. It must not block: it queues.
	Receive(Request)
	// Closed reports that the connection is gone; reason is for logs and
	// OnDisconnect handlers. It is called exactly once per opened Session.
	Closed(reason string)
}

// Core is the transport-neutral server the adapters feed.
type Core interface {
	// Authenticate checks a handshake. An error is shown to the client: a
	// *Error keeps its code, anything else reads as "unauthorized".
	Authenticate(ctx context.Context, h Handshake) (auth.Identity, error)
	// Opening is asked before an authenticated handshake creates a session
	// (an Engine.IO session id); an error (a *Error, rate_limited with a
	// RetryAfter) refuses the handshake.
	Opening(id auth.Identity) error
	// Admit takes one of the user's socket slots for a client about to
	// connect; an error (a *Error) is the client's refusal. The adapter
	// calls release exactly once when that client is gone, or when it
	// never got to Open.
	Admit(id auth.Identity) (release func(), err error)
	// Open registers a connected, authenticated, admitted client.
	Open(l Link, id auth.Identity) (Session, error)
}

// Limits are the settings both adapters honour.
type Limits struct {
	// MaxMessageBytes: a bigger packet is not decoded; the client gets an
	// error ack and stays connected.
	MaxMessageBytes int64
	// HardMaxBytes: the transport refuses anything bigger (an HTTP 413 or a
	// closed websocket); at least MaxMessageBytes.
	HardMaxBytes int64
}

// CodeRateLimited is the code of a refusal that names a RetryAfter.
const CodeRateLimited = "rate_limited"

// Refuse answers an HTTP request the adapter will not serve, with
// {"error":{"code","message"}}. A *Error with a RetryAfter is answered 429
// with a Retry-After header (whole seconds, at least 1), whatever status
// says; anything but a *Error reads as "unauthorized".
func Refuse(w http.ResponseWriter, status int, err error) {
	var we *Error
	if !errors.As(err, &we) {
		we = &Error{Code: "unauthorized", Message: err.Error()}
	}
	if we.RetryAfter > 0 {
		status = http.StatusTooManyRequests
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Max(1, math.Ceil(we.RetryAfter.Seconds())))))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": we})
}

// EventPacket encodes a Socket.IO EVENT packet of the root namespace with
// no ack id, `2["event",payload]` (no argument when payload is nil): the
// same bytes for both protocol generations. payload must be JSON as
// json.Marshal writes it (compact, HTML-escaped), which is what the
// libraries' own encoders send.
func EventPacket(event string, payload json.RawMessage) ([]byte, error) {
	name, err := json.Marshal(event)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(name)+len(payload)+4)
	b = append(b, '2', '[')
	b = append(b, name...)
	if payload != nil {
		b = append(b, ',')
		b = append(b, payload...)
	}
	return append(b, ']'), nil
}
