package openai

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goopenai "github.com/sashabaranov/go-openai"
)

// ErrNoHealthyEndpoint: every endpoint that could serve the request has an
// open circuit breaker.
var ErrNoHealthyEndpoint = errors.New("no healthy endpoint")

// route chooses the endpoint of each attempt of a call: a Client alone
// always itself, a pool the least busy of its healthy endpoints.
type route interface {
	// pick reserves an endpoint for the next attempt (the caller releases
	// it), preferring one that has not failed this call.
	pick(failed []*Client) (lease, error)
	// hasOther reports whether an endpoint that has not failed this call
	// could take the next attempt: then it goes there at once, without
	// the backoff wait.
	hasOther(failed []*Client) bool
}

// lease is one attempt's hold on an endpoint: it counts as in flight
// there until release.
type lease struct {
	c   *Client
	gen uint64 // the breaker generation the attempt was admitted in
}

func (l lease) release(o outcome) {
	l.c.inFlight.Add(-1)
	l.c.counts[o].Add(1)
	l.c.health.settle(l.gen, o)
}

// abandon gives the endpoint back without having sent anything: nothing
// is counted, and a half-open probe slot is freed.
func (l lease) abandon() {
	l.c.inFlight.Add(-1)
	l.c.health.settle(l.gen, outcomeCancelled)
}

// A Client on its own is a route of one endpoint, with no breaker.
func (c *Client) pick([]*Client) (lease, error) {
	c.inFlight.Add(1)
	return lease{c: c}, nil
}

func (c *Client) hasOther([]*Client) bool { return false }

// capacity is the endpoint's MaxConcurrent; an unbounded endpoint counts
// as having room for 1<<20 calls, so it is always the least loaded.
func (c *Client) capacity() int64 {
	if c.opts.MaxConcurrent <= 0 {
		return 1 << 20
	}
	return int64(c.opts.MaxConcurrent)
}

// pool is the endpoints serving one model (or the chat or embeddings
// default). Its members are shared with the other pools they belong to:
// in-flight counts and breakers are per endpoint, not per pool.
type pool struct {
	name    string // the model, or "chat", "embeddings"
	members []*Client
	next    atomic.Uint32 // rotates the scan, so that ties go round-robin
}

func (p *pool) names() []string {
	out := make([]string, len(p.members))
	for i, c := range p.members {
		out[i] = c.Name()
	}
	return out
}

// pick takes the least-busy endpoint (in flight relative to MaxConcurrent)
// among those whose breaker admits a request, with an endpoint due for its
// half-open probe first: otherwise a healthy pool would never give it a
// chance to come back. Endpoints that failed this call are taken only when
// no other can be.
func (p *pool) pick(failed []*Client) (lease, error) {
	var clk clock
	for _, avoid := range [][]*Client{failed, nil} {
		for range 3 { // a claim lost to a concurrent caller: look again
			c := p.best(avoid, &clk)
			if c == nil {
				break
			}
			if gen, ok := c.health.admit(&clk); ok {
				c.inFlight.Add(1)
				return lease{c: c, gen: gen}, nil
			}
		}
		if len(failed) == 0 {
			break
		}
	}
	var soonest time.Duration = -1
	for _, c := range p.members {
		if d := c.health.retryIn(clk.now()); soonest < 0 || d < soonest {
			soonest = d
		}
	}
	return lease{}, fmt.Errorf("inference pool %q (%s): %w: every endpoint's circuit breaker is open; the next probe is allowed in %v",
		p.name, strings.Join(p.names(), ", "), ErrNoHealthyEndpoint, soonest.Round(time.Millisecond))
}

func (p *pool) best(avoid []*Client, clk *clock) *Client {
	n := len(p.members)
	start := int(p.next.Add(1)) % n
	var best *Client
	bestProbe := false
	for i := range n {
		c := p.members[(start+i)%n]
		if slices.Contains(avoid, c) {
			continue
		}
		switch c.health.available(clk) {
		case availableProbe:
			if !bestProbe {
				best, bestProbe = c, true
			}
		case availableClosed:
			if !bestProbe && (best == nil || lessBusy(c, best)) {
				best = c
			}
		}
	}
	return best
}

// lessBusy compares in-flight counts relative to capacity, without
// dividing: a/ca < b/cb.
func lessBusy(a, b *Client) bool {
	return a.inFlight.Load()*b.capacity() < b.inFlight.Load()*a.capacity()
}

func (p *pool) hasOther(failed []*Client) bool {
	var clk clock
	for _, c := range p.members {
		if !slices.Contains(failed, c) && c.health.available(&clk) != unavailable {
			return true
		}
	}
	return false
}

