package embedded

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/cockroachdb/pebble"

	"github.com/grimoire-run/grimoire/events"
)

// Key layout:
//
//	'a' pos(8, big endian)                  -> record
//	's' stream 0x00 revision(8, big endian) -> pos(8)
//
// Stream names may not contain NUL (the Store rejects them), so a stream's
// index keys are contiguous and sort by revision.
const (
	prefixAll    = 'a'
	prefixStream = 's'
)

type pebbleEngine struct {
	db    *pebble.DB
	sync  *pebble.WriteOptions // pebble.Sync unless another log makes commits durable
	pacer *pacer               // nil: flushes and compactions write unpaced
}

// OpenPebble opens (creating if needed) a Pebble engine in dir. Its
// flushes and compactions write table files at no more than
// backgroundRate bytes/s while Pebble keeps up (see pacer); 0 or less
// leaves them unpaced.
func OpenPebble(dir string, backgroundRate int64) (Engine, error) {
	opts := &pebble.Options{
		Logger: quietLogger{},
		// A larger memtable makes flushes (and the compactions behind them)
		// rarer under a steady stream of 1 KiB events.
		MemTableSize: 32 << 20,
	}
	opts.EnsureDefaults()
	p := newPacer(backgroundRate)
	if p != nil {
		opts.FS = pacedFS{FS: opts.FS, p: p}
		l := pebble.EventListener{}
		p.listen(&l)
		opts.EventListener = &l
		// Pebble's recovery flush at open goes unpaced; the watcher
		// decides from the first look at the backlog on.
		p.behind.Store(true)
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("open pebble in %s: %w", dir, err)
	}
	if p != nil {
		go p.watch(db, opts)
	}
	return &pebbleEngine{db: db, sync: pebble.Sync, pacer: p}, nil
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

func allKey(pos uint64) []byte {
	k := make([]byte, 9)
	k[0] = prefixAll
	binary.BigEndian.PutUint64(k[1:], pos)
	return k
}

func streamPrefix(stream string) []byte {
	k := make([]byte, 0, len(stream)+10)
	k = append(k, prefixStream)
	k = append(k, stream...)
	return append(k, 0)
}

func streamKey(stream string, rev uint64) []byte {
	return binary.BigEndian.AppendUint64(streamPrefix(stream), rev)
}

func (e *pebbleEngine) get(key []byte) ([]byte, bool, error) {
	v, closer, err := e.db.Get(key)
	if err == pebble.ErrNotFound {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	out := append([]byte(nil), v...)
	closer.Close()
	return out, true, nil
}

func (e *pebbleEngine) record(pos uint64) (events.RecordedEvent, error) {
	v, ok, err := e.get(allKey(pos))
	if err != nil {
		return events.RecordedEvent{}, err
	}
	if !ok {
		return events.RecordedEvent{}, fmt.Errorf("position %d: %w: indexed but missing", pos, errCorrupt)
	}
	return DecodeRecord(v)
}

func (e *pebbleEngine) Head(stream string) (events.RecordedEvent, bool, error) {
	p := streamPrefix(stream)
	upper := append(bytes.Clone(p[:len(p)-1]), 1)
	it, err := e.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: upper})
	if err != nil {
		return events.RecordedEvent{}, false, err
	}
	defer it.Close()
	if !it.Last() {
		return events.RecordedEvent{}, false, it.Error()
	}
	r, err := e.record(binary.BigEndian.Uint64(it.Value()))
	return r, err == nil, err
}

func (e *pebbleEngine) LastPosition() (uint64, error) {
	it, err := e.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixAll}, UpperBound: []byte{prefixAll + 1}})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	if !it.Last() {
		return 0, it.Error()
	}
	return binary.BigEndian.Uint64(it.Key()[1:]), nil
}

func (e *pebbleEngine) batch(recs []events.RecordedEvent) (*pebble.Batch, error) {
	b := e.db.NewBatch()
	var key [9]byte
	key[0] = prefixAll
	var skey []byte
	for i := range recs {
		r := &recs[i]
		binary.BigEndian.PutUint64(key[1:], r.Position)
		op := b.SetDeferred(len(key), recordSize(r))
		copy(op.Key, key[:])
		if out := EncodeRecord(op.Value[:0], r); len(out) != len(op.Value) || &out[0] != &op.Value[0] {
			b.Close()
			return nil, fmt.Errorf("encode record at position %d: %d bytes, sized %d", r.Position, len(out), len(op.Value))
		}
		if err := op.Finish(); err != nil {
			b.Close()
			return nil, err
		}
		skey = append(append(append(skey[:0], prefixStream), r.Stream...), 0)
		skey = binary.BigEndian.AppendUint64(skey, r.Revision)
		if err := b.Set(skey, key[1:], nil); err != nil {
			b.Close()
			return nil, err
		}
	}
	return b, nil
}

func (e *pebbleEngine) Commit(recs []events.RecordedEvent) error {
	b, err := e.batch(recs)
	if err != nil {
		return err
	}
	defer b.Close()
	return b.Commit(e.sync)
}

func (e *pebbleEngine) ReadStream(stream string, from uint64, dir events.Direction, max int) ([]events.RecordedEvent, error) {
	p := streamPrefix(stream)
	upper := append(bytes.Clone(p[:len(p)-1]), 1)
	it, err := e.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: upper})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var positions []uint64
	var ok bool
	if dir == events.Backwards {
		if from == events.End {
			ok = it.Last()
		} else {
			ok = it.SeekLT(streamKey(stream, from+1))
		}
	} else {
		ok = it.SeekGE(streamKey(stream, from))
	}
	for ; ok; ok = step(it, dir) {
		positions = append(positions, binary.BigEndian.Uint64(it.Value()))
		if max > 0 && len(positions) >= max {
			break
		}
	}
	if err := it.Error(); err != nil {
		return nil, err
	}
	out := make([]events.RecordedEvent, 0, len(positions))
	for _, pos := range positions {
		r, err := e.record(pos)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func step(it *pebble.Iterator, dir events.Direction) bool {
	if dir == events.Backwards {
		return it.Prev()
	}
	return it.Next()
}

func (e *pebbleEngine) ReadAll(from uint64, max int) ([]events.RecordedEvent, error) {
	it, err := e.db.NewIter(&pebble.IterOptions{LowerBound: allKey(from), UpperBound: []byte{prefixAll + 1}})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []events.RecordedEvent
	for ok := it.First(); ok; ok = it.Next() {
		r, err := DecodeRecord(it.Value())
		if err != nil {
			return nil, fmt.Errorf("read $all at %x: %w", it.Key(), err)
		}
		out = append(out, r)
		if max > 0 && len(out) >= max {
			break
		}
	}
	return out, it.Error()
}

func (e *pebbleEngine) Close() error {
	if e.pacer != nil {
		e.pacer.close()
	}
	return e.db.Close()
}

var _ io.Closer = (*pebbleEngine)(nil)
