package events

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Store is the event log of record: streams of events with per-stream
// optimistic concurrency, and one global order over all streams ($all).
//
// Every implementation (the embedded store, the EventStoreDB adapter, the
// blob-offloading wrapper) passes the contract suite in events/storetest.
type Store interface {
	// Append writes evs at the end of stream, atomically, if the stream's
	// state matches expected. It returns once the events are durable.
	//
	// A retried append of the same event IDs at the same place (the same
	// expected revision, or for Any the same IDs at the stream's tail) is
	// idempotent: it succeeds, writes nothing and returns the original
	// result. A mismatch is a *WrongRevisionError (errors.Is
	// ErrWrongExpectedRevision). An event whose encoded size the store
	// cannot hold is rejected with ErrEventTooLarge and nothing is written.
	// Appending no events only checks expected.
	Append(ctx context.Context, stream string, expected ExpectedRevision, evs ...EventData) (AppendResult, error)

	// ReadStream returns up to max events of stream starting at revision
	// from (inclusive), in direction dir. Use End with Backwards to read
	// from the last event. max <= 0 means no limit. A stream that has no
	// events is ErrStreamNotFound. Reading past the end returns no events
	// and no error.
	ReadStream(ctx context.Context, stream string, from uint64, dir Direction, max int) ([]RecordedEvent, error)

	// ReadAll returns up to max events of the global log whose Position is
	// >= from, in commit order. from 0 (or Start) reads from the beginning;
	// to continue after a checkpoint p, pass p+1. max <= 0 means no limit.
	ReadAll(ctx context.Context, from uint64, max int) ([]RecordedEvent, error)

	// Subscribe follows the global log: first the events already stored
	// after opts.After (catch-up), then new ones as they are committed
	// (live), with no gap and no duplicate between the two phases.
	Subscribe(ctx context.Context, opts SubscribeOptions) (Subscription, error)

	// Close stops the store. Open subscriptions end with ErrClosed; no
	// goroutine of the store outlives Close.
	Close() error
}

// Subscription delivers events in global order.
type Subscription interface {
	// Next blocks until the next matching event, ctx is done, the
	// subscription is closed (ErrClosed) or it fails (for example a
	// subscriber that fell too far behind a remote store).
	Next(ctx context.Context) (RecordedEvent, error)
	// Close ends the subscription; a Next in progress returns ErrClosed.
	Close() error
}

// SubscribeOptions selects where a subscription starts and what it sees.
type SubscribeOptions struct {
	// After is an exclusive checkpoint: events with Position > After are
	// delivered. 0 (Start) delivers everything. A projection stores the
	// Position of the last event it handled and passes it here.
	After uint64
	// FromEnd skips the catch-up phase: only events committed after
	// Subscribe returns are delivered. After is then ignored.
	FromEnd bool
	// StreamPrefixes keeps events whose stream starts with one of these
	// prefixes (for example "run-"). Empty keeps every stream.
	StreamPrefixes []string
	// EventTypes keeps events whose Type is one of these. Empty keeps
	// every type. Both filters apply together.
	EventTypes []string
}

