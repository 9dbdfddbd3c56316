package esdb

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/grimoire-run/grimoire/events"
)

func TestPositionNeighboursResolveToTheEvent(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	offsets := []uint64{0, 1, 77, 4096, 1 << 40, 1<<48 + 12345}
	for range 1000 {
		offsets = append(offsets, r.Uint64N(1<<48))
	}
	for _, c := range offsets {
		p := toPosition(esdb.Position{Commit: c, Prepare: c})
		if p == 0 || (c > 0 && p <= toPosition(esdb.Position{Commit: c - 1, Prepare: c - 1})) {
			t.Fatalf("offset %d: position %d is not 1-based and increasing", c, p)
		}
		cases := []struct {
			name      string
			from      uint64
			inclusive bool
		}{
			{"P", p, true},
			{"P-1", p - 1, true},
			{"P+1", p + 1, false},
			{"P-7", p - positionScale/2 + 1, true},
			{"P+7", p + positionScale/2 - 1, false},
		}
		for _, tc := range cases {
			off, incl := lowerBound(tc.from)
			if off != c || incl != tc.inclusive {
				t.Fatalf("offset %d (position %d): lowerBound(%s=%d) = (%d, %v), want (%d, %v)", c, p, tc.name, tc.from, off, incl, c, tc.inclusive)
			}
		}
	}
}

func FuzzMetadataEnvelope(f *testing.F) {
	f.Add(0, []byte(nil))
	f.Add(1, []byte(`{"causationId":"x"}`))
	f.Add(2, []byte(`{"a":[1,2,{"b":null}]}`))
	f.Add(7, []byte(`not json`))
	f.Add(2, []byte(`{"n":1e400}`)) // a number no float64 holds
	f.Add(3, []byte(`{"grimoireSchemaVersion":9,"metadata":{}}`))
	f.Fuzz(func(t *testing.T, version int, meta []byte) {
		// Whatever EventStoreDB hands back, decoding never fails or panics.
		decodeMetadata(meta)

		ev := events.EventData{Type: "T", SchemaVersion: version, Metadata: meta}
		raw, err := encodeMetadata(ev)
		if err != nil {
			if version > 1 && len(meta) > 0 && !json.Valid(meta) {
				return // refused: the envelope can only carry JSON
			}
			t.Fatalf("encode v%d %q: %v", version, meta, err)
		}
		got, gotVersion := decodeMetadata(raw)
		wantVersion := max(version, 1)
		if version <= 1 && bytes.Contains(meta, []byte(schemaVersionKey)) {
			return // a v1 event whose own metadata looks like our envelope: ambiguous by design
		}
		if gotVersion != wantVersion {
			t.Fatalf("v%d %q: decoded version %d", version, meta, gotVersion)
		}
		if version > 1 {
			// The envelope re-encodes the metadata (json.RawMessage is
			// copied verbatim, but compacting may differ): compare as JSON.
			if len(meta) == 0 {
				if len(got) != 0 {
					t.Fatalf("v%d: metadata %q from none", version, got)
				}
				return
			}
			// Numbers are compared as written (UseNumber): JSON allows
			// numbers that no float64 holds, and the envelope keeps them.
			a, errA := decodeJSONNumbers(meta)
			b, errB := decodeJSONNumbers(got)
			if errA != nil || errB != nil || fmt.Sprint(a) != fmt.Sprint(b) {
				t.Fatalf("v%d: metadata %q came back as %q", version, meta, got)
			}
			return
		}
		if !bytes.Equal(got, meta) {
			t.Fatalf("v%d: metadata %q came back as %q", version, meta, got)
		}
	})
}

func FuzzServerErrorMessages(f *testing.F) {
	f.Add("[ErrorCodeWrongExpectedVersion] an append request failed the optimistic concurrency on the server: wrong expected version: expecting '3' but got '5'")
	f.Add("[ErrorCodeWrongExpectedVersion] ...: wrong expected version: expecting 'no_stream' but got 'no_stream'")
	f.Add("rpc error: code = FailedPrecondition desc = Append failed due to WrongExpectedVersion. Stream: s, Expected version: 0, Actual version: -1")
	f.Add("rpc error: code = InvalidArgument desc = Maximum Append Size of 1048576 Exceeded.")
	f.Add("but got '18446744073709551616'")
	f.Fuzz(func(t *testing.T, msg string) {
		err := errors.New(msg)
		w := wrongRevision("s", events.Any, err)
		if !w.ActualExists && w.Actual != 0 {
			t.Fatalf("%q: actual %d without a stream", msg, w.Actual)
		}
		isWrongVersion(err)
		if n, ok := tooLargeLimit(err); n < 0 || (!ok && n != 0) {
			t.Fatalf("%q: limit %d, %v", msg, n, ok)
		}
	})
}

func TestServerErrorMessages(t *testing.T) {
	cases := []struct {
		msg         string
		wrong       bool
		exists      bool
		actual      uint64
		tooLarge    bool
		tooLargeCap int
	}{
		{msg: "wrong expected version: expecting '3' but got '5'", wrong: true, exists: true, actual: 5},
		{msg: "wrong expected version: expecting '0' but got 'no_stream'", wrong: true},
		{msg: "Append failed due to WrongExpectedVersion. Stream: s, Expected version: 0, Actual version: -1", wrong: true},
		{msg: "Append failed due to WrongExpectedVersion. Stream: s, Expected version: 0, Actual version: 12", wrong: true, exists: true, actual: 12},
		{msg: "Maximum Append Size of 1048576 Exceeded.", tooLarge: true, tooLargeCap: 1 << 20},
		{msg: "stream 'x' is not found"},
	}
	for _, tc := range cases {
		t.Run(tc.msg, func(t *testing.T) {
			err := fmt.Errorf("rpc error: %s", tc.msg)
			if got := isWrongVersion(err); got != tc.wrong {
				t.Fatalf("isWrongVersion = %v", got)
			}
			if tc.wrong {
				w := wrongRevision("s", events.Exact(0), err)
				if w.ActualExists != tc.exists || w.Actual != tc.actual || !errors.Is(w, events.ErrWrongExpectedRevision) {
					t.Fatalf("got %+v", w)
				}
			}
			if n, ok := tooLargeLimit(err); ok != tc.tooLarge || n != tc.tooLargeCap {
				t.Fatalf("tooLargeLimit = %d, %v", n, ok)
			}
		})
	}
}

func decodeJSONNumbers(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}
