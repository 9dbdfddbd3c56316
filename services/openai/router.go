package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/grimoire-run/grimoire/services"
)

// Config is the endpoints file: several named endpoints and which one
// serves chat (and text) completions and which embeddings.
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
type Config struct {
	Chat       string                    `json:"chat,omitempty"`
	Embeddings string                    `json:"embeddings,omitempty"`
	Endpoints  map[string]EndpointConfig `json:"endpoints"`
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

// Router dispatches completions and embeddings to named endpoints. It
// implements services.Completion and services.Embedder.
type Router struct {
	chat, embed *Client
	byModel     map[string]*Client
	endpoints   map[string]*Client
}

// SetLogger sends the endpoints' logs (retries) to log; call it before the
// router is used.
func (r *Router) SetLogger(log *slog.Logger) {
	if log == nil {
		return
	}
	for _, c := range r.endpoints {
		c.opts.Logger = log
	}
}

var (
	_ services.Completion = (*Router)(nil)
	_ services.Embedder   = (*Router)(nil)
)

// NewRouter builds the endpoints of cfg; getenv resolves apiKeyEnv.
func NewRouter(cfg Config, getenv func(string) string) (*Router, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, fmt.Errorf("endpoints config: no endpoints: %w", services.ErrNoCompletionEndpoint)
	}
	r := &Router{byModel: map[string]*Client{}, endpoints: map[string]*Client{}}
	names := make([]string, 0, len(cfg.Endpoints))
	for name := range cfg.Endpoints {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
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
		c, err := New(opts)
		if err != nil {
			return nil, err
		}
		r.endpoints[name] = c
		served := append([]string(nil), ec.Models...)
		for alias := range ec.Aliases {
			served = append(served, alias)
		}
		for _, m := range served {
			if other, dup := r.byModel[m]; dup && other != c {
				return nil, fmt.Errorf("model %q is listed by endpoints %q and %q: list it in one", m, other.Name(), name)
			}
			r.byModel[m] = c
		}
	}
	pick := func(role, name, fallback string) (*Client, error) {
		if name == "" {
			name = fallback
		}
		if name == "" {
			return nil, fmt.Errorf("several endpoints (%s): name the %s endpoint in %q", strings.Join(names, ", "), role, role)
		}
		c, ok := r.endpoints[name]
		if !ok {
			return nil, fmt.Errorf("%s endpoint %q is not among the endpoints (%s)", role, name, strings.Join(names, ", "))
		}
		return c, nil
	}
	only := ""
	if len(names) == 1 {
		only = names[0]
	}
	var err error
	if r.chat, err = pick("chat", cfg.Chat, only); err != nil {
		return nil, err
	}
	if r.embed, err = pick("embeddings", cfg.Embeddings, r.chat.Name()); err != nil {
		return nil, err
	}
	return r, nil
}

// Endpoint returns a named endpoint, or nil.
func (r *Router) Endpoint(name string) *Client { return r.endpoints[name] }

// For returns the endpoint that serves completions for model.
func (r *Router) For(model string) *Client {
	if c, ok := r.byModel[model]; ok {
		return c
	}
	return r.chat
}

// Complete sends the request to the endpoint serving req.Model.
func (r *Router) Complete(ctx context.Context, req services.CompletionRequest, onToken func(string)) (services.CompletionResponse, error) {
	return r.For(req.Model).Complete(ctx, req, onToken)
}

// EmbeddingModel is the model the embeddings endpoint embeds with; "" when
// none is configured (the runtime then keeps the local embedder).
func (r *Router) EmbeddingModel() string { return r.embed.opts.EmbeddingModel }

// DefaultModel is the chat endpoint's model for requests that name none.
func (r *Router) DefaultModel() string { return r.chat.opts.Model }

// Embed sends the texts to the embeddings endpoint.
func (r *Router) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	return r.embed.Embed(ctx, texts)
}
