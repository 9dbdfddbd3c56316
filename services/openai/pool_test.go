package openai_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/services"
	"github.com/grimoire-run/grimoire/services/devllm"
	"github.com/grimoire-run/grimoire/services/openai"
)

// deadEndpoint is a GPU server that has crashed behind its port: it
// accepts each connection and drops it at once (with a reset, as the
// kernel does for a crashed process, or with a plain close, as a server
// going down does), counting them, so a test sees every request that
// still reaches it. Kill turns it into a closed port (connection refused),
// and its address can then be reused to bring the endpoint back.
type deadEndpoint struct {
	ln    net.Listener
	addr  string
	conns atomic.Int64
	done  chan struct{}
	// closeOnly closes connections without a reset.
	closeOnly bool
}

func newDeadEndpoint(t *testing.T, closeOnly ...bool) *deadEndpoint {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &deadEndpoint{ln: ln, addr: ln.Addr().String(), done: make(chan struct{}), closeOnly: len(closeOnly) > 0 && closeOnly[0]}
	go func() {
		defer close(d.done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			d.conns.Add(1)
			if tcp, ok := c.(*net.TCPConn); ok && !d.closeOnly {
				_ = tcp.SetLinger(0) // a reset, as from a crashed process
			}
			_ = c.Close()
		}
	}()
	t.Cleanup(d.kill)
	return d
}

func (d *deadEndpoint) url() string { return "http://" + d.addr + "/v1" }

// kill closes the port and waits for the accept loop to end.
func (d *deadEndpoint) kill() {
	_ = d.ln.Close()
	<-d.done
}

