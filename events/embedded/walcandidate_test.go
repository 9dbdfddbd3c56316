package embedded

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/cockroachdb/pebble"

	"github.com/grimoire-run/grimoire/events"
)

// The segment-log engine below was measured against Pebble for
// docs/decisions/0001-embedded-event-store.md and lost (it is no faster on
// this hardware and is more code to trust), so it lives in test code only,
// to keep the comparison reproducible: BenchmarkEngineAppend.
//
// walEngine makes commits durable in its own segment log and keeps Pebble
// (with Pebble's WAL off) as the index that serves reads.
//
// Why: an fsync of a file that grows costs this machine's ext4 about twice
// an fdatasync of blocks already written. Segments are written in full
// (zeros, or a recycled old segment) before they are used, so a commit is
// one pwrite and one fdatasync. Pebble's memtable takes the same records
// unsynced; on open the log's records beyond Pebble's last durable
// position are applied again, then Pebble is flushed and the old segments
// go.
//
// Segment file: frames of [length u32][crc32c u32][payload]; a payload is
// one commit: uvarint count, then uvarint-prefixed records. A frame whose
// CRC fails, whose length is 0, or whose first position is not the next
// one expected is the end of the log (a torn write, zeros, or stale data
// of a recycled segment).
type walEngine struct {
	dir     string
	segSize int64
	*pebbleEngine

	// Writer state (Commit is called from one goroutine).
	seg     *os.File
	segOff  int64
	segNext uint64 // next position to write
	buf     []byte

	// Background: prepares the next segment, flushes Pebble and recycles
	// old segments.
	spare    chan *os.File
	rotated  chan struct{}
	stop     chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	recycled []string // old segment files ready for reuse
	bgErr    error
}

