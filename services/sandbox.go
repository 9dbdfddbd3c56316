package services

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Sandbox runs untrusted code (Code / Javascript nodes) in isolation: no
// file system, no network, no state shared between calls, and bounded time
// and memory. The embedded implementation is services/jsvm.
type Sandbox interface {
	Call(ctx context.Context, call SandboxCall) (SandboxResult, error)
}

// SyntaxChecker is a Sandbox that can compile code without running it, so
// that validating a spell reports a Code node's syntax errors before it runs.
type SyntaxChecker interface {
	// CheckSyntax returns nil, a *ScriptError named "SyntaxError" with the
	// first error's line and column, or a *LimitError for oversized source.
	CheckSyntax(source string) error
}

// TimeoutLimiter is a Sandbox whose calls may not ask for more than a
// maximum time, so that a spell cannot hold a sandbox for as long as it
// likes; a node type refuses a longer timeout when the spell is built.
type TimeoutLimiter interface {
	MaxTimeout() time.Duration
}

// SandboxCall defines a function in Source and calls it.
type SandboxCall struct {
	// Source is the script; running it must define Function.
	Source string
	// Function is the name of the function to call ("worker" when empty).
	Function string
	// Args are JSON-like values (nil, bool, float64/int, string, []any,
	// map[string]any). They are copied into the sandbox: the script cannot
	// change the caller's values.
	Args []any
	// Timeout bounds this call; zero uses the sandbox's default. The
	// context's deadline applies too.
	Timeout time.Duration
	// User is whose run the call serves ("" for the operator's): a sandbox
	// that queues calls shares its capacity fairly between users.
	User string
}

// SandboxResult is what a call returned.
type SandboxResult struct {
	// Value is the function's return value as a JSON-like value (a returned
	// promise is awaited).
	Value any
	// Args are the arguments as the function left them, so that a caller can
	// carry mutable state (Thoth's `state` argument) to its next call.
	Args []any
}

// Errors a sandbox wraps when a call exceeds one of its bounds.
var (
	ErrSandboxTimeout = errors.New("sandbox time limit exceeded")
	ErrSandboxMemory  = errors.New("sandbox memory limit exceeded")
	ErrSandboxStack   = errors.New("sandbox call stack limit exceeded")
	ErrSandboxSize    = errors.New("sandbox size limit exceeded")
)

// LimitError reports a bound the script exceeded. Message is written for
// the spell's author ("exceeded its 1s time limit").
type LimitError struct {
	Err     error // one of ErrSandbox*
	Message string
}

func (e *LimitError) Error() string { return e.Message }
func (e *LimitError) Unwrap() error { return e.Err }

// ScriptError is an error the script itself raised (a thrown exception) or a
// syntax error in its source.
type ScriptError struct {
	Name    string // "Error", "TypeError", "SyntaxError", …
	Message string
	// Line and Column locate the error in Source (1-based); 0 when unknown.
	Line, Column int
}

func (e *ScriptError) Error() string {
	name := e.Name
	if name == "" {
		name = "Error"
	}
	if e.Line > 0 {
		return fmt.Sprintf("%s: %s (line %d, column %d)", name, e.Message, e.Line, e.Column)
	}
	return fmt.Sprintf("%s: %s", name, e.Message)
}
