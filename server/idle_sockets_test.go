package server_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/internal/benchstat"
	"github.com/grimoire-run/grimoire/server"
	"github.com/grimoire-run/grimoire/server/socket"
	"github.com/grimoire-run/grimoire/server/socket/sockettest"
)

// TestIdleSocketsKeepTheirMemory holds 2,000 idle sockets (half of each
// client generation, two Node processes) for 60 s and fails if the server's
// heap and goroutine stacks per socket grew by more than 10 % meanwhile:
// a socket that does nothing but answer pings must not cost more the longer
// it is held (issue 19). GRIMOIRE_IDLE_SOCKETS and GRIMOIRE_IDLE_SECONDS
// change the sizes.
//
// The sockets ping every 10 s (6 heartbeats each in the minute; faster
// pings drop clients of this loaded machine and leave more ping state in
// flight at each measurement), and the memory it starts from is measured
// after the first ping: under -race, goroutine stacks grow once then (~4
// KiB per socket), to what a ping's call chain needs: a working size
// reached, not growth over time.
func TestIdleSocketsKeepTheirMemory(t *testing.T) {
	n := benchstat.EnvInt("GRIMOIRE_IDLE_SOCKETS", 2000)
	hold := time.Duration(benchstat.EnvInt("GRIMOIRE_IDLE_SECONDS", 60)) * time.Second
	const ping = 10 * time.Second
	e := newEnv(t, envOptions{
		Socket: socket.Options{PingInterval: ping, PingTimeout: 30 * time.Second},
		Limits: server.Limits{MaxConnsPerAddr: connsForSockets(n)},
	})
	clients := []*sockettest.Clients{sockettest.Start(t), sockettest.Start(t)}
	base, _ := serverMemory()
	_, took := holdSockets(t, e, clients, n, "idle")
	connected, _ := serverMemory()
	time.Sleep(ping + ping/2)
	settled, _ := serverMemory()
	t.Logf("%d sockets connected in %v: %.1f KiB per socket, %.1f KiB after the first ping", n, took, perSocketKiB(connected, base, n), perSocketKiB(settled, base, n))
	allocated := totalAlloc()
	start := time.Now()
	for time.Since(start) < hold {
		time.Sleep(min(10*time.Second, hold-time.Since(start)))
		m, g := serverMemory()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		t.Logf("after %3.0f s: %.1f KiB per socket, %d goroutines (heap %.1f MiB, stacks %.1f MiB)", time.Since(start).Seconds(), perSocketKiB(m, base, n), g, float64(ms.HeapAlloc)/(1<<20), float64(ms.StackInuse)/(1<<20))
	}
	// Not a failure: what idle sockets allocate and drop is what raises a
	// process's RSS between collections.
	t.Logf("allocated while idle: %.0f bytes per socket per second", float64(totalAlloc()-allocated)/float64(n)/time.Since(start).Seconds())
	// A few sockets of a loaded machine miss their ping deadline (issue
	// 19 records it); memory is then per socket still held. More than 1 %
	// gone would leave nothing worth measuring.
	held := int(mustMetric(t, e, "grimoire_sockets"))
	if held != n {
		t.Logf("the server holds %d sockets after %v, of %d: %d idle sockets were dropped", held, hold, n, n-held)
	}
	if held < n*99/100 {
		t.Fatalf("the server holds %d sockets after %v, want %d: idle sockets were dropped", held, hold, n)
	}
	after, _ := serverMemory()
	before, now := perSocketKiB(settled, base, n), perSocketKiB(after, base, held)
	if now > 1.10*before {
		t.Errorf("an idle socket's server memory grew from %.1f KiB to %.1f KiB (+%.0f %%) in %v; at most +10 %%", before, now, 100*(now/before-1), hold)
	}
}

func totalAlloc() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}

func perSocketKiB(mem, base uint64, n int) float64 {
	return (float64(mem) - float64(base)) / float64(n) / 1024
}
