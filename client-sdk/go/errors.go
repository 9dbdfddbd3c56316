package grimoire

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Sentinel errors for errors.Is. An *APIError matches the one for its HTTP
// status or error code; a *RunError matches ErrRunFailed, ErrRunCancelled
// or ErrRunWaiting.
var (
	ErrBadRequest      = errors.New("grimoire: bad request")
	ErrInvalidSpell    = errors.New("grimoire: invalid spell")
	ErrInvalidAnswer   = errors.New("grimoire: invalid answer")
	ErrUnauthorized    = errors.New("grimoire: unauthorized")
	ErrForbidden       = errors.New("grimoire: forbidden")
	ErrNotFound        = errors.New("grimoire: not found")
	ErrConflict        = errors.New("grimoire: conflict")
	ErrPayloadTooLarge = errors.New("grimoire: payload too large")
	ErrLimitExceeded   = errors.New("grimoire: limit exceeded")
	ErrInternal        = errors.New("grimoire: internal server error")
	ErrUnavailable     = errors.New("grimoire: service unavailable")

	ErrRunFailed    = errors.New("grimoire: run failed")
	ErrRunCancelled = errors.New("grimoire: run cancelled")
	// ErrRunWaiting: the run waits for an answer (Client.Answer); Follow
	// it to learn how it ends.
	ErrRunWaiting = errors.New("grimoire: run waits for an answer")
)

// APIError is an error answer from the server: `{"error": {"code", "message"}}`
// with an HTTP status.
type APIError struct {
	// Status is the HTTP status code.
	Status int
	// Code is the server's stable error code (bad_request, unauthorized,
	// forbidden, not_found, invalid_spell, limit_exceeded, rate_limited,
	// payload_too_large, conflict, internal), or "" when the body was not a
	// Grimoire error document.
	Code string
	// Message says what to change.
	Message string
	// Method and URL name the request that failed.
	Method, URL string
}

func (e *APIError) Error() string {
	code := e.Code
	if code == "" {
		code = strings.ToLower(http.StatusText(e.Status))
	}
	return fmt.Sprintf("grimoire: %s %s: %d %s: %s", e.Method, e.URL, e.Status, code, e.Message)
}

// Is matches the sentinel for the error's code, or else its status.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrBadRequest:
		return e.Code == "bad_request" || (e.Code == "" && e.Status == http.StatusBadRequest)
	case ErrInvalidSpell:
		return e.Code == "invalid_spell"
	case ErrInvalidAnswer:
		return e.Code == "invalid_answer"
	case ErrUnauthorized:
		return e.Code == "unauthorized" || e.Status == http.StatusUnauthorized
	case ErrForbidden:
		return e.Code == "forbidden" || e.Status == http.StatusForbidden
	case ErrNotFound:
		return e.Code == "not_found" || e.Status == http.StatusNotFound
	case ErrConflict:
		return e.Code == "conflict" || e.Status == http.StatusConflict
	case ErrPayloadTooLarge:
		return e.Code == "payload_too_large" || e.Status == http.StatusRequestEntityTooLarge
	case ErrLimitExceeded:
		return e.Code == "limit_exceeded" || e.Code == "rate_limited" || e.Status == http.StatusTooManyRequests
	case ErrInternal:
		return e.Code == "internal" || e.Status == http.StatusInternalServerError
	case ErrUnavailable:
		return e.Status == http.StatusServiceUnavailable || e.Status == http.StatusBadGateway || e.Status == http.StatusGatewayTimeout
	}
	return false
}

// RunError is a run that ended without completing: it failed (a node
// returned an error) or was cancelled; or (Run only) it waits for an
// answer.
type RunError struct {
	RunID string
	// Status is "failed", "cancelled" or "waiting".
	Status string
	// NodeID is the node whose failure ended the run, if one did.
	NodeID string
	// Message is the failure's error or the cancellation's reason.
	Message string
}

func (e *RunError) Error() string {
	switch {
	case e.NodeID != "":
		return fmt.Sprintf("grimoire: run %s %s at node %s: %s", e.RunID, e.Status, e.NodeID, e.Message)
	case e.Message != "":
		return fmt.Sprintf("grimoire: run %s %s: %s", e.RunID, e.Status, e.Message)
	}
	return fmt.Sprintf("grimoire: run %s %s", e.RunID, e.Status)
}

// Is matches ErrRunFailed, ErrRunCancelled or ErrRunWaiting.
func (e *RunError) Is(target error) bool {
	return (target == ErrRunFailed && e.Status == StatusFailed) ||
		(target == ErrRunCancelled && e.Status == StatusCancelled) ||
		(target == ErrRunWaiting && e.Status == StatusWaiting)
}

// errorDocument is the server's error body.
type errorDocument struct {
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// apiErrorFrom builds an *APIError from a non-success response body.
func apiErrorFrom(resp *http.Response, body []byte) *APIError {
	e := &APIError{Status: resp.StatusCode, Method: resp.Request.Method, URL: redactedURL(resp.Request)}
	var doc errorDocument
	if json.Unmarshal(body, &doc) == nil && doc.Error != nil {
		e.Code, e.Message = doc.Error.Code, doc.Error.Message
		return e
	}
	msg := strings.TrimSpace(string(body))
	if len(msg) > 512 {
		msg = msg[:512] + "…"
	}
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	e.Message = msg
	return e
}

func redactedURL(r *http.Request) string {
	if r == nil || r.URL == nil {
		return ""
	}
	u := *r.URL
	u.User = nil
	return u.String()
}
