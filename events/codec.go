package events

import (
	"encoding/json"
	"errors"
	"fmt"
)

// SchemaVersion is the version of the run and spell event schema that
// Encode writes and Decode reads. Decode refuses newer versions instead of
// silently dropping fields it does not know.
const SchemaVersion = 1

// ErrUnknownEventType is returned by Encode and Decode for a payload or
// type name that is not part of the schema.
var ErrUnknownEventType = errors.New("unknown event type")

// TypeOf returns the event type name of a payload (a value or pointer of
// one of the schema's types), or "" if it is not one.
func TypeOf(payload any) string {
	switch payload.(type) {
	case RunRequested, *RunRequested:
		return TypeRunRequested
	case RunResumed, *RunResumed:
		return TypeRunResumed
	case NodeStarted, *NodeStarted:
		return TypeNodeStarted
	case NodeOutputChunk, *NodeOutputChunk:
		return TypeNodeOutputChunk
	case NodeCompleted, *NodeCompleted:
		return TypeNodeCompleted
	case NodeFailed, *NodeFailed:
		return TypeNodeFailed
	case NodeSkipped, *NodeSkipped:
		return TypeNodeSkipped
	case NodeCacheHit, *NodeCacheHit:
		return TypeNodeCacheHit
	case RunCompleted, *RunCompleted:
		return TypeRunCompleted
	case RunFailed, *RunFailed:
		return TypeRunFailed
	case RunCancelled, *RunCancelled:
		return TypeRunCancelled
	case RunWaiting, *RunWaiting:
		return TypeRunWaiting
	case RunAnswered, *RunAnswered:
		return TypeRunAnswered
	case RunPaused, *RunPaused:
		return TypeRunPaused
	case SpellSaved, *SpellSaved:
		return TypeSpellSaved
	case SpellDeleted, *SpellDeleted:
		return TypeSpellDeleted
	case SpellShared, *SpellShared:
		return TypeSpellShared
	case StateWritten, *StateWritten:
		return TypeStateWritten
	}
	return ""
}

// Encode turns a schema payload into EventData. A run event with a RunID
// and a Seq gets the deterministic ID RunEventID(RunID, Seq), so a retried
// append of it is idempotent.
func Encode(payload any) (EventData, error) {
	typ := TypeOf(payload)
	if typ == "" {
		return EventData{}, fmt.Errorf("encode %T: %w", payload, ErrUnknownEventType)
	}
	data, err := json.Marshal(payload)
	if err != nil {
		return EventData{}, fmt.Errorf("encode %s: %w", typ, err)
	}
	ev := EventData{Type: typ, SchemaVersion: SchemaVersion, Data: data}
	if h, ok := Header(payload); ok && h.RunID != "" && h.Seq > 0 {
		ev.ID = RunEventID(h.RunID, h.Seq)
	}
	return ev, nil
}

// MustEncode is Encode for payloads known to encode (tests, literals).
func MustEncode(payload any) EventData {
	ev, err := Encode(payload)
	if err != nil {
		panic(err)
	}
	return ev
}

// Decode returns the payload of a recorded event as a value of its schema
// type (RunRequested, NodeCompleted, ...).
func Decode(e RecordedEvent) (any, error) {
	if e.SchemaVersion > SchemaVersion {
		return nil, fmt.Errorf("decode %s at %s@%d: schema version %d is newer than this build's %d (upgrade grimoire)", e.Type, e.Stream, e.Revision, e.SchemaVersion, SchemaVersion)
	}
	var (
		v   any
		err error
	)
	switch e.Type {
	case TypeRunRequested:
		v, err = decodeAs[RunRequested](e.Data)
	case TypeRunResumed:
		v, err = decodeAs[RunResumed](e.Data)
	case TypeNodeStarted:
		v, err = decodeAs[NodeStarted](e.Data)
	case TypeNodeOutputChunk:
		v, err = decodeAs[NodeOutputChunk](e.Data)
	case TypeNodeCompleted:
		v, err = decodeAs[NodeCompleted](e.Data)
	case TypeNodeFailed:
		v, err = decodeAs[NodeFailed](e.Data)
	case TypeNodeSkipped:
		v, err = decodeAs[NodeSkipped](e.Data)
	case TypeNodeCacheHit:
		v, err = decodeAs[NodeCacheHit](e.Data)
	case TypeRunCompleted:
		v, err = decodeAs[RunCompleted](e.Data)
	case TypeRunFailed:
		v, err = decodeAs[RunFailed](e.Data)
	case TypeRunCancelled:
		v, err = decodeAs[RunCancelled](e.Data)
	case TypeRunWaiting:
		v, err = decodeAs[RunWaiting](e.Data)
	case TypeRunAnswered:
		v, err = decodeAs[RunAnswered](e.Data)
	case TypeRunPaused:
		v, err = decodeAs[RunPaused](e.Data)
	case TypeSpellSaved:
		v, err = decodeAs[SpellSaved](e.Data)
	case TypeSpellDeleted:
		v, err = decodeAs[SpellDeleted](e.Data)
	case TypeSpellShared:
		v, err = decodeAs[SpellShared](e.Data)
	case TypeStateWritten:
		v, err = decodeAs[StateWritten](e.Data)
	default:
		return nil, fmt.Errorf("decode %q at %s@%d: %w", e.Type, e.Stream, e.Revision, ErrUnknownEventType)
	}
	if err != nil {
		return nil, fmt.Errorf("decode %s at %s@%d: %w", e.Type, e.Stream, e.Revision, err)
	}
	return v, nil
}

func decodeAs[T any](data []byte) (T, error) {
	var v T
	err := json.Unmarshal(data, &v)
	return v, err
}
