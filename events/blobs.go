package events

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// BlobStore holds large event data by content (SHA-256).
type BlobStore interface {
	// Put stores data and returns its reference; the blob is durable when
	// Put returns. Storing the same content twice stores it once.
	Put(ctx context.Context, data []byte) (BlobRef, error)
	// Get returns the blob's content; a missing blob is ErrBlobNotFound,
	// content that does not match its hash is an error.
	Get(ctx context.Context, ref BlobRef) ([]byte, error)
}

// BlobRef names a blob.
type BlobRef struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// ErrBlobNotFound is returned by BlobStore.Get for an unknown blob.
var ErrBlobNotFound = errors.New("blob not found")

// FileBlobStore keeps blobs as files under a directory: DIR/ab/abcdef…
// (the hex SHA-256, fanned out by its first byte).
type FileBlobStore struct {
	dir string
}

// NewFileBlobStore opens (creating if needed) a blob directory, by
// convention DATA/blobs.
func NewFileBlobStore(dir string) (*FileBlobStore, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open blob store: %w", err)
	}
	return &FileBlobStore{dir: dir}, nil
}

func (b *FileBlobStore) path(sum string) string {
	return filepath.Join(b.dir, sum[:2], sum)
}

func validSum(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// Put implements BlobStore: it writes a temporary file, syncs it, renames
// it into place and syncs the directory, so that an event that refers to
// the blob is never durable before the blob.
func (b *FileBlobStore) Put(ctx context.Context, data []byte) (BlobRef, error) {
	if err := ctx.Err(); err != nil {
		return BlobRef{}, err
	}
	h := sha256.Sum256(data)
	ref := BlobRef{SHA256: hex.EncodeToString(h[:]), Size: int64(len(data))}
	final := b.path(ref.SHA256)
	if st, err := os.Stat(final); err == nil && st.Size() == ref.Size {
		return ref, nil
	}
	sub := filepath.Dir(final)
	if err := os.MkdirAll(sub, 0o755); err != nil {
		return BlobRef{}, fmt.Errorf("put blob %s: %w", ref.SHA256, err)
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(sub, ".tmp-"+hex.EncodeToString(rnd[:]))
	if err := writeSynced(tmp, data); err != nil {
		os.Remove(tmp)
		return BlobRef{}, fmt.Errorf("put blob %s: %w", ref.SHA256, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return BlobRef{}, fmt.Errorf("put blob %s: %w", ref.SHA256, err)
	}
	for _, d := range []string{sub, b.dir} {
		if err := syncDir(d); err != nil {
			return BlobRef{}, fmt.Errorf("put blob %s: sync %s: %w", ref.SHA256, d, err)
		}
	}
	return ref, nil
}

func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Get implements BlobStore.
func (b *FileBlobStore) Get(ctx context.Context, ref BlobRef) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !validSum(ref.SHA256) {
		return nil, fmt.Errorf("get blob %q: not a SHA-256: %w", ref.SHA256, ErrBlobNotFound)
	}
	data, err := os.ReadFile(b.path(ref.SHA256))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("get blob %s: %w (was the data directory's blobs folder copied?)", ref.SHA256, ErrBlobNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get blob %s: %w", ref.SHA256, err)
	}
	if h := sha256.Sum256(data); hex.EncodeToString(h[:]) != ref.SHA256 {
		return nil, fmt.Errorf("get blob %s: content does not match its hash (corrupt file %s)", ref.SHA256, b.path(ref.SHA256))
	}
	return data, nil
}

// DefaultBlobThreshold is the event data size above which WithBlobs
// stores the data as a blob.
const DefaultBlobThreshold = 256 << 10

// BlobOptions configure WithBlobs.
type BlobOptions struct {
	// Threshold: event data longer than this is offloaded. Default
	// DefaultBlobThreshold.
	Threshold int
}

// blobKey marks event data that was replaced by a blob reference:
// {"$grimoireBlob":{"sha256":"…","size":N}}.
const blobKey = "$grimoireBlob"

var blobPrefix = []byte(`{"` + blobKey + `":`)

type blobEnvelope struct {
	Blob *BlobRef `json:"$grimoireBlob"`
}

// WithBlobs wraps any Store so that event data above the threshold is
// written to blobs first and the log holds only a reference; reads and
// subscriptions resolve references transparently. This keeps large node
// outputs out of the log (EventStoreDB refuses appends over 1 MiB).
func WithBlobs(s Store, blobs BlobStore, opts BlobOptions) Store {
	if opts.Threshold <= 0 {
		opts.Threshold = DefaultBlobThreshold
	}
	return &blobbedStore{inner: s, blobs: blobs, threshold: opts.Threshold}
}

type blobbedStore struct {
	inner     Store
	blobs     BlobStore
	threshold int
}

// BlobRefOf reports whether recorded data is a blob reference (as stored
// by WithBlobs) and returns it. Readers of the raw log use it.
func BlobRefOf(data []byte) (BlobRef, bool) {
	if !bytes.HasPrefix(data, blobPrefix) {
		return BlobRef{}, false
	}
	var env blobEnvelope
	if err := json.Unmarshal(data, &env); err != nil || env.Blob == nil || !validSum(env.Blob.SHA256) {
		return BlobRef{}, false
	}
	return *env.Blob, true
}

func (b *blobbedStore) Append(ctx context.Context, stream string, expected ExpectedRevision, evs ...EventData) (AppendResult, error) {
	out := evs
	copied := false
	for i, ev := range evs {
		if len(ev.Data) <= b.threshold {
			continue
		}
		ref, err := b.blobs.Put(ctx, ev.Data)
		if err != nil {
			return AppendResult{}, fmt.Errorf("append to %q: offload event %d (%d bytes): %w", stream, i, len(ev.Data), err)
		}
		data, _ := json.Marshal(blobEnvelope{Blob: &ref})
		if !copied {
			out = append([]EventData(nil), evs...)
			copied = true
		}
		// An event without an ID gets one derived from the reference,
		// which is as deterministic as the content it stands for.
		out[i].Data = data
	}
	res, err := b.inner.Append(ctx, stream, expected, out...)
	if copied && len(res.Recorded) == len(evs) {
		// The caller gets its events back as it wrote them, not the
		// references the log holds.
		recs := slices.Clone(res.Recorded)
		for i := range recs {
			if len(evs[i].Data) > b.threshold {
				recs[i].Data = evs[i].Data
			}
		}
		res.Recorded = recs
	}
	return res, err
}

func (b *blobbedStore) resolve(ctx context.Context, e *RecordedEvent) error {
	ref, ok := BlobRefOf(e.Data)
	if !ok {
		return nil
	}
	data, err := b.blobs.Get(ctx, ref)
	if err != nil {
		return fmt.Errorf("resolve data of %s@%d: %w", e.Stream, e.Revision, err)
	}
	e.Data = data
	return nil
}

func (b *blobbedStore) resolveAll(ctx context.Context, es []RecordedEvent) ([]RecordedEvent, error) {
	for i := range es {
		if err := b.resolve(ctx, &es[i]); err != nil {
			return nil, err
		}
	}
	return es, nil
}

func (b *blobbedStore) ReadStream(ctx context.Context, stream string, from uint64, dir Direction, max int) ([]RecordedEvent, error) {
	es, err := b.inner.ReadStream(ctx, stream, from, dir, max)
	if err != nil {
		return nil, err
	}
	return b.resolveAll(ctx, es)
}

func (b *blobbedStore) ReadAll(ctx context.Context, from uint64, max int) ([]RecordedEvent, error) {
	es, err := b.inner.ReadAll(ctx, from, max)
	if err != nil {
		return nil, err
	}
	return b.resolveAll(ctx, es)
}

func (b *blobbedStore) Subscribe(ctx context.Context, opts SubscribeOptions) (Subscription, error) {
	sub, err := b.inner.Subscribe(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &blobbedSubscription{Subscription: sub, b: b}, nil
}

func (b *blobbedStore) Close() error { return b.inner.Close() }

// Prune forwards to the wrapped store's Prune (the retention policy,
// docs/retention.md). Blobs the pruned events referred to stay: they are
// content-addressed and may be shared.
func (b *blobbedStore) Prune(ctx context.Context, stream string, revisions []uint64) (int, error) {
	p, ok := b.inner.(interface {
		Prune(context.Context, string, []uint64) (int, error)
	})
	if !ok {
		return 0, fmt.Errorf("prune stream %q: %T cannot delete events", stream, b.inner)
	}
	return p.Prune(ctx, stream, revisions)
}

type blobbedSubscription struct {
	Subscription
	b *blobbedStore
}

func (s *blobbedSubscription) Next(ctx context.Context) (RecordedEvent, error) {
	e, err := s.Subscription.Next(ctx)
	if err != nil {
		return e, err
	}
	if err := s.b.resolve(ctx, &e); err != nil {
		return RecordedEvent{}, err
	}
	return e, nil
}