// HealthCheck configures the active health checks of a router's
// endpoints. Without them (the default) health is passive: the breakers
// learn from the outcomes of real requests only.
type HealthCheck struct {
	// Interval between checks of each endpoint; 0 turns them off.
	Interval time.Duration
	// Timeout bounds one check (default 5s, at most Interval).
	Timeout time.Duration
}

// healthChecker probes every endpoint with GET /models each interval; a
// failed check counts as a failed attempt for the breaker, and a passed
// one closes a breaker whose cool-down is over. Any HTTP answer below 500
// passes (a server without /models is still up).
type healthChecker struct {
	endpoints []*Client
	cfg       HealthCheck
	// log is the router's, apart from the endpoints' options: SetLogger
	// may run while checks do.
	log    *atomic.Pointer[slog.Logger]
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startHealthChecker(endpoints []*Client, cfg HealthCheck, log *atomic.Pointer[slog.Logger]) *healthChecker {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	cfg.Timeout = min(cfg.Timeout, cfg.Interval)
	ctx, cancel := context.WithCancel(context.Background())
	h := &healthChecker{endpoints: endpoints, cfg: cfg, cancel: cancel, log: log}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		t := time.NewTicker(cfg.Interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				h.checkAll(ctx)
			}
		}
	}()
	return h
}

// checkAll checks the endpoints concurrently and waits for every check,
// so that no check outlives Close.
func (h *healthChecker) checkAll(ctx context.Context) {
	var wg sync.WaitGroup
	for _, c := range h.endpoints {
		if c.health.available(&clock{}) == unavailable {
			continue // open and cooling down: leave it alone
		}
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
			defer cancel()
			o := c.checkHealth(cctx, h.log.Load())
			if ctx.Err() != nil {
				return // closing: the outcome means nothing
			}
			c.checks[o].Add(1)
			c.health.checked(o, time.Now())
		})
	}
	wg.Wait()
}

func (h *healthChecker) stop() {
	h.cancel()
	h.wg.Wait()
}

// checkHealth lists the endpoint's models.
func (c *Client) checkHealth(ctx context.Context, log *slog.Logger) outcome {
	_, err := c.api.ListModels(ctx)
	if err == nil {
		return outcomeOK
	}
	var apiErr *goopenai.APIError
	var reqErr *goopenai.RequestError
	status := 0
	switch {
	case errors.As(err, &apiErr):
		status = apiErr.HTTPStatusCode
	case errors.As(err, &reqErr):
		status = reqErr.HTTPStatusCode
	}
	if status > 0 && status < 500 {
		return outcomeRefused
	}
	log.LogAttrs(ctx, slog.LevelWarn, "inference endpoint failed its health check",
		slog.String("endpoint", c.opts.Name), slog.String("error", err.Error()))
	return outcomeFailed
}

// EndpointStats is one endpoint's state and counters since the process
// started, for metrics. Counts are per attempt: a call retried or failed
// over counts once per endpoint it tried.
type EndpointStats struct {
	Name    string
	BaseURL string
	// InFlight is the attempts in progress (waiting for a slot included);
	// MaxConcurrent is the endpoint's limit (0: unbounded).
	InFlight      int
	MaxConcurrent int
	Breaker       BreakerState
	BreakerOpened uint64
	// Requests counts attempts by outcome: "ok", "failed" (counted by the
	// breaker: connection errors, timeouts, 5xx, cut or stalled streams),
	// "refused" (4xx, 429, malformed answers) and "cancelled" (the caller
	// gave up).
	Requests map[string]uint64
	// FailedOver counts attempts that failed here and went on to another
	// endpoint of the pool.
	FailedOver uint64
	// HealthChecks counts active health checks by outcome.
	HealthChecks map[string]uint64
}

var outcomeNames = [...]string{outcomeOK: "ok", outcomeFailed: "failed", outcomeRefused: "refused", outcomeCancelled: "cancelled"}

func (c *Client) stats(now time.Time) EndpointStats {
	s := EndpointStats{
		Name: c.opts.Name, BaseURL: c.opts.BaseURL, InFlight: int(c.inFlight.Load()),
		MaxConcurrent: max(c.opts.MaxConcurrent, 0), Breaker: c.health.current(now),
		FailedOver: c.failedOver.Load(), Requests: map[string]uint64{}, HealthChecks: map[string]uint64{},
	}
	if c.health != nil {
		s.BreakerOpened = c.health.opened.Load()
	}
	for o, name := range outcomeNames {
		s.Requests[name] = c.counts[o].Load()
		s.HealthChecks[name] = c.checks[o].Load()
	}
	return s
}
