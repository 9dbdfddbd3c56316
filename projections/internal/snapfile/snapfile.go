// Package snapfile writes and reads the snapshot files of in-memory read
// models: one JSON document per model, replaced atomically, so that a crash
// leaves the old snapshot or the new one and a restart replays only the log
// after the snapshot's checkpoint. Keeper is the part every read model
// shares around it: the model's lock, its checkpoint, and when the snapshot
// is written and removed. It imports the standard library only.
package snapfile

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Write replaces path with v encoded as JSON (write to a temporary file,
// fsync, rename).
func Write(path string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode snapshot %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write snapshot %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".snapshot-*.tmp")
	if err != nil {
		return fmt.Errorf("write snapshot %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write snapshot %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write snapshot %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write snapshot %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write snapshot %s: %w", path, err)
	}
	return nil
}

// Read decodes path into v. It reports false, with no error, when there is
// no snapshot or it cannot be decoded (a damaged snapshot is rebuilt from
// the log rather than failing the start).
func Read(path string, v any) (bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read snapshot %s: %w", path, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, nil
	}
	return true, nil
}

// Remove deletes the snapshot at path, if any.
func Remove(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove snapshot %s: %w", path, err)
	}
	return nil
}
