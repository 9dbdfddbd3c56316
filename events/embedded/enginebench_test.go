package embedded

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/grimoire-run/grimoire/events/storetest"
)

// BenchmarkEngineAppend compares the storage engines under the same Store
// (same group commit): Pebble syncing its own WAL, and the segment log
// with Pebble as an unsynced index. bbolt is measured in
// events/embedded/enginecompare.
func BenchmarkEngineAppend(b *testing.B) {
	engines := []struct {
		name string
		open func(dir string) (Engine, error)
	}{
		{"pebble", func(dir string) (Engine, error) { return OpenPebble(dir, DefaultBackgroundWriteRate) }},
		{"segmentlog+pebble", func(dir string) (Engine, error) { return openWAL(dir, 0) }},
	}
	for _, eng := range engines {
		for _, writers := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/writers=%d", eng.name, writers), func(b *testing.B) {
				e, err := eng.open(filepath.Join(b.TempDir(), "log"))
				if err != nil {
					b.Fatal(err)
				}
				s, err := Open(Options{Engine: e})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				storetest.MeasureAppends(b, writers, 1024, storetest.StoreAppender(s, "run-bench-"))
			})
		}
	}
}
