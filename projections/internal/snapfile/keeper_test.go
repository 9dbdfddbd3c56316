package snapfile_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/projections/internal/snapfile"
)

type doc struct {
	snapfile.Header
	Items []string `json:"items"`
}

// model is the smallest read model on a Keeper.
type model struct {
	snap  snapfile.Keeper
	items []string
}

func open(t *testing.T, dir string, every time.Duration) *model {
	t.Helper()
	m := &model{}
	var d doc
	err := m.snap.Open(snapfile.Options{Name: "test", Dir: dir, File: "test.snapshot.json", Every: every,
		Take: func() snapfile.Snapshot { return &doc{Items: m.items} }}, &d, func() { m.items = d.Items })
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (m *model) handle(t *testing.T, pos uint64, item string) {
	t.Helper()
	m.snap.Lock()
	defer m.snap.Unlock()
	if m.snap.Seen(pos) {
		return
	}
	m.items = append(m.items, item)
	if err := m.snap.Applied(pos); err != nil {
		t.Fatal(err)
	}
}

func TestKeeperSnapshotsAndRestoresTheCheckpoint(t *testing.T) {
	tests := []struct {
		name      string
		every     time.Duration
		save      bool
		wantCP    uint64
		wantItems int
	}{
		{name: "saved explicitly", every: time.Hour, save: true, wantCP: 2, wantItems: 2},
		{name: "not saved, snapshot not due", every: time.Hour, wantCP: 0, wantItems: 0},
		{name: "snapshot due at every event", every: time.Nanosecond, wantCP: 2, wantItems: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			m := open(t, dir, tt.every)
			m.handle(t, 1, "a")
			m.handle(t, 2, "b")
			m.handle(t, 2, "b again") // at the checkpoint: ignored
			if got := len(m.items); got != 2 {
				t.Fatalf("items = %d, want 2 (an event at the checkpoint must change nothing)", got)
			}
			if tt.save {
				if err := m.snap.Save(); err != nil {
					t.Fatal(err)
				}
			}
			again := open(t, dir, tt.every)
			if got := again.snap.Checkpoint(); got != tt.wantCP {
				t.Errorf("checkpoint after reopen = %d, want %d", got, tt.wantCP)
			}
			if got := len(again.items); got != tt.wantItems {
				t.Errorf("items after reopen = %d, want %d", got, tt.wantItems)
			}
		})
	}
}

func TestKeeperRebuildsFromTheLogWhenTheSnapshotIsDamagedOrForeign(t *testing.T) {
	for name, content := range map[string]string{
		"damaged": `{"version":1,"checkpoint":`,
		"foreign": `{"version":2,"checkpoint":9,"items":["x"]}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "test.snapshot.json"), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			m := open(t, dir, time.Hour)
			if cp, n := m.snap.Checkpoint(), len(m.items); cp != 0 || n != 0 {
				t.Errorf("checkpoint %d, %d items; want 0, 0", cp, n)
			}
		})
	}
}

func TestKeeperResetDropsTheModelAndItsSnapshot(t *testing.T) {
	dir := t.TempDir()
	m := open(t, dir, time.Nanosecond)
	m.handle(t, 5, "a")
	if _, err := os.Stat(filepath.Join(dir, "test.snapshot.json")); err != nil {
		t.Fatalf("no snapshot written: %v", err)
	}
	if err := m.snap.Reset(func() { m.items = nil }); err != nil {
		t.Fatal(err)
	}
	if cp, n := m.snap.Checkpoint(), len(m.items); cp != 0 || n != 0 {
		t.Errorf("after Reset: checkpoint %d, %d items; want 0, 0", cp, n)
	}
	if _, err := os.Stat(filepath.Join(dir, "test.snapshot.json")); !os.IsNotExist(err) {
		t.Errorf("snapshot still there after Reset (err %v)", err)
	}
	m.handle(t, 1, "b") // positions start over after a reset
	if len(m.items) != 1 {
		t.Errorf("event after Reset not applied")
	}
}

func TestTheZeroKeeperKeepsNoSnapshot(t *testing.T) {
	var k snapfile.Keeper
	k.Lock()
	err := k.Applied(3)
	k.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Save(); err != nil {
		t.Fatal(err)
	}
	if got := k.Checkpoint(); got != 3 {
		t.Errorf("checkpoint = %d, want 3", got)
	}
}
