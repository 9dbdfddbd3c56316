package vectorindex

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
)

// The log is a header followed by frames: 4 bytes payload length and 4
// bytes CRC-32C of the payload (both little endian), then the payload, a
// JSON record.
const (
	logName     = "vectorindex.log"
	logHeader   = "GRIMOIRE-VECTORINDEX 1\n"
	frameHeader = 8
	// maxRecord bounds one record, so that a corrupt length cannot make
	// Open allocate gigabytes.
	maxRecord = 1 << 30
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// record is one logged change.
type record struct {
	Op     string `json:"op"` // "put" or "del"
	KB     string `json:"kb"`
	Tenant string `json:"tenant,omitempty"`
	// Dims is the knowledge base's vector size (put only; 0 if unknown yet).
	Dims int         `json:"dims,omitempty"`
	Docs []storedDoc `json:"docs,omitempty"`
	IDs  []string    `json:"ids,omitempty"`
}

// storedDoc is a document as logged. The vector travels as little-endian
// float32 bytes (base64 in JSON): exact, and half the size of decimal text.
type storedDoc struct {
	ID       string          `json:"id"`
	Text     string          `json:"text,omitempty"`
	Vector   []byte          `json:"vec"`
	Metadata json.RawMessage `json:"meta,omitempty"`
}

func encodeVector(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

func decodeVector(b []byte) ([]float32, error) {
	if len(b)%4 != 0 {
		return nil, fmt.Errorf("vector of %d bytes is not a whole number of float32", len(b))
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v, nil
}

// appendFrame encodes rec as one frame onto buf.
func appendFrame(buf []byte, rec *record) ([]byte, error) {
	payload, err := json.Marshal(rec)
	if err != nil {
		return buf, fmt.Errorf("encode %s record for knowledge base %q: %w", rec.Op, rec.KB, err)
	}
	if len(payload) > maxRecord {
		return buf, fmt.Errorf("%s record for knowledge base %q is %d bytes, over the %d limit: write fewer documents at once", rec.Op, rec.KB, len(payload), maxRecord)
	}
	var hdr [frameHeader]byte
	binary.LittleEndian.PutUint32(hdr[0:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(hdr[4:], crc32.Checksum(payload, castagnoli))
	buf = append(buf, hdr[:]...)
	return append(buf, payload...), nil
}

// replayLog reads every intact record of f, calling apply for each, and
// returns the offset just past the last intact one. A frame that runs past
// the end of the file, or a damaged last frame, is what a crash during a
// write leaves: the caller truncates it. Damage followed by more data is
// corruption and an error.
func replayLog(f *os.File, apply func(*record) error) (good int64, err error) {
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	r := bufio.NewReaderSize(f, 1<<20)
	hdr := make([]byte, len(logHeader))
	if _, err := io.ReadFull(r, hdr); err != nil {
		if size < int64(len(logHeader)) && string(hdr[:size]) == logHeader[:size] {
			return 0, nil // crashed while creating the file
		}
		return 0, fmt.Errorf("read header: %w", err)
	}
	if string(hdr) != logHeader {
		return 0, fmt.Errorf("not a vector index log (header %q)", hdr)
	}
	off := int64(len(logHeader))
	var fh [frameHeader]byte
	var payload []byte
	for {
		if off == size {
			return off, nil
		}
		if size-off < frameHeader {
			return off, nil // torn frame header
		}
		if _, err := io.ReadFull(r, fh[:]); err != nil {
			return off, fmt.Errorf("read frame at offset %d: %w", off, err)
		}
		n := int64(binary.LittleEndian.Uint32(fh[0:]))
		sum := binary.LittleEndian.Uint32(fh[4:])
		end := off + frameHeader + n
		if end > size || n > maxRecord {
			return off, nil // torn payload
		}
		if int64(cap(payload)) < n {
			payload = make([]byte, n)
		}
		payload = payload[:n]
		if _, err := io.ReadFull(r, payload); err != nil {
			return off, fmt.Errorf("read frame at offset %d: %w", off, err)
		}
		if crc32.Checksum(payload, castagnoli) != sum {
			if end == size {
				return off, nil // torn last frame
			}
			return off, fmt.Errorf("record at offset %d is damaged (checksum mismatch) and %d bytes follow it", off, size-end)
		}
		var rec record
		if err := json.Unmarshal(payload, &rec); err != nil {
			return off, fmt.Errorf("decode record at offset %d: %w", off, err)
		}
		if err := apply(&rec); err != nil {
			return off, fmt.Errorf("apply record at offset %d: %w", off, err)
		}
		off = end
	}
}

// syncDir makes a rename or a file creation in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}

// writeFileAtomic writes a whole new log next to path and renames it over
// path, so a crash leaves either the old log or the new one.
func writeFileAtomic(path string, frames []byte, sync bool) error {
	tmp := path + ".compact"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(frames); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if sync {
		if err := f.Sync(); err != nil {
			f.Close()
			os.Remove(tmp)
			return err
		}
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	if sync {
		return syncDir(filepath.Dir(path))
	}
	return nil
}