// revive starts the inference test double on the dead endpoint's address.
func (d *deadEndpoint) revive(t *testing.T) *devllm.Server {
	t.Helper()
	d.kill()
	srv, err := devllm.Start(d.addr, devllm.Options{})
	if err != nil {
		t.Fatalf("bring the endpoint back on %s: %v", d.addr, err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// newPool builds a router whose chat pool is the given endpoints (name ->
// base URL), with fast retries and the given breaker.
func newPool(t *testing.T, breaker *openai.BreakerConfig, endpoints map[string]string, mod ...func(name string, ec *openai.EndpointConfig)) *openai.Router {
	t.Helper()
	cfg := openai.Config{Endpoints: map[string]openai.EndpointConfig{}, Breaker: breaker}
	for name, url := range endpoints {
		ec := openai.EndpointConfig{
			BaseURL: url, Model: "llama-3.1-8b", StreamIdleTimeout: openai.Duration(2 * time.Second),
			Retry: &openai.RetryConfig{InitialBackoff: openai.Duration(time.Millisecond), MaxBackoff: openai.Duration(5 * time.Millisecond)},
		}
		for _, m := range mod {
			m(name, &ec)
		}
		cfg.Endpoints[name] = ec
		cfg.Chat = append(cfg.Chat, name)
	}
	r, err := openai.NewRouter(cfg, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	r.SetLogger(quietLogger)
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func statsOf(r *openai.Router, name string) openai.EndpointStats {
	for _, s := range r.EndpointStats() {
		if s.Name == name {
			return s
		}
	}
	panic("no endpoint " + name)
}

func ask(t *testing.T, r *openai.Router, onToken func(string)) services.CompletionResponse {
	t.Helper()
	resp, err := r.Complete(t.Context(), hello, onToken)
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if resp.Text != "one two three four five" {
		t.Fatalf("answer %q, want the echo", resp.Text)
	}
	return resp
}

// Requests held open one after another go each to the endpoint with the
// lowest load relative to its maxConcurrent.
func TestLeastBusyRoutingSpreadsConcurrentRequests(t *testing.T) {
	for _, tc := range []struct {
		name               string
		capSmall, capBig   int
		requests           int
		wantSmall, wantBig int
	}{
		{name: "equal capacity", capSmall: 4, capBig: 4, requests: 8, wantSmall: 4, wantBig: 4},
		{name: "one endpoint three times larger", capSmall: 2, capBig: 6, requests: 8, wantSmall: 2, wantBig: 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			small, big := devllm.New(t, devllm.Options{}), devllm.New(t, devllm.Options{})
			for _, srv := range []*devllm.Server{small, big} {
				for range tc.requests {
					// Each stream sends one token, then holds until the client leaves.
					srv.Queue(devllm.Chat, devllm.Step{Fault: devllm.Stall, After: 1})
				}
			}
			r := newPool(t, nil, map[string]string{"small": small.URL, "big": big.URL}, func(name string, ec *openai.EndpointConfig) {
				ec.MaxConcurrent = map[string]int{"small": tc.capSmall, "big": tc.capBig}[name]
				ec.StreamIdleTimeout = openai.Duration(time.Minute)
			})
			ctx, cancel := context.WithCancel(t.Context())
			var wg sync.WaitGroup
			for range tc.requests {
				first := make(chan struct{})
				var once sync.Once
				wg.Go(func() { _, _ = r.Complete(ctx, hello, func(string) { once.Do(func() { close(first) }) }) })
				select {
				case <-first:
				case <-time.After(10 * time.Second):
					t.Fatal("a held request never started streaming")
				}
			}
			gotSmall, gotBig := len(small.Requests()), len(big.Requests())
			inSmall, inBig := statsOf(r, "small").InFlight, statsOf(r, "big").InFlight
			cancel()
			wg.Wait()
			if gotSmall != tc.wantSmall || gotBig != tc.wantBig {
				t.Fatalf("small got %d requests, big %d; want %d and %d", gotSmall, gotBig, tc.wantSmall, tc.wantBig)
			}
			if inSmall != tc.wantSmall || inBig != tc.wantBig {
				t.Fatalf("in flight: small %d, big %d; want %d and %d", inSmall, inBig, tc.wantSmall, tc.wantBig)
			}
			if s := statsOf(r, "small"); s.InFlight != 0 || s.Requests["cancelled"] != uint64(tc.wantSmall) {
				t.Fatalf("after the callers left: %+v", s)
			}
		})
	}
}

// A dead endpoint (a closed port) costs a run nothing but a failed
// connection: every request succeeds on the healthy endpoint.
func TestDeadEndpointFailsOverToTheHealthyOne(t *testing.T) {
	for _, death := range []string{"connection refused", "connection reset", "closed before answering"} {
		t.Run(death, func(t *testing.T) { testDeadEndpointFailsOver(t, death) })
	}
}

func testDeadEndpointFailsOver(t *testing.T, death string) {
	dead := newDeadEndpoint(t, death == "closed before answering")
	if death == "connection refused" {
		dead.kill()
	}
	healthy := devllm.New(t, devllm.Options{})
	r := newPool(t, &openai.BreakerConfig{Failures: 100}, map[string]string{"dead": dead.url(), "healthy": healthy.URL}, func(_ string, ec *openai.EndpointConfig) {
		ec.Retry.InitialBackoff = openai.Duration(10 * time.Second) // a failover never waits for it
		ec.Retry.MaxBackoff = openai.Duration(10 * time.Second)
	})
	start := time.Now()
	for range 10 {
		ask(t, r, nil)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Fatalf("10 calls took %v: a failover waited for the backoff", elapsed)
	}
	d, h := statsOf(r, "dead"), statsOf(r, "healthy")
	if got := len(healthy.RequestsTo(devllm.Chat)); got != 10 || h.Requests["ok"] != 10 {
		t.Fatalf("healthy endpoint served %d (stats %v), want all 10", got, h.Requests)
	}
	if d.Requests["failed"] == 0 || d.FailedOver != d.Requests["failed"] {
		t.Fatalf("dead endpoint: %d failed attempts, %d failed over; want some, each failed over", d.Requests["failed"], d.FailedOver)
	}
}

// A 5xx answer goes on to the other endpoint at once.
func TestServerErrorFailsOver(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "streamed"}[stream], func(t *testing.T) {
			a, b := devllm.New(t, devllm.Options{}), devllm.New(t, devllm.Options{})
			for _, srv := range []*devllm.Server{a, b} {
				srv.Queue(devllm.Chat, devllm.Step{Fault: devllm.APIError, Status: 503, Message: "engine overloaded"})
			}
			r := newPool(t, nil, map[string]string{"a": a.URL, "b": b.URL})
			var pieces []string
			var onToken func(string)
			if stream {
				onToken = func(s string) { pieces = append(pieces, s) }
			}
			resp := ask(t, r, onToken)
			// The first attempt's endpoint answered 503, the second's too (both were
			// scripted), and the third attempt succeeded: each endpoint was tried.
			if na, nb := len(a.Requests()), len(b.Requests()); na+nb != 3 || na == 0 || nb == 0 {
				t.Fatalf("requests: a %d, b %d; want 3 attempts over both", na, nb)
			}
			if stream && strings.Join(pieces, "") != resp.Text {
				t.Fatalf("streamed %q, answer %q", strings.Join(pieces, ""), resp.Text)
			}
			if fo := statsOf(r, "a").FailedOver + statsOf(r, "b").FailedOver; fo != 1 {
				t.Fatalf("%d failovers, want 1 (then a retry after the backoff, both having failed)", fo)
			}
		})
	}
}

// The breaker: after Failures consecutive failures no request reaches the
// endpoint; after the cool-down one probe does, and reopens it while the
// endpoint is still dead; once the endpoint is back the probe closes it,
// and requests are shared again.
func TestBreakerOpensProbesAndCloses(t *testing.T) {
	const coolDown = 2 * time.Second
	dead := newDeadEndpoint(t)
	healthy := devllm.New(t, devllm.Options{})
	r := newPool(t, &openai.BreakerConfig{Failures: 3, CoolDown: openai.Duration(coolDown)}, map[string]string{"dead": dead.url(), "healthy": healthy.URL})
	var logs lockedLog
	r.SetLogger(slog.New(slog.NewTextHandler(&logs, nil)))

	for i := 0; statsOf(r, "dead").Breaker != openai.BreakerOpen; i++ {
		if i == 50 {
			t.Fatalf("the breaker is still %v after 50 calls: %+v", statsOf(r, "dead").Breaker, statsOf(r, "dead"))
		}
		ask(t, r, nil)
	}
	opened := time.Now()
	if d := statsOf(r, "dead"); d.Requests["failed"] != 3 || d.BreakerOpened != 1 {
		t.Fatalf("opened after %d failures (%d openings), want 3 (1)", d.Requests["failed"], d.BreakerOpened)
	}
	reached := dead.conns.Load()

	// While open: nothing reaches the dead endpoint.
	for range 20 {
		ask(t, r, nil)
	}
	if time.Since(opened) >= coolDown {
		t.Fatalf("20 calls took longer than the cool-down (%v): the machine is too slow for this test's timing", coolDown)
	}
	if got := dead.conns.Load(); got != reached {
		t.Fatalf("%d connections reached the dead endpoint while its breaker was open", got-reached)
	}
	if s := statsOf(r, "dead").Breaker; s != openai.BreakerOpen {
		t.Fatalf("breaker %v during the cool-down, want open", s)
	}

	// After the cool-down: half-open; one probe reaches it, fails (and fails
	// over: the call still succeeds), and the breaker opens again.
	time.Sleep(time.Until(opened.Add(coolDown)))
	if s := statsOf(r, "dead").Breaker; s != openai.BreakerHalfOpen {
		t.Fatalf("breaker %v after the cool-down, want half-open", s)
	}
	ask(t, r, nil)
	reopened := time.Now()
	if got := dead.conns.Load(); got != reached+1 {
		t.Fatalf("%d connections reached the endpoint after the cool-down, want the one probe", got-reached)
	}
	if d := statsOf(r, "dead"); d.Breaker != openai.BreakerOpen || d.BreakerOpened != 2 {
		t.Fatalf("after a failed probe: %v, opened %d times; want open, 2", d.Breaker, d.BreakerOpened)
	}

	// The endpoint comes back; after the cool-down the probe closes the breaker.
	back := dead.revive(t)
	time.Sleep(time.Until(reopened.Add(coolDown)))
	ask(t, r, nil)
	if s := statsOf(r, "dead").Breaker; s != openai.BreakerClosed || len(back.Requests()) != 1 {
		t.Fatalf("after a successful probe: breaker %v, %d requests on the revived endpoint; want closed, 1", s, len(back.Requests()))
	}
	for range 10 {
		ask(t, r, nil)
	}
	if n := len(back.Requests()); n < 3 {
		t.Fatalf("the revived endpoint got %d of the next 10 calls; want its share", n-1)
	}
	out := logs.String()
	if strings.Count(out, "circuit breaker opened") != 2 || strings.Count(out, "circuit breaker closed") != 1 || !strings.Contains(out, "endpoint=dead") {
		t.Fatalf("the log does not tell of two openings and one closing:\n%s", out)
	}
}

// lockedLog is a log destination written from several goroutines.
type lockedLog struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// When every endpoint of the pool is open, a call fails at once, saying so.
func TestAllBreakersOpenFailsFast(t *testing.T) {
	dead := newDeadEndpoint(t)
	dead.kill()
	r := newPool(t, &openai.BreakerConfig{Failures: 1, CoolDown: openai.Duration(time.Minute)}, map[string]string{"dead": dead.url()})
	if _, err := r.Complete(t.Context(), hello, nil); err == nil {
		t.Fatal("a call to a dead endpoint succeeded")
	}
	_, err := r.Complete(t.Context(), hello, nil)
	if !errors.Is(err, openai.ErrNoHealthyEndpoint) || !strings.Contains(err.Error(), `inference pool "chat" (dead)`) {
		t.Fatalf("err = %v, want ErrNoHealthyEndpoint naming the pool", err)
	}
}

// A stream that fails before its first token is failed over and the caller
// sees one whole answer; one that fails after a token is not restarted on
// another endpoint (its text would differ from what the caller saw).
func TestStreamingFailsOverOnlyBeforeTheFirstToken(t *testing.T) {
	t.Run("before the first token", func(t *testing.T) {
		a, b := devllm.New(t, devllm.Options{}), devllm.New(t, devllm.Options{})
		for _, srv := range []*devllm.Server{a, b} {
			srv.Queue(devllm.Chat, devllm.Step{Fault: devllm.Cut, After: 0})
		}
		r := newPool(t, nil, map[string]string{"a": a.URL, "b": b.URL})
		var pieces []string
		resp := ask(t, r, func(s string) { pieces = append(pieces, s) })
		if got := strings.Join(pieces, ""); got != resp.Text {
			t.Fatalf("the caller saw %q, the answer is %q", got, resp.Text)
		}
		if na, nb := len(a.Requests()), len(b.Requests()); na == 0 || nb == 0 {
			t.Fatalf("requests a %d, b %d: the cut stream was not failed over", na, nb)
		}
	})
	t.Run("after a token", func(t *testing.T) {
		a, b := devllm.New(t, devllm.Options{}), devllm.New(t, devllm.Options{})
		for _, srv := range []*devllm.Server{a, b} {
			srv.Queue(devllm.Chat, devllm.Step{Fault: devllm.Cut, After: 2})
		}
		r := newPool(t, nil, map[string]string{"a": a.URL, "b": b.URL})
		var pieces []string
		_, err := r.Complete(t.Context(), hello, func(s string) { pieces = append(pieces, s) })
		if !errors.Is(err, openai.ErrStreamTruncated) || !strings.Contains(err.Error(), "part of the answer was already streamed") {
			t.Fatalf("err = %v, want the truncated stream, not retried", err)
		}
		if n := len(a.Requests()) + len(b.Requests()); n != 1 || len(pieces) != 2 {
			t.Fatalf("%d requests, %d pieces seen; want 1 request and its 2 pieces", n, len(pieces))
		}
	})
}

// Active health checks open the breaker of a dead endpoint that no request
// has touched, and Close stops them: no goroutine and no check outlives it.
func TestHealthChecksOpenTheBreakerAndStopOnClose(t *testing.T) {
	dead := newDeadEndpoint(t)
	healthy := devllm.New(t, devllm.Options{})
	before := runtime.NumGoroutine()
	cfg := openai.Config{
		Chat:        openai.EndpointNames{"dead", "healthy"},
		Breaker:     &openai.BreakerConfig{Failures: 2, CoolDown: openai.Duration(time.Minute)},
		HealthCheck: &openai.HealthCheckConfig{Interval: openai.Duration(10 * time.Millisecond)},
		Endpoints: map[string]openai.EndpointConfig{
			"dead": {BaseURL: dead.url(), Model: "m"}, "healthy": {BaseURL: healthy.URL, Model: "m"},
		},
	}
	r, err := openai.NewRouter(cfg, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	r.SetLogger(quietLogger)
	deadline := time.Now().Add(10 * time.Second)
	for statsOf(r, "dead").Breaker != openai.BreakerOpen || statsOf(r, "healthy").HealthChecks["ok"] < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("after 10s of checks every 10ms: dead %+v, healthy %+v", statsOf(r, "dead"), statsOf(r, "healthy"))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if s := statsOf(r, "healthy"); s.Breaker != openai.BreakerClosed {
		t.Fatalf("the healthy endpoint's breaker is %v", s.Breaker)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	checks := statsOf(r, "healthy").HealthChecks["ok"]
	conns := dead.conns.Load()
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > before; {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // five intervals
	if got := statsOf(r, "healthy").HealthChecks["ok"]; got != checks || dead.conns.Load() != conns {
		t.Fatalf("health checks went on after Close: %d -> %d", checks, got)
	}
}

// Embeddings fail over too.
func TestEmbeddingsFailOver(t *testing.T) {
	dead := newDeadEndpoint(t)
	healthy := devllm.New(t, devllm.Options{Dimensions: 8})
	r := newPool(t, nil, map[string]string{"dead": dead.url(), "healthy": healthy.URL}, func(_ string, ec *openai.EndpointConfig) {
		ec.EmbeddingModel = "bge-m3"
	})
	for range 4 {
		vecs, err := r.Embed(t.Context(), []string{"red apples"})
		if err != nil || len(vecs) != 1 || len(vecs[0]) != 8 {
			t.Fatalf("Embed: %v, %v", vecs, err)
		}
	}
	if dead.conns.Load() == 0 || len(healthy.RequestsTo(devllm.Embeddings)) != 4 {
		t.Fatalf("dead reached %d times, healthy served %d of 4", dead.conns.Load(), len(healthy.RequestsTo(devllm.Embeddings)))
	}
}

// One endpoint alone (no pool, no breaker in the file) keeps a single
// server's behaviour: every call makes all its attempts, none fails fast.
func TestOneEndpointAloneHasNoBreaker(t *testing.T) {
	dead := newDeadEndpoint(t)
	r := newPool(t, nil, map[string]string{"dead": dead.url()})
	for range 3 {
		_, err := r.Complete(t.Context(), hello, nil)
		if err == nil || errors.Is(err, openai.ErrNoHealthyEndpoint) || !strings.Contains(err.Error(), "after 4 attempts") {
			t.Fatalf("err = %v, want the connection error after 4 attempts", err)
		}
	}
	if n := dead.conns.Load(); n != 12 {
		t.Fatalf("%d connections, want 3 calls × 4 attempts", n)
	}
}
