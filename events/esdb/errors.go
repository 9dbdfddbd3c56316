package esdb

import (
	"errors"
	"regexp"
	"strconv"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/grimoire-run/grimoire/events"
)

// errorCode returns the client error code in err's chain, if any.
func errorCode(err error) (esdb.ErrorCode, bool) {
	var e *esdb.Error
	if errors.As(err, &e) {
		return e.Code(), true
	}
	return 0, false
}

func hasCode(err error, code esdb.ErrorCode) bool {
	c, ok := errorCode(err)
	return ok && c == code
}

// clientGaveUp: the client was closed under us (it closes itself after a
// failed discovery); the request never left.
func clientGaveUp(err error) bool {
	return hasCode(err, esdb.ErrorCodeConnectionClosed)
}

// discoveryFailed: the call that ran the failed discovery; the client is
// dead from now on.
func discoveryFailed(err error) bool {
	return strings.Contains(err.Error(), "maximum discovery attempt count reached")
}

// connectionTrouble reports whether err says the connection, rather than
// the request, failed.
func connectionTrouble(err error) bool {
	if errors.Is(err, errClientPanic) || discoveryFailed(err) {
		return true
	}
	c, ok := errorCode(err)
	if !ok {
		return false
	}
	switch c {
	case esdb.ErrorCodeConnectionClosed, esdb.ErrorUnavailable, esdb.ErrorCodeNotLeader, esdb.ErrorCodeDeadlineExceeded:
		return true
	}
	return false
}

// Conflicts arrive typed (AppendResp.WrongExpectedVersion, which v4.1.0
// turns into ErrorCodeWrongExpectedVersion with "expecting 'X' but got
// 'Y'") or, from EventStoreDB 20.6 and through proxies, as a plain gRPC
// status whose message says "WrongExpectedVersion ... Actual version: N".
var (
	gotRevision    = regexp.MustCompile(`but got '([^']*)'`)
	actualVersion  = regexp.MustCompile(`(?i)actual\s*version:\s*(-?\d+)`)
	maxAppendLimit = regexp.MustCompile(`(?i)maximum append size of (\d+)`)
)

func isWrongVersion(err error) bool {
	if hasCode(err, esdb.ErrorCodeWrongExpectedVersion) {
		return true
	}
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "wrongexpectedversion") ||
		strings.Contains(msg, "wrong expected version") ||
		strings.Contains(msg, "wrong-expected-version")
}

// wrongRevision turns a conflict into the events package's typed error,
// with the stream's actual state when the server said it.
func wrongRevision(stream string, expected events.ExpectedRevision, err error) *events.WrongRevisionError {
	w := &events.WrongRevisionError{Stream: stream, Expected: expected}
	msg := err.Error()
	if m := gotRevision.FindStringSubmatch(msg); m != nil {
		if n, perr := strconv.ParseUint(m[1], 10, 64); perr == nil {
			w.ActualExists, w.Actual = true, n
		}
		return w
	}
	if m := actualVersion.FindStringSubmatch(msg); m != nil {
		if n, perr := strconv.ParseInt(m[1], 10, 64); perr == nil && n >= 0 {
			w.ActualExists, w.Actual = true, uint64(n)
		}
	}
	return w
}

// tooLargeLimit reports whether err is the server's MaxAppendSize (or
// newer servers' per-event size) rejection, and the limit it named.
func tooLargeLimit(err error) (int, bool) {
	msg := strings.ToLower(err.Error())
	if !strings.Contains(msg, "maximum append size") && !strings.Contains(msg, "maximum-append-size") &&
		!strings.Contains(msg, "maxappendeventsize") && !strings.Contains(msg, "maximum event size") {
		return 0, false
	}
	if m := maxAppendLimit.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n, true
	}
	return 0, true
}

// isNotFound: a read of a stream that has no events (or was deleted).
func isNotFound(err error) bool {
	return hasCode(err, esdb.ErrorCodeResourceNotFound) || hasCode(err, esdb.ErrorCodeStreamDeleted)
}