const (
	walSuffix    = ".wal"
	frameHeader  = 8
	prepName     = "prepared.tmp"
	maxRecycled  = 2
	defaultSegMB = 64
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// openWAL opens the segment-log engine in dir (Pebble index in dir/index,
// segments in dir/wal). segSize 0 means 64 MiB.
func openWAL(dir string, segSize int64) (Engine, error) {
	if segSize <= 0 {
		segSize = defaultSegMB << 20
	}
	walDir := filepath.Join(dir, "wal")
	if err := os.MkdirAll(walDir, 0o755); err != nil {
		return nil, fmt.Errorf("open event log: %w", err)
	}
	db, err := pebble.Open(filepath.Join(dir, "index"), &pebble.Options{
		Logger:       quietLogger{},
		DisableWAL:   true,
		MemTableSize: 32 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("open event index: %w", err)
	}
	e := &walEngine{
		dir:          walDir,
		segSize:      segSize,
		pebbleEngine: &pebbleEngine{db: db, sync: pebble.NoSync},
		spare:        make(chan *os.File),
		rotated:      make(chan struct{}, 1),
		stop:         make(chan struct{}),
	}
	if err := e.recover(); err != nil {
		db.Close()
		return nil, err
	}
	e.wg.Add(2)
	go e.prepareLoop()
	go e.cleanLoop()
	if err := e.rotate(); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

type segment struct {
	first uint64
	path  string
}

func (e *walEngine) segments() ([]segment, error) {
	ents, err := os.ReadDir(e.dir)
	if err != nil {
		return nil, err
	}
	var segs []segment
	for _, d := range ents {
		name := d.Name()
		if strings.HasPrefix(name, prepName) || strings.HasSuffix(name, ".recycle") {
			// Left by a process that stopped while preparing a segment.
			os.Remove(filepath.Join(e.dir, name))
			continue
		}
		if !strings.HasSuffix(name, walSuffix) {
			continue
		}
		first, err := strconv.ParseUint(strings.TrimSuffix(name, walSuffix), 10, 64)
		if err != nil {
			continue
		}
		segs = append(segs, segment{first: first, path: filepath.Join(e.dir, name)})
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].first < segs[j].first })
	return segs, nil
}

// recover replays segments into the index past its last durable
// position, flushes the index and removes the replayed segments.
func (e *walEngine) recover() error {
	last, err := e.pebbleEngine.LastPosition()
	if err != nil {
		return fmt.Errorf("recover event log: %w", err)
	}
	segs, err := e.segments()
	if err != nil {
		return fmt.Errorf("recover event log: %w", err)
	}
	next := last + 1
	for _, s := range segs {
		data, err := os.ReadFile(s.path)
		if err != nil {
			return fmt.Errorf("recover event log: %w", err)
		}
		for off := 0; ; {
			recs, n, ok := decodeFrame(data[off:])
			if !ok {
				break
			}
			off += n
			if recs[len(recs)-1].Position < next {
				continue // already in the index
			}
			if recs[0].Position != next {
				if recs[0].Position < next {
					break // stale frame of a recycled segment
				}
				return fmt.Errorf("recover event log: %s: positions jump from %d to %d (segment missing?)", s.path, next-1, recs[0].Position)
			}
			if err := e.pebbleEngine.Commit(recs); err != nil {
				return fmt.Errorf("recover event log: index: %w", err)
			}
			next = recs[len(recs)-1].Position + 1
		}
	}
	if err := e.db.Flush(); err != nil {
		return fmt.Errorf("recover event log: flush index: %w", err)
	}
	for _, s := range segs {
		e.recycle(s.path)
	}
	e.segNext = next
	return nil
}

func decodeFrame(b []byte) ([]events.RecordedEvent, int, bool) {
	if len(b) < frameHeader {
		return nil, 0, false
	}
	n := binary.LittleEndian.Uint32(b)
	if n == 0 || int64(n) > int64(len(b)-frameHeader) {
		return nil, 0, false
	}
	payload := b[frameHeader : frameHeader+int(n)]
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return nil, 0, false
	}
	count, k := binary.Uvarint(payload)
	if k <= 0 || count == 0 {
		return nil, 0, false
	}
	payload = payload[k:]
	recs := make([]events.RecordedEvent, 0, count)
	for range count {
		l, k := binary.Uvarint(payload)
		if k <= 0 || l > uint64(len(payload)-k) {
			return nil, 0, false
		}
		r, err := DecodeRecord(payload[k : k+int(l)])
		if err != nil {
			return nil, 0, false
		}
		recs = append(recs, r)
		payload = payload[k+int(l):]
	}
	return recs, frameHeader + int(n), true
}

// recycle keeps an old segment for reuse as a future one, or removes it.
func (e *walEngine) recycle(path string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.recycled) < maxRecycled {
		tmp := path + ".recycle"
		if os.Rename(path, tmp) == nil {
			e.recycled = append(e.recycled, tmp)
			return
		}
	}
	os.Remove(path)
}

// prepareLoop keeps one fully written segment ready.
func (e *walEngine) prepareLoop() {
	defer e.wg.Done()
	for i := 0; ; i++ {
		f, err := e.prepare(i)
		if err != nil {
			e.mu.Lock()
			e.bgErr = err
			e.mu.Unlock()
			f = nil
		}
		select {
		case e.spare <- f:
		case <-e.stop:
			if f != nil {
				f.Close()
				os.Remove(f.Name())
			}
			return
		}
		if f == nil {
			return
		}
	}
}

