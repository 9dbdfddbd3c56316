package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/services/postgres"
)

// Blobs returns the store's blob store: the blobs table beside the log, so
// that every process sharing the log shares its blobs too. Wrap the store
// with events.WithBlobs(s, s.Blobs(), …).
func (s *Store) Blobs() events.BlobStore { return blobStore{s} }

type blobStore struct{ s *Store }

// Put implements events.BlobStore; the blob is committed (durable) when Put
// returns, before any event that refers to it is appended.
func (b blobStore) Put(ctx context.Context, data []byte) (events.BlobRef, error) {
	h := sha256.Sum256(data)
	ref := events.BlobRef{SHA256: hex.EncodeToString(h[:]), Size: int64(len(data))}
	if data == nil {
		data = []byte{}
	}
	if _, err := b.s.db.Exec(ctx, `INSERT INTO `+b.s.blobs+` (sha256, size, data) VALUES ($1, $2, $3) ON CONFLICT (sha256) DO NOTHING`,
		ref.SHA256, ref.Size, data); err != nil {
		return events.BlobRef{}, fmt.Errorf("put blob %s: %w", ref.SHA256, err)
	}
	return ref, nil
}

// Get implements events.BlobStore.
func (b blobStore) Get(ctx context.Context, ref events.BlobRef) ([]byte, error) {
	var data []byte
	err := b.s.db.QueryRow(ctx, `SELECT data FROM `+b.s.blobs+` WHERE sha256 = $1`, ref.SHA256).Scan(&data)
	if errors.Is(err, postgres.ErrNoRows) {
		return nil, fmt.Errorf("get blob %s: %w (table %s)", ref.SHA256, events.ErrBlobNotFound, b.s.blobs)
	}
	if err != nil {
		return nil, fmt.Errorf("get blob %s: %w", ref.SHA256, err)
	}
	if h := sha256.Sum256(data); hex.EncodeToString(h[:]) != ref.SHA256 {
		return nil, fmt.Errorf("get blob %s: content does not match its hash", ref.SHA256)
	}
	return data, nil
}
