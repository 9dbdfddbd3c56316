package socket

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/grimoire-run/grimoire/server/socket/wire"
)

// Error is what a client sees, in an ack as {"error":{"code","message"}} or
// in connect_error. Return one from a Handler to choose the code.
type Error = wire.Error

// Error codes the socket layer itself produces.
const (
	CodeTokenMissing      = "token_missing"
	CodeTokenInvalid      = "token_invalid"
	CodeTokenExpired      = "token_expired"
	CodeForbidden         = "forbidden"
	CodeBadRequest        = "bad_request"
	CodeUnknownEvent      = "unknown_event"
	CodeRateLimited       = wire.CodeRateLimited
	CodeTooManySockets    = "too_many_sockets"
	CodeOverloaded        = "overloaded"
	CodeMessageTooLarge   = "message_too_large"
	CodeBinaryUnsupported = "binary_unsupported"
	CodeInternal          = "internal"
	CodeSlowConsumer      = "slow_consumer"
	CodeShuttingDown      = "shutting_down"
)

// EventClosing is emitted to a client just before the server disconnects it,
// with {"code","message"} saying why (token_expired, slow_consumer,
// shutting_down, or the reason given to Conn.Close).
const EventClosing = "closing"

// ErrClosed is returned by Emit on a connection that has closed.
var ErrClosed = errors.New("socket: connection closed")

// reserved are event names Socket.IO clients treat specially.
var reserved = map[string]bool{
	"connect": true, "connect_error": true, "connect_timeout": true, "disconnect": true,
	"disconnecting": true, "error": true, "reconnect": true, "reconnect_attempt": true,
	"reconnect_error": true, "reconnect_failed": true, "reconnecting": true, "ping": true,
	"pong": true, "newListener": true, "removeListener": true,
}

// Event is an event encoded once for any number of connections: each is
// written the same Socket.IO packet, whatever its protocol generation.
type Event struct {
	packet []byte
}

// NewEvent encodes event with payload (nil: no argument) as JSON.
func NewEvent(event string, payload any) (*Event, error) {
	var raw json.RawMessage
	if payload != nil {
		var err error
		if raw, err = json.Marshal(payload); err != nil {
			return nil, fmt.Errorf("socket: encode %q payload: %w", event, err)
		}
	}
	return NewEncodedEvent(event, raw)
}

// NewEncodedEvent is NewEvent for a payload already encoded by
// json.Marshal (compact and HTML-escaped, as the Socket.IO libraries would
// send it), which it uses as it is.
func NewEncodedEvent(event string, payload json.RawMessage) (*Event, error) {
	if event == "" || reserved[event] {
		return nil, fmt.Errorf("socket: event name %q is reserved by Socket.IO", event)
	}
	p, err := wire.EventPacket(event, payload)
	if err != nil {
		return nil, fmt.Errorf("socket: encode %q: %w", event, err)
	}
	return &Event{packet: p}, nil
}

// Decode unmarshals a handler's payload into T. Any mismatch (missing
// payload, wrong JSON type, trailing data) is a *Error with code bad_request
// naming the field, for the client to read in its ack.
func Decode[T any](payload json.RawMessage) (T, error) {
	var v T
	if len(bytes.TrimSpace(payload)) == 0 {
		return v, &Error{Code: CodeBadRequest, Message: "payload required"}
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(&v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			field := te.Field
			if field == "" {
				field = "payload"
			}
			return v, &Error{Code: CodeBadRequest, Message: fmt.Sprintf("%s: want %s, got JSON %s", field, te.Type, te.Value)}
		}
		return v, &Error{Code: CodeBadRequest, Message: "payload: " + err.Error()}
	}
	if dec.More() {
		return v, &Error{Code: CodeBadRequest, Message: "payload: trailing data"}
	}
	return v, nil
}

// Handle registers a handler whose payload is decoded into T first; a
// payload that does not decode is answered with a bad_request error and the
// handler is not called.
func Handle[T any](s *Server, event string, h func(ctx context.Context, c Conn, req T) (any, error)) {
	s.On(event, func(ctx context.Context, c Conn, payload json.RawMessage) (any, error) {
		req, err := Decode[T](payload)
		if err != nil {
			return nil, err
		}
		return h(ctx, c, req)
	})
}

// errorAck is the ack body for err.
func errorAck(err error) json.RawMessage {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Code: CodeInternal, Message: err.Error()}
	}
	b, _ := json.Marshal(map[string]*Error{"error": e})
	return b
}
