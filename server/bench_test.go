package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/grimoire-run/grimoire/internal/benchstat"
	"github.com/grimoire-run/grimoire/internal/gcpace"
	"net/http"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/grimoire-run/grimoire/server"
	"github.com/grimoire-run/grimoire/server/socket/sockettest"
)

// Benchmarks behind the server's figures (docs/benchmarks.md). Each runs
// one fixed scenario whatever b.N is (run them with -benchtime 1x) and
// reports its figures with b.ReportMetric. Sizes may be lowered with
// environment variables on a small machine:
//
//	GRIMOIRE_BENCH_SOCKETS   sockets held by BenchmarkSocketsHeld and,
//	                         100 of them active, BenchmarkEventLatency (5000)
//	GRIMOIRE_BENCH_EVENTS    events/s offered by BenchmarkEventLatency (5000)
//	GRIMOIRE_BENCH_RPS       requests/s offered by BenchmarkRESTSyncRun (500)
//	GRIMOIRE_BENCH_SECONDS   how long the load runs (10)

// serverMemory is the Go heap in use plus goroutine stacks, after a GC.
func serverMemory() (bytes uint64, goroutines int) {
	runtime.GC()
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc + m.StackInuse, runtime.NumGoroutine()
}

// BenchmarkSocketsHeld connects GRIMOIRE_BENCH_SOCKETS authenticated sockets
// (half socket.io-client 2.5.0 over websocket, half 4.x), each its own user,
// holds them, and reports the server's memory and goroutines per socket. The
// clients live in two Node processes, one per generation.
func BenchmarkSocketsHeld(b *testing.B) {
	n := benchstat.EnvInt("GRIMOIRE_BENCH_SOCKETS", 5000)
	e := newEnv(b, envOptions{Limits: server.Limits{MaxConnsPerAddr: connsForSockets(n)}})
	clients := []*sockettest.Clients{sockettest.Start(b), sockettest.Start(b)}
	baseMem, baseG := serverMemory()
	b.ResetTimer()
	ids, connectTime := holdSockets(b, e, clients, n, "s")
	b.StopTimer()
	// Every socket is usable: a sample answers a request.
	for i := 0; i < n; i += max(1, n/20) {
		if a := request(b, clients[i%2], ids[i], "spell:load", map[string]any{"spellId": "demo"}); !a.OK {
			b.Fatalf("socket %d: %+v", i, a.Error)
		}
	}
	time.Sleep(time.Second)
	mem, g := serverMemory()
	held := int(mustMetric(b, e, "grimoire_sockets"))
	if held != n {
		b.Fatalf("the server holds %d sockets, want %d", held, n)
	}
	perSocket := float64(mem-baseMem) / float64(n)
	b.ReportMetric(float64(n), "sockets")
	b.ReportMetric(perSocket/1024, "KiB/socket")
	b.ReportMetric(float64(g-baseG)/float64(n), "goroutines/socket")
	b.ReportMetric(connectTime.Seconds(), "s-to-connect-all")
	b.ReportMetric(0, "ns/op")
	b.Logf("%d sockets held: server heap+stacks %.1f MiB (+%.1f MiB, %.1f KiB/socket), %d goroutines (+%d), connected in %v",
		n, float64(mem)/(1<<20), float64(mem-baseMem)/(1<<20), perSocket/1024, g, g-baseG, connectTime)
}

// connsForSockets is the per-address connection limit for n sockets from
// the harness's one loopback address: a 4.x client's polling connections
// outlive its upgrade to websocket (until the keep-alive idle timeout).
func connsForSockets(n int) int { return max(2048, 3*n) }

