package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grimoire-run/grimoire/services"
)

// Config is the endpoints file: several named endpoints and which serve
// chat (and text) completions, which embeddings, and which each model.
//
//	{
//	  "chat": "gpu1",
//	  "embeddings": "tei",
//	  "endpoints": {
//	    "gpu1": {"baseURL": "http://gpu1:8000/v1", "apiKeyEnv": "GPU1_KEY",
//	             "model": "llama-3.1-70b", "models": ["llama-3.1-8b"],
//	             "aliases": {"fast": "llama-3.1-8b"}, "maxConcurrent": 16,
//	             "requestTimeout": "2m", "streamIdleTimeout": "20s",
//	             "retry": {"maxAttempts": 3, "initialBackoff": "200ms"}},
//	    "tei":  {"baseURL": "http://tei:8080/v1", "embeddingModel": "bge-m3"}
//	  }
//	}
//
// A completion whose model (or alias) an endpoint lists in models or aliases
// goes to that endpoint; any other goes to the chat endpoint. With a single
// endpoint, chat and embeddings default to it; embeddings default to the
// chat endpoint.
//
// Pools: a model (or alias) listed by several endpoints is served by all of
// them, and "chat" and "embeddings" may name a list of endpoints
// (["gpu1", "gpu2"]) instead of one. Each request goes to the least busy
// endpoint of its pool whose circuit breaker admits it (in flight relative
// to maxConcurrent; ties in turn); an attempt that fails with a connection
// error, a timeout or a 5xx goes on to another endpoint of the pool at once,
// as one of the retry policy's attempts — but never once a streamed token
// has reached the caller. Each endpoint has a circuit breaker: after
// breaker.failures consecutive failures (default 5) it opens and no request
// reaches the endpoint for breaker.coolDown (default 30s); then one probe
// request may go through (half-open), which closes it again on success.
// "breaker" at the top sets every endpoint's default; an endpoint's own
// overrides it. An endpoint that shares no pool has a breaker only when
// the file sets "breaker" or "healthCheck". Health is passive (the outcomes of real requests) unless
// "healthCheck": {"interval": "10s", "timeout": "2s"} also lists each
// endpoint's models that often; a failed check counts as a failure, and a
// passed one closes a breaker whose cool-down is over.
type Config struct {
	Chat       EndpointNames             `json:"chat,omitempty"`
	Embeddings EndpointNames             `json:"embeddings,omitempty"`
	Endpoints  map[string]EndpointConfig `json:"endpoints"`
	// Breaker is the default circuit breaker of every endpoint.
	Breaker     *BreakerConfig     `json:"breaker,omitempty"`
	HealthCheck *HealthCheckConfig `json:"healthCheck,omitempty"`
}

// EndpointNames is one endpoint's name ("gpu1") or a list of them
// (["gpu1", "gpu2"]), a pool.
type EndpointNames []string

func (n EndpointNames) MarshalJSON() ([]byte, error) {
	if len(n) == 1 {
		return json.Marshal(n[0])
	}
	return json.Marshal([]string(n))
}

func (n *EndpointNames) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*n = nil
		if one != "" {
			*n = EndpointNames{one}
		}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("want an endpoint name or a list of names, got %s", b)
	}
	*n = list
	return nil
}

// BreakerConfig is BreakerPolicy in the endpoints file.
type BreakerConfig struct {
	Failures int      `json:"failures,omitempty"`
	CoolDown Duration `json:"coolDown,omitempty"`
}

// HealthCheckConfig is HealthCheck in the endpoints file.
type HealthCheckConfig struct {
	Interval Duration `json:"interval"`
	Timeout  Duration `json:"timeout,omitempty"`
}

