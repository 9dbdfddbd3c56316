package nodes_test

import (
	"os"
	"testing"

	"github.com/grimoire-run/grimoire/services/sandbox"
)

// TestMain lets the code sandbox start this test binary as its worker
// processes.
func TestMain(m *testing.M) {
	sandbox.ExitIfWorker()
	os.Exit(m.Run())
}