// holdSockets connects n sockets, alternately socket.io-client 2.5.0 over
// websocket (on clients[0]) and 4.x (on clients[1]), each its own user, in
// batches, and waits until all are connected. Socket i is ids[i] on
// clients[i%2].
func holdSockets(t testing.TB, e *env, clients []*sockettest.Clients, n int, prefix string) (ids []string, took time.Duration) {
	t.Helper()
	ids = make([]string, n)
	tokens := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprint(prefix, i)
		tokens[i] = token(t, "u-"+ids[i])
	}
	opts := func(i int) sockettest.ConnectOptions {
		gen, tr := 2, []string{"websocket"}
		if i%2 == 1 {
			gen, tr = 4, nil
		}
		return sockettest.ConnectOptions{ID: ids[i], Generation: gen, URL: e.URL, Token: tokens[i], Transports: tr, Quiet: true}
	}
	start := time.Now()
	const batch = 250
	for lo := 0; lo < n; lo += batch {
		hi := min(n, lo+batch)
		for i := lo; i < hi; i++ {
			clients[i%2].Connect(opts(i))
		}
		for i := lo; i < hi; i++ {
			for attempt := 1; ; attempt++ {
				ev, err := clients[i%2].WaitConnected(ids[i], 60*time.Second)
				if err == nil && ev.Type == "connect" {
					break
				}
				// A connection broken under load (no refusal code) is
				// tried again, visibly; a refusal is a failure.
				if err == nil && ev.Type == "connect_error" && ev.Error != nil && ev.Error.Code() == "" && attempt < 3 {
					t.Logf("socket %d of %d: connect_error %q (%s), attempt %d: connecting it again", i, n, ev.Error.Message, ev.Error.Body, attempt)
					clients[i%2].Connect(opts(i))
					continue
				}
				if ev.Error != nil {
					t.Fatalf("socket %d of %d: connect_error %+v", i, n, *ev.Error)
				}
				t.Fatalf("socket %d of %d: %+v %v", i, n, ev, err)
			}
		}
	}
	return ids, time.Since(start)
}

// processCPU is the user and system CPU time this process used so far.
func processCPU(t testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// mustMetric reads one unlabelled value from /metrics.
func mustMetric(b testing.TB, e *env, name string) float64 {
	b.Helper()
	_, body := e.do("GET", "/metrics", "", "")
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				b.Fatal(err)
			}
			return f
		}
	}
	b.Fatalf("metric %s not in /metrics", name)
	return 0
}

// chainSpell is n Text Template nodes in a row between the trigger and the
// output: each run makes 2n+5 events (run:start, node:start and node:end of
// each node and of the trigger and output nodes, run:completed).
func chainSpell(id string, n int) json.RawMessage {
	nodes := []any{map[string]any{"id": "start", "type": "Module Trigger In", "config": map[string]any{"name": "start"}}}
	edges := []any{}
	prev := "start"
	for i := 1; i <= n; i++ {
		id := fmt.Sprint("t", i)
		node := map[string]any{"id": id, "type": "Text Template", "config": map[string]any{"template": "step " + strconv.Itoa(i)}}
		if i > 1 {
			node["config"] = map[string]any{"template": "{{text}}."}
			node["inputs"] = []any{map[string]any{"key": "text", "kind": "data", "type": "string"}}
			edges = append(edges, map[string]any{"from": prev + ".output", "to": id + ".text"})
		}
		nodes = append(nodes, node)
		edges = append(edges, map[string]any{"from": prev + ".trigger", "to": id + ".trigger"})
		prev = id
	}
	nodes = append(nodes, map[string]any{"id": "out", "type": "Output", "config": map[string]any{"name": "out"}})
	edges = append(edges, map[string]any{"from": prev + ".trigger", "to": "out.trigger"}, map[string]any{"from": prev + ".output", "to": "out.input"})
	raw, _ := json.Marshal(map[string]any{"format": "grimoire/spell@1", "id": id, "nodes": nodes, "edges": edges})
	return raw
}

// paceGCLikeServe runs the collector as `grimoire serve` does (see
// internal/gcpace), so that latency figures are the server's.
func paceGCLikeServe(b *testing.B) {
	if gcpace.Start(gcpace.DefaultHeadroom) {
		b.Cleanup(gcpace.Stop)
	}
}