// EndpointConfig is one endpoint of the file; see Options for the meaning
// and defaults of each field.
type EndpointConfig struct {
	BaseURL string `json:"baseURL"`
	APIKey  string `json:"apiKey,omitempty"`
	// APIKeyEnv names an environment variable holding the key, so the file
	// can be committed without secrets.
	APIKeyEnv         string            `json:"apiKeyEnv,omitempty"`
	Model             string            `json:"model,omitempty"`
	EmbeddingModel    string            `json:"embeddingModel,omitempty"`
	Models            []string          `json:"models,omitempty"`
	Aliases           map[string]string `json:"aliases,omitempty"`
	MaxConcurrent     int               `json:"maxConcurrent,omitempty"`
	RequestTimeout    Duration          `json:"requestTimeout,omitempty"`
	StreamIdleTimeout Duration          `json:"streamIdleTimeout,omitempty"`
	NoStreamUsage     bool              `json:"noStreamUsage,omitempty"`
	Retry             *RetryConfig      `json:"retry,omitempty"`
	// Breaker overrides the file's default breaker for this endpoint.
	Breaker *BreakerConfig `json:"breaker,omitempty"`
}

// RetryConfig is RetryPolicy in the endpoints file.
type RetryConfig struct {
	MaxAttempts    int      `json:"maxAttempts,omitempty"`
	InitialBackoff Duration `json:"initialBackoff,omitempty"`
	MaxBackoff     Duration `json:"maxBackoff,omitempty"`
	MaxRetryAfter  Duration `json:"maxRetryAfter,omitempty"`
}

// Duration is a time.Duration written as "30s" in JSON.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: want a string such as \"30s\", got %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	if v < 0 {
		return fmt.Errorf("duration %q: must not be negative", s)
	}
	*d = Duration(v)
	return nil
}

// ParseConfig reads an endpoints file. Unknown fields are errors, so a typo
// does not silently fall back to a default.
func ParseConfig(data []byte) (Config, error) {
	var cfg Config
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, fmt.Errorf("endpoints config: %w", err)
	}
	if dec.More() {
		return Config{}, fmt.Errorf("endpoints config: trailing data after the JSON object")
	}
	return cfg, nil
}

