package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/server/runs"
	"github.com/grimoire-run/grimoire/server/socket"
	"github.com/grimoire-run/grimoire/server/spells"
)

// Error codes (docs/protocol.md).
const (
	codeBadRequest      = "bad_request"
	codeUnauthorized    = "unauthorized"
	codeForbidden       = "forbidden"
	codeNotFound        = "not_found"
	codeInvalidSpell    = "invalid_spell"
	codeInvalidInputs   = "invalid_inputs"
	codeInvalidAnswer   = "invalid_answer"
	codeLimitExceeded   = "limit_exceeded"
	codePayloadTooLarge = "payload_too_large"
	codeConflict        = "conflict"
	codeUnavailable     = "unavailable"
	codeInternal        = "internal"
)

// apiError is an error a client sees, with its HTTP status.
type apiError struct {
	status int
	code   string
	msg    string
	// retryAfter, when set, is sent as Retry-After (seconds).
	retryAfter int
	// problems locate what to change (invalid_spell, invalid_inputs).
	problems []graph.Problem
}

// runLimitRetryAfter is the Retry-After of a 429 limit_exceeded (per-user
// or server-wide run limit): a second, since runs end at any time.
const runLimitRetryAfter = 1

// runLimit is the 429 a run request over a run limit gets.
func runLimit(msg string) *apiError {
	return &apiError{status: http.StatusTooManyRequests, code: codeLimitExceeded, msg: msg, retryAfter: runLimitRetryAfter}
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func badRequest(msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: codeBadRequest, msg: msg}
}

func notFound(msg string) *apiError {
	return &apiError{status: http.StatusNotFound, code: codeNotFound, msg: msg}
}

func forbidden(msg string) *apiError {
	return &apiError{status: http.StatusForbidden, code: codeForbidden, msg: msg}
}

// classify maps any error to what the client sees. Errors the server does
// not know are internal: logged, and reported without detail.
func classify(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var se *socket.Error
	if errors.As(err, &se) {
		return &apiError{status: http.StatusBadRequest, code: se.Code, msg: se.Message}
	}
	var (
		ve *graph.ValidationError
		pe *graph.ParseError
		ie *graph.InputError
		mb *http.MaxBytesError
	)
	switch {
	case errors.As(err, &ve):
		return &apiError{status: http.StatusBadRequest, code: codeInvalidSpell, msg: err.Error(), problems: ve.Problems}
	case errors.As(err, &pe):
		return &apiError{status: http.StatusBadRequest, code: codeInvalidSpell, msg: err.Error()}
	case errors.As(err, &ie):
		return &apiError{status: http.StatusBadRequest, code: codeInvalidInputs, msg: err.Error(), problems: ie.Problems}
	case errors.As(err, &mb):
		return &apiError{status: http.StatusRequestEntityTooLarge, code: codePayloadTooLarge, msg: err.Error()}
	case errors.Is(err, spells.ErrNotFound):
		return &apiError{status: http.StatusNotFound, code: codeNotFound, msg: err.Error()}
	case errors.Is(err, spells.ErrForbidden):
		return &apiError{status: http.StatusForbidden, code: codeForbidden, msg: err.Error()}
	case errors.Is(err, spells.ErrConflict), errors.Is(err, runs.ErrRunExists):
		return &apiError{status: http.StatusConflict, code: codeConflict, msg: err.Error()}
	case errors.Is(err, runs.ErrInvalidAnswer):
		return &apiError{status: http.StatusBadRequest, code: codeInvalidAnswer, msg: err.Error()}
	case errors.Is(err, runs.ErrNotAllowed):
		return &apiError{status: http.StatusForbidden, code: codeForbidden, msg: err.Error()}
	case errors.Is(err, runs.ErrAlreadyAnswered), errors.Is(err, runs.ErrNotWaiting), errors.Is(err, runs.ErrRunBusy), errors.Is(err, runs.ErrRunEnded):
		return &apiError{status: http.StatusConflict, code: codeConflict, msg: err.Error()}
	case errors.Is(err, runs.ErrInputsTooLarge):
		return &apiError{status: http.StatusRequestEntityTooLarge, code: codePayloadTooLarge, msg: err.Error()}
	case errors.Is(err, runs.ErrTooManyRuns):
		// The server-wide limit: the same answer as the per-user one, a
		// client retries either later.
		return runLimit("the server has as many runs in progress as it may: retry shortly")
	}
	return &apiError{status: http.StatusInternalServerError, code: codeInternal, msg: "internal error"}
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Problems locate what to change, one per problem (invalid_spell,
	// invalid_inputs).
	Problems []graph.Problem `json:"problems,omitempty"`
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	ae := classify(err)
	if ae.code == codeInternal {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if ae.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(ae.retryAfter))
	}
	writeJSON(w, ae.status, errorBody{Error: errorDetail{Code: ae.code, Message: ae.msg, Problems: ae.problems}})
}

// socketError turns an error into the socket layer's ack error.
func (s *Server) socketError(event string, err error) error {
	ae := classify(err)
	if ae.code == codeInternal {
		s.log.Error("socket request failed", "event", event, "err", err)
	}
	se := &socket.Error{Code: ae.code, Message: ae.msg}
	if len(ae.problems) > 0 {
		se.Problems = ae.problems
	}
	return se
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