// BenchmarkEventLatency holds GRIMOIRE_BENCH_SOCKETS sockets and offers
// GRIMOIRE_BENCH_EVENTS run events per second in total for
// GRIMOIRE_BENCH_SECONDS: 100 of the sockets (half of each client
// generation) start runs of a 10-node chain at a steady pace, the rest sit
// idle, as an editor's server holds most of its sockets. For each node:end
// the client computes the delay from the event's time (stamped when the
// node completed) to its arrival in the client process, so the figure
// includes the durable append, the bus, the socket layer, the network and
// the client's parsing.
func BenchmarkEventLatency(b *testing.B) {
	paceGCLikeServe(b)
	const chainNodes = 10
	held := benchstat.EnvInt("GRIMOIRE_BENCH_SOCKETS", 5000)
	sockets := min(100, held)
	rate := benchstat.EnvInt("GRIMOIRE_BENCH_EVENTS", 5000)
	seconds := benchstat.EnvInt("GRIMOIRE_BENCH_SECONDS", 10)
	eventsPerRun := 2*(chainNodes+2) + 2
	e := newEnv(b, envOptions{Limits: server.Limits{MaxRunsPerUser: 1000, MaxConnsPerAddr: connsForSockets(held)}})
	clients := []*sockettest.Clients{sockettest.Start(b), sockettest.Start(b)}
	_, holdTime := holdSockets(b, e, clients, held-sockets, "idle")
	ids := make([]string, sockets)
	for i := range ids {
		gen, tr := 2, []string{"websocket"}
		if i%2 == 1 {
			gen, tr = 4, nil
		}
		ids[i] = fmt.Sprintf("s%03d", i)
		cl := clients[i%2]
		cl.Connect(sockettest.ConnectOptions{ID: ids[i], Generation: gen, URL: e.URL, Token: token(b, ids[i]), Transports: tr, Quiet: true, Latency: true})
	}
	for i, id := range ids {
		if ev, err := clients[i%2].WaitConnected(id, 60*time.Second); err != nil || ev.Type != "connect" {
			b.Fatalf("%s: %+v %v", id, ev, err)
		}
		if a := request(b, clients[i%2], id, "spell:load", map[string]any{"spell": chainSpell("chain-"+id, chainNodes)}); !a.OK {
			b.Fatalf("load: %+v", a.Error)
		}
	}
	runsPerSec := float64(rate) / float64(eventsPerRun)
	interval := time.Duration(float64(time.Second) / runsPerSec)
	total := int(runsPerSec * float64(seconds))
	b.ResetTimer()
	cpuBefore := processCPU(b)
	start := time.Now()
	for k := 0; k < total; k++ {
		if d := time.Until(start.Add(time.Duration(k) * interval)); d > 0 {
			time.Sleep(d)
		}
		i := k % sockets
		clients[i%2].Emit(ids[i], "spell:run", map[string]any{"spellId": "chain-" + ids[i]}, false, "")
	}
	offered := time.Since(start)
	serverSent := mustMetric(b, e, "grimoire_run_events_delivered_total")
	// Wait for every run to end on its socket.
	var lat []float64
	var delivered, ended int
	deadline := time.Now().Add(120 * time.Second)
	for {
		delivered, ended = 0, 0
		for _, cl := range clients {
			rep, err := cl.Report(nil, 60*time.Second)
			if err != nil {
				b.Fatal(err)
			}
			for _, r := range rep {
				for _, seqs := range r.Runs {
					delivered += len(seqs)
				}
				ended += len(r.Ends)
			}
		}
		if ended >= total || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	elapsed := time.Since(start)
	cpu := processCPU(b) - cpuBefore
	b.StopTimer()
	for _, cl := range clients {
		rep, err := cl.Report(nil, 60*time.Second)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range rep {
			lat = append(lat, r.LatencyMs...)
		}
	}
	if ended < total {
		b.Fatalf("%d of %d runs ended within the deadline", ended, total)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(held), "sockets-held")
	b.ReportMetric(float64(delivered)/offered.Seconds(), "events/s-offered")
	b.ReportMetric(float64(delivered)/elapsed.Seconds(), "events/s-delivered")
	b.ReportMetric(benchstat.Percentile(lat, 0.50), "p50-ms")
	b.ReportMetric(benchstat.Percentile(lat, 0.99), "p99-ms")
	b.ReportMetric(lat[len(lat)-1], "max-ms")
	// CPU of the benchmark process (the server; the clients are other
	// processes) per event delivered: what a shared machine's load changes
	// least.
	b.ReportMetric(float64(cpu.Microseconds())/float64(delivered), "server-cpu-µs/event")
	b.ReportMetric(0, "ns/op")
	b.Logf("%d sockets held (%d idle connected in %v), %d active", held, held-sockets, holdTime, sockets)
	b.Logf("when the offer ended the server had queued %.0f events to sockets", serverSent)
	b.Logf("%d runs, %d events in %v (offered over %v), %d node:end latencies: p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms",
		total, delivered, elapsed, offered, len(lat), benchstat.Percentile(lat, 0.50), benchstat.Percentile(lat, 0.90), benchstat.Percentile(lat, 0.99), lat[len(lat)-1])
}

// BenchmarkRESTSyncRun offers GRIMOIRE_BENCH_RPS POST
// /v1/spells/{id}/runs?mode=sync requests per second for
// GRIMOIRE_BENCH_SECONDS, open loop (each request is sent at its scheduled
// time whatever the earlier ones do, and its latency counts from then), of a
// spell with one worker node (a Text Template between the trigger and the
// output), from 20 users over keep-alive connections.
func BenchmarkRESTSyncRun(b *testing.B) {
	paceGCLikeServe(b)
	rps := benchstat.EnvInt("GRIMOIRE_BENCH_RPS", 500)
	seconds := benchstat.EnvInt("GRIMOIRE_BENCH_SECONDS", 10)
	warmup := benchstat.EnvInt("GRIMOIRE_BENCH_WARMUP_SECONDS", 0)
	e := newEnv(b, envOptions{Limits: server.Limits{MaxRunsPerUser: 1000}})
	const users = 20
	toks := make([]string, users)
	for i := range toks {
		toks[i] = token(b, fmt.Sprint("rest", i))
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 256}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	body := `{"inputs":{"name":"Ada"}}`
	do := func(tok string) (time.Duration, error) {
		req, _ := http.NewRequest("POST", e.URL+"/v1/spells/demo/runs?mode=sync", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		t0 := time.Now()
		resp, err := cl.Do(req)
		if err != nil {
			return 0, err
		}
		var a syncAnswer
		err = json.NewDecoder(resp.Body).Decode(&a)
		resp.Body.Close()
		if err == nil && (resp.StatusCode != http.StatusOK || a.Outputs["greeting"] != "Hello, Ada!") {
			err = fmt.Errorf("HTTP %d %+v", resp.StatusCode, a)
		}
		return time.Since(t0), err
	}
	for i := range 200 { // warm up connections and caches
		if _, err := do(toks[i%users]); err != nil {
			b.Fatal(err)
		}
	}
	interval := time.Second / time.Duration(rps)
	if warmup > 0 {
		// The same load, unmeasured: a server that has run a while, past
		// its event log's first memtable flushes and with WAL files to
		// recycle, instead of a fresh data directory.
		var wg sync.WaitGroup
		start := time.Now()
		for k := range rps * warmup {
			time.Sleep(time.Until(start.Add(time.Duration(k) * interval)))
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := do(toks[k%users]); err != nil {
					b.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	total := rps * seconds
	// lat: each request's round trip, from the moment it is sent.
	// sched: from the moment it was due, which adds the sender's own
	// lateness (Go's timers wake up to ~1 ms late on an idle machine).
	lat := make([]float64, total)
	sched := make([]float64, total)
	var failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for k := 0; k < total; k++ {
		at := start.Add(time.Duration(k) * interval)
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rt, err := do(toks[k%users])
			lat[k] = float64(rt.Microseconds()) / 1000
			sched[k] = float64(time.Since(at).Microseconds()) / 1000
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d requests failed; first: %v", n, total, firstErr.Load())
	}
	slices.Sort(lat)
	slices.Sort(sched)
	b.ReportMetric(float64(total)/elapsed.Seconds(), "req/s")
	b.ReportMetric(benchstat.Percentile(lat, 0.50), "p50-ms")
	b.ReportMetric(benchstat.Percentile(lat, 0.99), "p99-ms")
	b.ReportMetric(lat[len(lat)-1], "max-ms")
	b.ReportMetric(benchstat.Percentile(sched, 0.99), "p99-from-due-ms")
	b.ReportMetric(0, "ns/op")
	b.Logf("after %d s of warm-up, %d sync runs at %d req/s offered (%.0f achieved): round trip p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms; from when due p50 %.2f ms, p99 %.2f ms",
		warmup, total, rps, float64(total)/elapsed.Seconds(), benchstat.Percentile(lat, 0.50), benchstat.Percentile(lat, 0.90), benchstat.Percentile(lat, 0.99), lat[len(lat)-1],
		benchstat.Percentile(sched, 0.50), benchstat.Percentile(sched, 0.99))
}

// BenchmarkMCPToolCall calls the demo spell as an MCP tool, one call after
// another over one Streamable HTTP session (the Go SDK's client), with and
// without a progress token: the time of a tool call as an agent sees it,
// run recorded and all.
func BenchmarkMCPToolCall(b *testing.B) {
	paceGCLikeServe(b)
	for _, progress := range []bool{false, true} {
		name := "plain"
		if progress {
			name = "progress"
		}
		b.Run(name, func(b *testing.B) {
			e := newEnv(b, envOptions{})
			cl := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1"}, nil)
			sess, err := cl.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: e.URL + "/mcp",
				HTTPClient: &http.Client{Transport: bearer{token(b, "bench")}}}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer sess.Close()
			call := func(i int) {
				p := &mcp.CallToolParams{Name: "demo", Arguments: map[string]any{"name": "Ada"}}
				if progress {
					p.SetProgressToken(i)
				}
				res, err := sess.CallTool(context.Background(), p)
				if err != nil || res.IsError {
					b.Fatalf("call: %v %+v", err, res)
				}
			}
			for i := range 100 { // warm up
				call(i)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				call(i)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/call")
		})
	}
}