// LoadConfig reads the endpoints file at path and builds its router.
func LoadConfig(path string) (*Router, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load endpoints config: %w", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r, err := NewRouter(cfg, os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// Router dispatches completions and embeddings to pools of named
// endpoints. It implements services.Completion and services.Embedder.
// Close stops its health checks.
type Router struct {
	chat, embed *pool
	byModel     map[string]*pool
	endpoints   map[string]*Client
	names       []string // endpoint names, sorted
	checker     *healthChecker
	closeOnce   sync.Once
	// log is for what happens outside a call (breakers opening and closing
	// on health checks): SetLogger may run while checks do.
	log atomic.Pointer[slog.Logger]
}

// SetLogger sends the endpoints' logs (retries, failovers, failed health
// checks) to log; call it before the router is used.
func (r *Router) SetLogger(log *slog.Logger) {
	if log == nil {
		return
	}
	for _, c := range r.endpoints {
		c.opts.Logger = log
	}
	r.log.Store(log)
}

var (
	_ services.Completion = (*Router)(nil)
	_ services.Embedder   = (*Router)(nil)
)

func (bc *BreakerConfig) policy(def BreakerPolicy) (BreakerPolicy, error) {
	if bc == nil {
		return def, nil
	}
	if bc.Failures < 0 {
		return BreakerPolicy{}, fmt.Errorf("breaker: failures %d: want a positive count (default 5)", bc.Failures)
	}
	p := def
	if bc.Failures > 0 {
		p.Failures = bc.Failures
	}
	if bc.CoolDown > 0 {
		p.CoolDown = time.Duration(bc.CoolDown)
	}
	return p, nil
}

// NewRouter builds the endpoints of cfg; getenv resolves apiKeyEnv. With a
// healthCheck, it starts checking: Close the router to stop.
func NewRouter(cfg Config, getenv func(string) string) (*Router, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, fmt.Errorf("endpoints config: no endpoints: %w", services.ErrNoCompletionEndpoint)
	}
	defBreaker, err := cfg.Breaker.policy(BreakerPolicy{})
	if err != nil {
		return nil, err
	}
	r := &Router{byModel: map[string]*pool{}, endpoints: map[string]*Client{}}
	r.log.Store(slog.Default())
	policies := map[*Client]BreakerPolicy{}
	for name := range cfg.Endpoints {
		r.names = append(r.names, name)
	}
	sort.Strings(r.names)
	for _, name := range r.names {
		ec := cfg.Endpoints[name]
		key := ec.APIKey
		if ec.APIKeyEnv != "" {
			if key != "" {
				return nil, fmt.Errorf("endpoint %q: set apiKey or apiKeyEnv, not both", name)
			}
			key = getenv(ec.APIKeyEnv)
			if key == "" {
				return nil, fmt.Errorf("endpoint %q: environment variable %s (apiKeyEnv) is empty", name, ec.APIKeyEnv)
			}
		}
		opts := Options{
			Name: name, BaseURL: ec.BaseURL, APIKey: key, Model: ec.Model, EmbeddingModel: ec.EmbeddingModel,
			Aliases: ec.Aliases, MaxConcurrent: ec.MaxConcurrent, RequestTimeout: time.Duration(ec.RequestTimeout),
			StreamIdleTimeout: time.Duration(ec.StreamIdleTimeout), NoStreamUsage: ec.NoStreamUsage,
		}
		if ec.Retry != nil {
			opts.Retry = RetryPolicy{
				MaxAttempts: ec.Retry.MaxAttempts, InitialBackoff: time.Duration(ec.Retry.InitialBackoff),
				MaxBackoff: time.Duration(ec.Retry.MaxBackoff), MaxRetryAfter: time.Duration(ec.Retry.MaxRetryAfter),
			}
		}
		if ec.BaseURL == "" {
			return nil, fmt.Errorf("endpoint %q: baseURL is required", name)
		}
		bp, err := ec.Breaker.policy(defBreaker)
		if err != nil {
			return nil, fmt.Errorf("endpoint %q: %w", name, err)
		}
		c, err := New(opts)
		if err != nil {
			return nil, err
		}
		if cfg.Breaker != nil || ec.Breaker != nil || cfg.HealthCheck != nil {
			c.health = newBreaker(bp)
		}
		policies[c] = bp
		r.endpoints[name] = c
		served := append([]string(nil), ec.Models...)
		for alias := range ec.Aliases {
			served = append(served, alias)
		}
		for _, m := range served {
			p := r.byModel[m]
			if p == nil {
				p = &pool{name: m}
				r.byModel[m] = p
			}
			if !slices.Contains(p.members, c) {
				p.members = append(p.members, c)
			}
		}
	}
	pick := func(role string, names, fallback EndpointNames) (*pool, error) {
		if len(names) == 0 {
			names = fallback
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("several endpoints (%s): name the %s endpoint (or a list of them) in %q", strings.Join(r.names, ", "), role, role)
		}
		p := &pool{name: role}
		for _, name := range names {
			c, ok := r.endpoints[name]
			if !ok {
				return nil, fmt.Errorf("%s endpoint %q is not among the endpoints (%s)", role, name, strings.Join(r.names, ", "))
			}
			if slices.Contains(p.members, c) {
				return nil, fmt.Errorf("%s: endpoint %q is named twice", role, name)
			}
			p.members = append(p.members, c)
		}
		return p, nil
	}
	var only EndpointNames
	if len(r.names) == 1 {
		only = EndpointNames{r.names[0]}
	}
	if r.chat, err = pick("chat", cfg.Chat, only); err != nil {
		return nil, err
	}
	if r.embed, err = pick("embeddings", cfg.Embeddings, r.chat.names()); err != nil {
		return nil, err
	}
	// An endpoint gets a breaker when it shares a pool, or when the file
	// asks for breakers or health checks. One endpoint alone keeps the
	// behaviour of a single server: failing fast for a cool-down would help
	// nobody, and the retries ride out a restart.
	for _, p := range append([]*pool{r.chat, r.embed}, slices.Collect(maps.Values(r.byModel))...) {
		if len(p.members) > 1 {
			for _, c := range p.members {
				if c.health == nil {
					c.health = newBreaker(policies[c])
				}
			}
		}
	}
	for _, name := range r.names {
		if c := r.endpoints[name]; c.health != nil {
			c.health.onChange = func(to BreakerState, _ time.Time) {
				level, msg := slog.LevelInfo, "inference endpoint's circuit breaker closed: requests reach it again"
				if to == BreakerOpen {
					level, msg = slog.LevelWarn, "inference endpoint's circuit breaker opened: no request reaches it until the cool-down ends"
				}
				r.log.Load().LogAttrs(context.Background(), level, msg, slog.String("endpoint", c.opts.Name),
					slog.String("baseURL", c.opts.BaseURL), slog.Duration("coolDown", c.health.policy.CoolDown))
			}
		}
	}
	if hc := cfg.HealthCheck; hc != nil && hc.Interval > 0 {
		all := make([]*Client, 0, len(r.names))
		for _, name := range r.names {
			all = append(all, r.endpoints[name])
		}
		r.checker = startHealthChecker(all, HealthCheck{Interval: time.Duration(hc.Interval), Timeout: time.Duration(hc.Timeout)}, &r.log)
	}
	return r, nil
}

