package figures

import (
	"testing"

	"github.com/grimoire-run/grimoire/events/embedded"
	"github.com/grimoire-run/grimoire/events/storetest"
)

// BenchmarkSubscriptionLag: storetest.MeasureSubscriptionLag on the
// embedded store, 64 writers paced at 10,000 events/s in all.
//
//	go test -run '^$' -bench SubscriptionLag -benchtime 50000x ./events/figures/
func BenchmarkSubscriptionLag(b *testing.B) {
	s, err := embedded.Open(embedded.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.MeasureSubscriptionLag(b, s, s, 10_000, 64)
}
