package sandbox

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/grimoire-run/grimoire/services"
	"github.com/grimoire-run/grimoire/services/jsvm"
)

// The pool and a worker exchange frames: a 4-byte big-endian length, then
// that many bytes of JSON. The worker first sends a hello, then answers
// each request with one reply, in order.

// request is one activation. Args is the JSON array of the arguments,
// passed to the script as it is.
type request struct {
	Source   string          `json:"source"`
	Function string          `json:"function,omitempty"`
	Args     json.RawMessage `json:"args"`
	Timeout  time.Duration   `json:"timeout"`
}

// reply is what the activation returned, as the JSON text jsvm made of
// it. Retire says the worker cannot vouch for itself any longer (a runtime
// it abandoned may still run, or it spent most of its CPU allowance): the
// pool replaces it.
type reply struct {
	jsvm.JSONResult
	Error  *wireError `json:"error,omitempty"`
	Retire bool       `json:"retire,omitempty"`
}

// hello is the worker's first frame, sent once its limits are in place.
type hello struct {
	PID int `json:"pid"`
}

// wireError carries the sandbox's typed errors across the pipe.
type wireError struct {
	Kind    string `json:"kind"`            // "limit", "script" or "other"
	Limit   string `json:"limit,omitempty"` // for "limit": timeout, memory, stack or size
	Name    string `json:"name,omitempty"`
	Message string `json:"message"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
}

var limitKinds = map[string]error{
	"timeout": services.ErrSandboxTimeout,
	"memory":  services.ErrSandboxMemory,
	"stack":   services.ErrSandboxStack,
	"size":    services.ErrSandboxSize,
}

func encodeError(err error) *wireError {
	if err == nil {
		return nil
	}
	var le *services.LimitError
	if errors.As(err, &le) {
		for name, kind := range limitKinds {
			if errors.Is(le.Err, kind) {
				return &wireError{Kind: "limit", Limit: name, Message: le.Message}
			}
		}
	}
	var se *services.ScriptError
	if errors.As(err, &se) {
		return &wireError{Kind: "script", Name: se.Name, Message: se.Message, Line: se.Line, Column: se.Column}
	}
	return &wireError{Kind: "other", Message: err.Error()}
}

func (e *wireError) decode() error {
	switch e.Kind {
	case "limit":
		if kind, ok := limitKinds[e.Limit]; ok {
			return &services.LimitError{Err: kind, Message: e.Message}
		}
	case "script":
		return &services.ScriptError{Name: e.Name, Message: e.Message, Line: e.Line, Column: e.Column}
	}
	return errors.New(e.Message)
}

// writeFrame writes one frame.
func writeFrame(w io.Writer, body []byte) error {
	buf := make([]byte, 4+len(body))
	binary.BigEndian.PutUint32(buf, uint32(len(body)))
	copy(buf[4:], body)
	_, err := w.Write(buf)
	return err
}

// readFrame reads one frame of at most max bytes.
func readFrame(r io.Reader, max int) ([]byte, error) {
	var head [4]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(head[:])
	if uint64(n) > uint64(max) {
		return nil, fmt.Errorf("frame of %d bytes, more than the %d allowed", n, max)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return body, nil
}
