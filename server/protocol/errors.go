package protocol

import "fmt"

// Error codes shared by every transport.
const (
	CodeBadRequest      = "bad_request"
	CodeUnauthorized    = "unauthorized"
	CodeForbidden       = "forbidden"
	CodeNotFound        = "not_found"
	CodeInvalidSpell    = "invalid_spell"
	CodeLimitExceeded   = "limit_exceeded"
	CodeRateLimited     = "rate_limited"
	CodePayloadTooLarge = "payload_too_large"
	CodeConflict        = "conflict"
	CodeInternal        = "internal"
)

// Error is a client-facing error: a stable code and a message that says
// what to change.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf builds an Error.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}
