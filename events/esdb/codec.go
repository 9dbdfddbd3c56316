package esdb

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/grimoire-run/grimoire/events"
)

// Global positions.
//
// EventStoreDB places an event in $all by a (commit, prepare) pair of byte
// offsets in its transaction log; for every event written over gRPC the two
// are equal (each event is its own implicitly committed record), so one
// number, the commit offset c, identifies it. Offsets have gaps (they grow
// by the record's size), and the server refuses to read from an offset that
// is not the start of a record.
//
// events.RecordedEvent.Position is c*positionScale + positionScale/2. The
// spread keeps positions strictly increasing and 1-based while letting the
// adapter turn the neighbours callers compute back into real offsets: for
// a position P, P+1 ("continue after a checkpoint") means "after c" and P-1
// means "from c". Any value within positionScale/2 of an event's position
// resolves to that event; values far from every event are not positions of
// this store and the server rejects them.
//
// Events of legacy explicit transactions (TCP clients before v20) have
// commit > prepare; their commit offset is used, which orders them as $all
// does but gives every event of one transaction the same position.
const positionScale = 16

// Positions fit JSON's exact integer range (2^53) up to a 512 TiB log.

func toPosition(p esdb.Position) uint64 {
	return max(p.Commit, p.Prepare)*positionScale + positionScale/2
}

// lowerBound turns "Position >= from" into the log offset to read from and
// whether the event at that offset itself qualifies.
func lowerBound(from uint64) (offset uint64, inclusive bool) {
	c := from / positionScale
	return c, from <= c*positionScale+positionScale/2
}

func offsetPosition(c uint64) esdb.Position { return esdb.Position{Commit: c, Prepare: c} }

// isSystem reports whether an $all event is EventStoreDB's own ($stats,
// $metadata, projections' links...), which the events.Store log leaves out.
func isSystem(eventType string) bool { return strings.HasPrefix(eventType, "$") }

// Schema versions. EventStoreDB has no field for them, and the event type
// is what analysts and the server's by-type indexes group on, so a schema
// version above 1 travels in the custom metadata as an envelope:
//
//	{"grimoireSchemaVersion": 2, "metadata": <the event's metadata>}
//
// Version 1 (and 0, which means 1) writes the metadata unchanged, so
// today's events look in EventStoreDB exactly as the caller wrote them.
const schemaVersionKey = "grimoireSchemaVersion"

type envelope struct {
	SchemaVersion int             `json:"grimoireSchemaVersion"`
	Metadata      json.RawMessage `json:"metadata,omitempty"`
}

func encodeMetadata(ev events.EventData) ([]byte, error) {
	if ev.SchemaVersion <= 1 {
		return ev.Metadata, nil
	}
	if len(ev.Metadata) > 0 && !json.Valid(ev.Metadata) {
		return nil, fmt.Errorf("metadata of a version %d event is not JSON", ev.SchemaVersion)
	}
	return json.Marshal(envelope{SchemaVersion: ev.SchemaVersion, Metadata: ev.Metadata})
}

func decodeMetadata(raw []byte) (meta json.RawMessage, version int) {
	if bytes.Contains(raw, []byte(schemaVersionKey)) {
		var env envelope
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if dec.Decode(&env) == nil && env.SchemaVersion > 1 {
			return env.Metadata, env.SchemaVersion
		}
	}
	if len(raw) == 0 {
		return nil, 1
	}
	return json.RawMessage(raw), 1
}

// eventID returns the UUID EventStoreDB stores for the event that lands at
// revision rev.
func eventID(stream string, rev uint64, ev events.EventData) (uuid.UUID, error) {
	id := ev.ID
	if id == "" {
		id = events.DeterministicID(stream, rev, ev)
	}
	u, err := uuid.Parse(id)
	if err != nil {
		return uuid.Nil, fmt.Errorf("event ID %q is not a UUID (EventStoreDB needs one; leave it empty or use events.NewID): %w", id, err)
	}
	return u, nil
}

// eventSize is what the server counts against MaxAppendSize.
func eventSize(ev events.EventData, meta []byte) int {
	return len(ev.Data) + len(meta) + len(ev.Type)
}

func toEventData(stream string, rev uint64, ev events.EventData) (esdb.EventData, int, error) {
	if ev.Type == "" {
		return esdb.EventData{}, 0, fmt.Errorf("event at revision %d has no type", rev)
	}
	if isSystem(ev.Type) {
		return esdb.EventData{}, 0, fmt.Errorf("event type %q starts with $, which EventStoreDB reserves for system events", ev.Type)
	}
	id, err := eventID(stream, rev, ev)
	if err != nil {
		return esdb.EventData{}, 0, err
	}
	meta, err := encodeMetadata(ev)
	if err != nil {
		return esdb.EventData{}, 0, err
	}
	ct := esdb.ContentTypeJson
	if len(ev.Data) > 0 && !json.Valid(ev.Data) {
		ct = esdb.ContentTypeBinary
	}
	return esdb.EventData{
		EventID:     id,
		EventType:   ev.Type,
		ContentType: ct,
		Data:        ev.Data,
		Metadata:    meta,
	}, eventSize(ev, meta), nil
}

func fromRecorded(r *esdb.RecordedEvent) events.RecordedEvent {
	meta, version := decodeMetadata(r.UserMetadata)
	var data json.RawMessage
	if len(r.Data) > 0 {
		data = json.RawMessage(r.Data)
	}
	return events.RecordedEvent{
		Stream:        r.StreamID,
		Revision:      r.EventNumber,
		Position:      toPosition(r.Position),
		ID:            r.EventID.String(),
		Type:          r.EventType,
		SchemaVersion: version,
		Data:          data,
		Metadata:      meta,
		Time:          r.CreatedDate,
	}
}
