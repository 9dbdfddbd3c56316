package embedded_test

import (
	"fmt"
	"testing"

	"github.com/grimoire-run/grimoire/events/embedded"
	"github.com/grimoire-run/grimoire/events/storetest"
)

// BenchmarkEmbeddedAppend is the published append figure: durable 1 KiB
// events, one event per Append, each writer on its own run stream with
// exact expected revisions, default options.
//
//	go test -run '^$' -bench EmbeddedAppend -benchtime 100000x ./events/embedded/
func BenchmarkEmbeddedAppend(b *testing.B) {
	for _, writers := range []int{1, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s, err := embedded.Open(embedded.Options{Dir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			storetest.MeasureAppends(b, writers, 1024, storetest.StoreAppender(s, "run-bench-"))
		})
	}
}
