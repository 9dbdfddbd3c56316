package openai

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/grimoire-run/grimoire/services"
)

// Options configure one endpoint. Only BaseURL is required; the rest have
// defaults.
type Options struct {
	// Name identifies the endpoint in errors and logs (default "default").
	Name string
	// BaseURL includes the API version path, as OpenAI's does:
	// "http://gpu1:8000/v1", "https://api.openai.com/v1".
	BaseURL string
	APIKey  string
	// Model is the chat/text model used when a request names none.
	Model string
	// EmbeddingModel is the model Embed uses.
	EmbeddingModel string
	// Aliases map the model names spells use ("fast", "davinci") to the
	// names the server knows ("llama-3.1-8b").
	Aliases map[string]string
	// MaxConcurrent bounds the calls in flight to this endpoint (default 8;
	// negative: unbounded). Waiting for a slot honours the context.
	MaxConcurrent int
	// RequestTimeout bounds each attempt, streaming included (default 5m).
	// The caller's context bounds the whole call, retries included.
	RequestTimeout time.Duration
	// StreamIdleTimeout fails a stream that sends no bytes for this long
	// (default 30s).
	StreamIdleTimeout time.Duration
	// Retry is the retry policy.
	Retry RetryPolicy
	// NoStreamUsage stops asking for the usage chunk
	// (stream_options.include_usage), for servers that reject the field.
	NoStreamUsage bool
	// HTTPClient replaces the default client (its Timeout should be zero:
	// timeouts come from the context).
	HTTPClient *http.Client
	Logger     *slog.Logger
}

// RetryPolicy decides when a failed attempt is tried again: on 408, 429 and
// 5xx statuses, connection resets, attempt timeouts and stalled or cut
// streams, and never after a streamed token reached the caller.
type RetryPolicy struct {
	// MaxAttempts counts the first attempt (default 4; 1 disables retries).
	MaxAttempts int
	// InitialBackoff is the wait before the second attempt, doubling for
	// each further one up to MaxBackoff, with jitter (defaults 250ms, 10s).
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// MaxRetryAfter is the longest Retry-After honoured (default 60s); a
	// server asking for longer fails the call at once.
	MaxRetryAfter time.Duration
}

func (o Options) withDefaults() Options {
	if o.Name == "" {
		o.Name = "default"
	}
	if o.MaxConcurrent == 0 {
		o.MaxConcurrent = 8
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 5 * time.Minute
	}
	if o.StreamIdleTimeout <= 0 {
		o.StreamIdleTimeout = 30 * time.Second
	}
	r := &o.Retry
	if r.MaxAttempts <= 0 {
		r.MaxAttempts = 4
	}
	if r.InitialBackoff <= 0 {
		r.InitialBackoff = 250 * time.Millisecond
	}
	if r.MaxBackoff <= 0 {
		r.MaxBackoff = 10 * time.Second
	}
	r.MaxBackoff = max(r.MaxBackoff, r.InitialBackoff)
	if r.MaxRetryAfter <= 0 {
		r.MaxRetryAfter = time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// resolve maps an alias to the server's model name, and "" to def.
func (o Options) resolve(model, def string) string {
	if model == "" {
		model = def
	}
	if real, ok := o.Aliases[model]; ok {
		return real
	}
	return model
}

// Environment variables read by FromEnv.
const (
	EnvBaseURL        = "GRIMOIRE_OPENAI_BASE_URL"
	EnvAPIKey         = "GRIMOIRE_OPENAI_API_KEY"
	EnvModel          = "GRIMOIRE_OPENAI_MODEL"
	EnvEmbeddingModel = "GRIMOIRE_OPENAI_EMBEDDING_MODEL"
	EnvModelAliases   = "GRIMOIRE_OPENAI_MODEL_ALIASES"
	// EnvConfig names a JSON endpoints file (see Config); when set, it
	// replaces the other variables.
	EnvConfig = "GRIMOIRE_OPENAI_CONFIG"
)

// OptionsFromEnv reads one endpoint's options through getenv (os.Getenv in
// production). With no base URL it returns an error wrapping
// services.ErrNoCompletionEndpoint.
func OptionsFromEnv(getenv func(string) string) (Options, error) {
	opts := Options{
		BaseURL:        strings.TrimSpace(getenv(EnvBaseURL)),
		APIKey:         strings.TrimSpace(getenv(EnvAPIKey)),
		Model:          strings.TrimSpace(getenv(EnvModel)),
		EmbeddingModel: strings.TrimSpace(getenv(EnvEmbeddingModel)),
	}
	if opts.BaseURL == "" {
		return Options{}, services.ErrNoCompletionEndpoint
	}
	aliases, err := ParseAliases(getenv(EnvModelAliases))
	if err != nil {
		return Options{}, fmt.Errorf("%s: %w", EnvModelAliases, err)
	}
	opts.Aliases = aliases
	return opts, nil
}

// FromEnv builds the router the environment describes: the endpoints file
// named by GRIMOIRE_OPENAI_CONFIG, or else one endpoint from
// GRIMOIRE_OPENAI_BASE_URL, _API_KEY, _MODEL, _EMBEDDING_MODEL and
// _MODEL_ALIASES serving both chat and embeddings. With neither it returns an
// error wrapping services.ErrNoCompletionEndpoint.
func FromEnv() (*Router, error) { return RouterFromEnv(os.Getenv) }

// RouterFromEnv is FromEnv reading the environment through getenv (tests
// and the runtime pass their own).
func RouterFromEnv(getenv func(string) string) (*Router, error) {
	if path := strings.TrimSpace(getenv(EnvConfig)); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s: load endpoints config: %w", EnvConfig, err)
		}
		cfg, err := ParseConfig(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		r, err := NewRouter(cfg, getenv)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return r, nil
	}
	opts, err := OptionsFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	c, err := New(opts)
	if err != nil {
		return nil, err
	}
	return singleRouter(c), nil
}

// ParseAliases reads "fast=llama-3.1-8b,big=llama-3.1-70b". Spaces around
// names are ignored; an empty string is no aliases.
func ParseAliases(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, pair := range strings.Split(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		alias, model, ok := strings.Cut(pair, "=")
		alias, model = strings.TrimSpace(alias), strings.TrimSpace(model)
		if !ok || alias == "" || model == "" {
			return nil, fmt.Errorf("alias %q: want alias=model, e.g. fast=llama-3.1-8b", pair)
		}
		if prev, dup := out[alias]; dup && prev != model {
			return nil, fmt.Errorf("alias %q given twice (%q and %q)", alias, prev, model)
		}
		out[alias] = model
	}
	return out, nil
}

// FormatAliases is the inverse of ParseAliases, sorted by alias.
func FormatAliases(aliases map[string]string) string {
	keys := make([]string, 0, len(aliases))
	for k := range aliases {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + aliases[k]
	}
	return strings.Join(parts, ",")
}
