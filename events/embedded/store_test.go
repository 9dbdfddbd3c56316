package embedded_test

import (
	"testing"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/events/embedded"
	"github.com/grimoire-run/grimoire/events/storetest"
)

func openStore(t testing.TB, dir string) *embedded.Store {
	t.Helper()
	s, err := embedded.Open(embedded.Options{Dir: dir, MaxEventSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestContract(t *testing.T) {
	storetest.RunWithOptions(t, storetest.Options{MaxEventSize: 1 << 20}, func(t *testing.T) events.Store {
		return openStore(t, t.TempDir())
	})
}
