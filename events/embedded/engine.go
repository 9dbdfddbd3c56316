package embedded

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/grimoire-run/grimoire/events"
)

// Engine is the storage under the Store: it persists records that the
// Store has already validated and numbered. The Store calls Commit from one
// goroutine only; reads may run concurrently with it and with each other.
// Pebble is the default; the decision record compares others through this
// interface.
type Engine interface {
	// Head returns the last record of stream, ok false if it has none.
	Head(stream string) (last events.RecordedEvent, ok bool, err error)
	// LastPosition returns the highest committed global position, 0 when
	// the log is empty.
	LastPosition() (uint64, error)
	// Commit writes recs (contiguous positions, in order) atomically and
	// durably: it returns after they are synced to stable storage.
	Commit(recs []events.RecordedEvent) error
	// ReadStream reads records of stream by revision (see events.Store).
	ReadStream(stream string, from uint64, dir events.Direction, max int) ([]events.RecordedEvent, error)
	// ReadAll reads records with Position >= from in order.
	ReadAll(from uint64, max int) ([]events.RecordedEvent, error)
	Close() error
}

// Record encoding shared by the engines: a version byte, then
// uvarint-prefixed fields. Keeping it here lets every candidate engine
// store the same bytes, so the comparison measures the engines.
const recordVersion = 1

var errCorrupt = errors.New("corrupt record")

// recordSize is the length of EncodeRecord's output for r.
func recordSize(r *events.RecordedEvent) int {
	n := 1 + uvarintLen(r.Position) + uvarintLen(r.Revision) + varintLen(r.Time.UnixNano()) + uvarintLen(uint64(r.SchemaVersion))
	for _, l := range [...]int{len(r.Stream), len(r.ID), len(r.Type), len(r.Data), len(r.Metadata)} {
		n += uvarintLen(uint64(l)) + l
	}
	return n
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func varintLen(v int64) int {
	u := uint64(v) << 1
	if v < 0 {
		u = ^u
	}
	return uvarintLen(u)
}

// EncodeRecord appends the binary form of r to dst.
func EncodeRecord(dst []byte, r *events.RecordedEvent) []byte {
	dst = append(dst, recordVersion)
	dst = binary.AppendUvarint(dst, r.Position)
	dst = binary.AppendUvarint(dst, r.Revision)
	dst = binary.AppendVarint(dst, r.Time.UnixNano())
	dst = binary.AppendUvarint(dst, uint64(r.SchemaVersion))
	for _, s := range [...]string{r.Stream, r.ID, r.Type} {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	for _, b := range [...][]byte{r.Data, r.Metadata} {
		dst = binary.AppendUvarint(dst, uint64(len(b)))
		dst = append(dst, b...)
	}
	return dst
}

// DecodeRecord parses a record written by EncodeRecord. The returned
// Data and Metadata are copies: src may be reused by the engine.
func DecodeRecord(src []byte) (events.RecordedEvent, error) {
	var r events.RecordedEvent
	if len(src) == 0 || src[0] != recordVersion {
		return r, fmt.Errorf("decode record: %w: version", errCorrupt)
	}
	b := src[1:]
	u := func() uint64 {
		if b == nil {
			return 0
		}
		v, n := binary.Uvarint(b)
		if n <= 0 {
			b = nil
			return 0
		}
		b = b[n:]
		return v
	}
	r.Position = u()
	r.Revision = u()
	if b != nil {
		t, n := binary.Varint(b)
		if n <= 0 {
			b = nil
		} else {
			b = b[n:]
			r.Time = time.Unix(0, t).UTC()
		}
	}
	r.SchemaVersion = int(u())
	field := func() []byte {
		n := u()
		if b == nil || n > uint64(len(b)) {
			b = nil
			return nil
		}
		f := b[:n:n]
		b = b[n:]
		return f
	}
	stream, id, typ := field(), field(), field()
	data, meta := field(), field()
	if b == nil {
		return r, fmt.Errorf("decode record: %w: truncated", errCorrupt)
	}
	r.Stream, r.ID, r.Type = string(stream), string(id), string(typ)
	if data != nil {
		r.Data = append([]byte(nil), data...)
	}
	if len(meta) > 0 {
		r.Metadata = append([]byte(nil), meta...)
	}
	return r, nil
}