func (e *walEngine) prepare(i int) (*os.File, error) {
	name := filepath.Join(e.dir, prepName+strconv.Itoa(i))
	e.mu.Lock()
	var old string
	if len(e.recycled) > 0 {
		old = e.recycled[0]
		e.recycled = e.recycled[1:]
	}
	e.mu.Unlock()
	if old != "" {
		if st, err := os.Stat(old); err == nil && st.Size() >= e.segSize && os.Rename(old, name) == nil {
			return os.OpenFile(name, os.O_RDWR, 0)
		}
		os.Remove(old)
	}
	f, err := os.OpenFile(name, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("prepare log segment: %w", err)
	}
	zeros := make([]byte, 1<<20)
	for off := int64(0); off < e.segSize; off += int64(len(zeros)) {
		if _, err := f.Write(zeros[:min(int64(len(zeros)), e.segSize-off)]); err != nil {
			f.Close()
			return nil, fmt.Errorf("prepare log segment: %w", err)
		}
		select {
		case <-e.stop:
			f.Close()
			os.Remove(name)
			return nil, errors.New("closing")
		default:
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("prepare log segment: %w", err)
	}
	return f, nil
}

// rotate makes a prepared segment the current one, named after the next
// position it will hold.
func (e *walEngine) rotate() error {
	f := <-e.spare
	if f == nil {
		e.mu.Lock()
		err := e.bgErr
		e.mu.Unlock()
		return fmt.Errorf("rotate log segment: %w", err)
	}
	// A prepared file may hold an old segment's frames: clear the first
	// header so a crash before the first commit reads as empty.
	if _, err := f.WriteAt(make([]byte, frameHeader), 0); err != nil {
		f.Close()
		return fmt.Errorf("rotate log segment: %w", err)
	}
	name := filepath.Join(e.dir, fmt.Sprintf("%020d%s", e.segNext, walSuffix))
	if err := os.Rename(f.Name(), name); err != nil {
		f.Close()
		return fmt.Errorf("rotate log segment: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("rotate log segment: %w", err)
	}
	if err := syncDir(e.dir); err != nil {
		return fmt.Errorf("rotate log segment: %w", err)
	}
	if e.seg != nil {
		e.seg.Close()
		select {
		case e.rotated <- struct{}{}:
		default:
		}
	}
	e.seg, e.segOff = f, 0
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// cleanLoop, after each rotation, flushes the index and recycles segments
// whose every record the index now holds durably.
func (e *walEngine) cleanLoop() {
	defer e.wg.Done()
	for {
		select {
		case <-e.stop:
			return
		case <-e.rotated:
		}
		segs, err := e.segments()
		if err != nil || len(segs) < 2 {
			continue
		}
		// Everything committed before Flush starts is durable after it.
		if err := e.db.Flush(); err != nil {
			continue
		}
		current := segs[len(segs)-1]
		for _, s := range segs[:len(segs)-1] {
			if s.first < current.first {
				e.recycle(s.path)
			}
		}
	}
}

func (e *walEngine) Commit(recs []events.RecordedEvent) error {
	b := append(e.buf[:0], make([]byte, frameHeader)...)
	b = binary.AppendUvarint(b, uint64(len(recs)))
	var rec []byte
	for i := range recs {
		rec = EncodeRecord(rec[:0], &recs[i])
		b = binary.AppendUvarint(b, uint64(len(rec)))
		b = append(b, rec...)
	}
	payload := b[frameHeader:]
	binary.LittleEndian.PutUint32(b, uint32(len(payload)))
	binary.LittleEndian.PutUint32(b[4:], crc32.Checksum(payload, castagnoli))
	e.buf = b
	if int64(len(b)) > e.segSize {
		return fmt.Errorf("commit of %d bytes exceeds the log segment size %d", len(b), e.segSize)
	}
	if e.segOff+int64(len(b)) > e.segSize {
		e.segNext = recs[0].Position
		if err := e.rotate(); err != nil {
			return err
		}
	}
	if _, err := e.seg.WriteAt(b, e.segOff); err != nil {
		return fmt.Errorf("write log: %w", err)
	}
	if err := syscall.Fdatasync(int(e.seg.Fd())); err != nil {
		return fmt.Errorf("sync log: %w", err)
	}
	e.segOff += int64(len(b))
	e.segNext = recs[len(recs)-1].Position + 1
	return e.pebbleEngine.Commit(recs)
}

func (e *walEngine) Close() error {
	select {
	case <-e.stop:
		return nil
	default:
	}
	close(e.stop)
	e.wg.Wait()
	var errs []error
	if e.seg != nil {
		errs = append(errs, e.seg.Close())
	}
	errs = append(errs, e.db.Close())
	return errors.Join(errs...)
}

var _ io.Closer = (*walEngine)(nil)
