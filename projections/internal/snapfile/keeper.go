package snapfile

import (
	"fmt"
	"path/filepath"
	"sync"
	"time"
)

// Header starts every snapshot: its format version and the checkpoint it
// was taken at. Embed it in a model's snapshot type; Keeper fills it in.
type Header struct {
	Version    int    `json:"version"`
	Checkpoint uint64 `json:"checkpoint"`
}

func (h *Header) header() *Header { return h }

// Snapshot is a model's snapshot document: a pointer to a struct that
// embeds Header.
type Snapshot interface{ header() *Header }

// version is the snapshot format every model writes and accepts.
const version = 1

// Options configures a Keeper.
type Options struct {
	// Name is the read model's name, for errors ("open runs read model").
	Name string
	// Dir keeps the snapshot file File; "" keeps no snapshot.
	Dir, File string
	// Every is the least time between snapshots written by Applied.
	Every time.Duration
	// Take returns the model's snapshot (Keeper sets its Header); it is
	// called with the lock held. Not needed without a Dir.
	Take func() Snapshot
}

// Keeper is what every read model with a checkpoint shares: the lock that
// guards the model, its checkpoint, whether it changed since its last
// snapshot, and when and where that snapshot is written. A model holds
// one as a field (not embedded, so that its methods do not join the
// model's API) and guards its own state with the Keeper's lock. The zero
// Keeper keeps no snapshot.
type Keeper struct {
	sync.RWMutex

	opts       Options
	path       string // "" without a Dir
	checkpoint uint64
	dirty      bool
	savedAt    time.Time
}

// Open sets k up and, with a Dir, loads the model's last snapshot into
// into; when there is one of the current version, it takes its checkpoint
// and calls loaded (which fills the model from into) and the model counts
// as unchanged. A missing or damaged snapshot is not an error: the model is
// rebuilt from the log. Open is called before the model is shared.
func (k *Keeper) Open(opts Options, into Snapshot, loaded func()) error {
	k.opts, k.savedAt = opts, time.Now()
	if opts.Dir == "" {
		return nil
	}
	k.path = filepath.Join(opts.Dir, opts.File)
	ok, err := Read(k.path, into)
	if err != nil {
		return fmt.Errorf("open %s read model: %w", opts.Name, err)
	}
	if !ok || into.header().Version != version {
		return nil
	}
	k.checkpoint = into.header().Checkpoint
	loaded()
	k.dirty = false
	return nil
}

// Checkpoint returns the checkpoint (it takes the read lock).
func (k *Keeper) Checkpoint() uint64 {
	k.RLock()
	defer k.RUnlock()
	return k.checkpoint
}

// Seen reports, with the lock held, whether the event at position pos is
// at or before the checkpoint. Position 0 (an event handed over directly,
// not read from the log) never is.
func (k *Keeper) Seen(pos uint64) bool { return pos != 0 && pos <= k.checkpoint }

// Changed marks the model changed, with the lock held, so that the next
// Save writes it.
func (k *Keeper) Changed() { k.dirty = true }

// Applied records, with the lock held, that the event at position pos was
// applied: the checkpoint moves up to pos, the model counts as changed,
// and the snapshot is written when the last one is older than Every.
func (k *Keeper) Applied(pos uint64) error {
	k.checkpoint = max(k.checkpoint, pos)
	k.dirty = true
	if k.path != "" && time.Since(k.savedAt) >= k.opts.Every {
		return k.saveLocked()
	}
	return nil
}

// Reset drops the model (clear is called with the lock held), its
// checkpoint and its snapshot file. It takes the lock.
func (k *Keeper) Reset(clear func()) error {
	k.Lock()
	clear()
	k.checkpoint = 0
	k.dirty = true
	k.Unlock()
	if k.path != "" {
		return Remove(k.path)
	}
	return nil
}

// Save writes the snapshot now if the model changed since the last one
// (no-op without a Dir). It takes the lock.
func (k *Keeper) Save() error {
	k.Lock()
	defer k.Unlock()
	return k.saveLocked()
}

func (k *Keeper) saveLocked() error {
	if k.path == "" || !k.dirty {
		return nil
	}
	s := k.opts.Take()
	*s.header() = Header{Version: version, Checkpoint: k.checkpoint}
	if err := Write(k.path, s); err != nil {
		return fmt.Errorf("snapshot %s read model: %w", k.opts.Name, err)
	}
	k.dirty, k.savedAt = false, time.Now()
	return nil
}