// Matches reports whether e passes the options' filters.
func (o SubscribeOptions) Matches(e RecordedEvent) bool {
	if len(o.StreamPrefixes) > 0 {
		ok := false
		for _, p := range o.StreamPrefixes {
			if len(e.Stream) >= len(p) && e.Stream[:len(p)] == p {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if len(o.EventTypes) > 0 {
		for _, t := range o.EventTypes {
			if e.Type == t {
				return true
			}
		}
		return false
	}
	return true
}

// Direction is the order of a stream read.
type Direction uint8

const (
	Forwards Direction = iota
	Backwards
)

func (d Direction) String() string {
	if d == Backwards {
		return "backwards"
	}
	return "forwards"
}

const (
	// Start is the first revision of a stream and the beginning of the
	// global log.
	Start uint64 = 0
	// End, as the from revision of a Backwards read, means the stream's
	// last event.
	End uint64 = math.MaxUint64
)

// AppendResult tells where an append landed.
type AppendResult struct {
	// NextRevision is the revision of the stream's last event after the
	// append: pass Exact(NextRevision) to append after it.
	NextRevision uint64
	// Position is the global position of the last event written (for an
	// idempotent retry, of the last event the original append wrote).
	Position uint64
	// Recorded holds the events as the store recorded them (revisions,
	// positions, commit time) when it has them at hand without a read, as
	// the embedded store does; nil otherwise, and for an idempotent retry.
	// Callers read them and must not modify them.
	Recorded []RecordedEvent
}

// ExpectedRevision is the stream state an append requires. The zero value
// is Any.
type ExpectedRevision struct {
	kind expectKind
	rev  uint64
}

type expectKind uint8

const (
	expectAny expectKind = iota
	expectNoStream
	expectStreamExists
	expectExact
)

var (
	// Any appends whatever the stream's state.
	Any = ExpectedRevision{kind: expectAny}
	// NoStream requires that the stream has no events yet.
	NoStream = ExpectedRevision{kind: expectNoStream}
	// StreamExists requires that the stream has at least one event.
	StreamExists = ExpectedRevision{kind: expectStreamExists}
)

// Exact requires that the stream's last event has revision rev.
func Exact(rev uint64) ExpectedRevision { return ExpectedRevision{kind: expectExact, rev: rev} }

// IsAny, IsNoStream, IsStreamExists report the kind; Revision reports the
// revision of an Exact expectation.
func (e ExpectedRevision) IsAny() bool          { return e.kind == expectAny }
func (e ExpectedRevision) IsNoStream() bool     { return e.kind == expectNoStream }
func (e ExpectedRevision) IsStreamExists() bool { return e.kind == expectStreamExists }
func (e ExpectedRevision) Revision() (rev uint64, exact bool) {
	return e.rev, e.kind == expectExact
}

// Check reports whether a stream whose last revision is last (exists false
// when it has no events) satisfies e.
func (e ExpectedRevision) Check(last uint64, exists bool) bool {
	switch e.kind {
	case expectNoStream:
		return !exists
	case expectStreamExists:
		return exists
	case expectExact:
		return exists && last == e.rev
	}
	return true
}

func (e ExpectedRevision) String() string {
	switch e.kind {
	case expectNoStream:
		return "no stream"
	case expectStreamExists:
		return "stream exists"
	case expectExact:
		return "revision " + strconv.FormatUint(e.rev, 10)
	}
	return "any"
}

// Typed errors. Match with errors.Is; a wrong revision carries details as
// *WrongRevisionError (errors.As).
var (
	ErrWrongExpectedRevision = errors.New("wrong expected revision")
	ErrStreamNotFound        = errors.New("stream not found")
	ErrEventTooLarge         = errors.New("event too large")
	ErrClosed                = errors.New("event store closed")
	// ErrPruneHead: a store that supports retention (docs/retention.md)
	// never deletes the last event of a stream, so that the stream's next
	// append still expects the revision it always did.
	ErrPruneHead = errors.New("the last event of a stream cannot be pruned")
)

// WrongRevisionError is returned by Append when the stream's state does not
// match the expected revision.
type WrongRevisionError struct {
	Stream   string
	Expected ExpectedRevision
	// ActualExists is false when the stream has no events; Actual is then 0.
	ActualExists bool
	Actual       uint64
}

func (e *WrongRevisionError) Error() string {
	actual := "no stream"
	if e.ActualExists {
		actual = "revision " + strconv.FormatUint(e.Actual, 10)
	}
	return fmt.Sprintf("append to %q: %v: expected %v, stream is at %s", e.Stream, ErrWrongExpectedRevision, e.Expected, actual)
}

func (e *WrongRevisionError) Is(target error) bool { return target == ErrWrongExpectedRevision }

// EventTooLargeError says which event was too large and what the limit is.
type EventTooLargeError struct {
	Stream string
	Index  int // index of the event in the append
	Size   int
	Limit  int
}

func (e *EventTooLargeError) Error() string {
	return fmt.Sprintf("append to %q: event %d is %d bytes, the store holds at most %d: %v (wrap the store with events.WithBlobs to offload large data)", e.Stream, e.Index, e.Size, e.Limit, ErrEventTooLarge)
}

func (e *EventTooLargeError) Is(target error) bool { return target == ErrEventTooLarge }

// MaxStreamNameLen is the longest stream name the stores accept.
const MaxStreamNameLen = 1024

// CheckStreamName says what is wrong with a stream name no store accepts:
// empty, longer than MaxStreamNameLen bytes, or holding a NUL.
func CheckStreamName(stream string) error {
	switch {
	case stream == "":
		return errors.New("stream name is empty")
	case len(stream) > MaxStreamNameLen:
		return fmt.Errorf("stream name is %d bytes, at most %d", len(stream), MaxStreamNameLen)
	case strings.IndexByte(stream, 0) >= 0:
		return errors.New("stream name contains NUL")
	}
	return nil
}