// singleRouter routes everything to one endpoint (the environment
// variables' configuration), without a breaker, as one endpoint alone in
// a file.
func singleRouter(c *Client) *Router {
	p := &pool{name: "chat", members: []*Client{c}}
	return &Router{chat: p, embed: &pool{name: "embeddings", members: p.members}, byModel: map[string]*pool{},
		endpoints: map[string]*Client{c.opts.Name: c}, names: []string{c.opts.Name}}
}

// Close stops the health checks, waiting for any in progress, and closes
// idle connections. Calls in flight are not interrupted.
func (r *Router) Close() error {
	r.closeOnce.Do(func() {
		if r.checker != nil {
			r.checker.stop()
		}
		for _, c := range r.endpoints {
			c.http.CloseIdleConnections()
		}
	})
	return nil
}

// Endpoint returns a named endpoint, or nil.
func (r *Router) Endpoint(name string) *Client { return r.endpoints[name] }

func (r *Router) poolFor(model string) *pool {
	if p, ok := r.byModel[model]; ok {
		return p
	}
	return r.chat
}

// Pool names the endpoints that serve completions for model, in order.
func (r *Router) Pool(model string) []string { return r.poolFor(model).names() }

// Complete sends the request to the least busy healthy endpoint of the
// pool serving req.Model, failing over within the pool.
func (r *Router) Complete(ctx context.Context, req services.CompletionRequest, onToken func(string)) (services.CompletionResponse, error) {
	return complete(ctx, r.poolFor(req.Model), req, onToken)
}

// EmbeddingModel is the model the embeddings endpoint embeds with; "" when
// none is configured (the runtime then keeps the local embedder).
func (r *Router) EmbeddingModel() string { return r.embed.members[0].opts.EmbeddingModel }

// DefaultModel is the chat endpoint's model for requests that name none.
func (r *Router) DefaultModel() string { return r.chat.members[0].opts.Model }

// Embed sends the texts to the embeddings pool.
func (r *Router) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	return embed(ctx, r.embed, texts)
}

// EndpointStats is every endpoint's state and counters, sorted by name.
func (r *Router) EndpointStats() []EndpointStats {
	now := time.Now()
	out := make([]EndpointStats, 0, len(r.names))
	for _, name := range r.names {
		out = append(out, r.endpoints[name].stats(now))
	}
	return out
}

// Describe says in one line which endpoints serve what, for the startup
// log: "chat: gpu1, gpu2; embeddings: tei; pool llama-3.1-8b: gpu1, gpu2".
func (r *Router) Describe() string {
	parts := []string{"chat: " + strings.Join(r.chat.names(), ", "), "embeddings: " + strings.Join(r.embed.names(), ", ")}
	models := make([]string, 0, len(r.byModel))
	for m := range r.byModel {
		models = append(models, m)
	}
	sort.Strings(models)
	for _, m := range models {
		if p := r.byModel[m]; len(p.members) > 1 {
			parts = append(parts, "pool "+m+": "+strings.Join(p.names(), ", "))
		}
	}
	if r.checker != nil {
		parts = append(parts, "health checks every "+r.checker.cfg.Interval.String())
	} else {
		parts = append(parts, "passive health")
	}
	return strings.Join(parts, "; ")
}
