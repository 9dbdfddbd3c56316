package fromenv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/grimoire-run/grimoire/services"
	"github.com/grimoire-run/grimoire/services/embedbatch"
	"github.com/grimoire-run/grimoire/services/localembed"
	"github.com/grimoire-run/grimoire/services/mcpclient"
	"github.com/grimoire-run/grimoire/services/openai"
	"github.com/grimoire-run/grimoire/services/vectorindex"
	"github.com/grimoire-run/grimoire/services/weaviate"
)

// Environment variables read here, besides those of services/openai.
const (
	// EnvEmbedder forces the embedder: "local" or "openai".
	EnvEmbedder = "GRIMOIRE_EMBEDDER"
	// EnvWeaviateURL selects Weaviate for vectors: "http://host:8080".
	EnvWeaviateURL = "GRIMOIRE_WEAVIATE_URL"
	// EnvWeaviateAPIKey authenticates with Weaviate's API-key scheme.
	EnvWeaviateAPIKey = "GRIMOIRE_WEAVIATE_API_KEY"
	// EnvEmbedBatchWait is the most time micro-batching adds to an
	// embedding call ("5ms" by default; "0" turns batching off).
	EnvEmbedBatchWait = "GRIMOIRE_EMBED_BATCH_WAIT"
	// EnvMCPServers names the external MCP servers a Chat Completion node
	// may use: {"search": {"url": "http://host:9000/mcp", "token": "…"}}.
	EnvMCPServers = "GRIMOIRE_MCP_SERVERS"
)

// Options say where to look.
type Options struct {
	// DataDir holds the embedded vector index (DataDir/vectors). Required
	// unless GRIMOIRE_WEAVIATE_URL is set.
	DataDir string
	// Getenv reads the environment (default os.Getenv).
	Getenv func(string) string
	Logger *slog.Logger
}

// Services are the configured services. Close releases them.
type Services struct {
	// Completion is nil when no endpoint is configured.
	Completion services.Completion
	Embedder   services.Embedder
	Vectors    services.VectorStore
	// ToolServers are the MCP servers of GRIMOIRE_MCP_SERVERS (nil when
	// none are configured).
	ToolServers services.ToolServers
	// DefaultModel is the chat endpoint's default model ("" when none).
	DefaultModel string
	// Router is the OpenAI-compatible router behind Completion (nil when
	// none), for callers that want its endpoints.
	Router *openai.Router
	// Summary says in one line what was chosen, for the startup log.
	Summary string

	closers []func() error
}

// Close releases what Open opened, in reverse order.
func (s *Services) Close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		if err := s.closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	s.closers = nil
	return errors.Join(errs...)
}

// Open builds the services the environment describes. A configuration that
// is present but wrong (a bad URL, a missing key variable) is an error; a
// missing completion endpoint is not.
func Open(ctx context.Context, opts Options) (*Services, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Services{}
	var summary []string
	fail := func(err error) (*Services, error) {
		s.Close()
		return nil, err
	}

	router, err := openai.RouterFromEnv(getenv)
	switch {
	case errors.Is(err, services.ErrNoCompletionEndpoint):
		summary = append(summary, "completion: none (set "+openai.EnvBaseURL+")")
	case err != nil:
		return fail(fmt.Errorf("completion endpoint: %w", err))
	default:
		router.SetLogger(log)
		s.closers = append(s.closers, router.Close)
		s.Router, s.Completion, s.DefaultModel = router, router, router.DefaultModel()
		summary = append(summary, "completion: OpenAI-compatible endpoints ("+router.Describe()+")")
	}

	useRemote := router != nil && router.EmbeddingModel() != ""
	switch e := strings.ToLower(strings.TrimSpace(getenv(EnvEmbedder))); e {
	case "", "auto":
	case "local":
		useRemote = false
	case "openai":
		if router == nil || router.EmbeddingModel() == "" {
			return fail(fmt.Errorf("%s=openai needs an endpoint with an embedding model: set %s and %s", EnvEmbedder, openai.EnvBaseURL, openai.EnvEmbeddingModel))
		}
		useRemote = true
	default:
		return fail(fmt.Errorf("%s=%q: want local or openai", EnvEmbedder, e))
	}
	if useRemote {
		wait := 5 * time.Millisecond
		if v := strings.TrimSpace(getenv(EnvEmbedBatchWait)); v != "" {
			if wait, err = time.ParseDuration(v); err != nil || wait < 0 {
				return fail(fmt.Errorf("%s=%q: want a duration such as 5ms (0 turns batching off)", EnvEmbedBatchWait, v))
			}
		}
		if wait > 0 {
			b := embedbatch.New(router, embedbatch.Options{MaxWait: wait})
			s.closers = append(s.closers, b.Close)
			s.Embedder = b
		} else {
			s.Embedder = router
		}
		summary = append(summary, "embeddings: "+router.EmbeddingModel()+" (micro-batched)")
	} else {
		emb, err := localembed.New(localembed.Options{})
		if err != nil {
			return fail(fmt.Errorf("local embedder: %w", err))
		}
		s.Embedder = emb
		summary = append(summary, "embeddings: local lexical embedder")
	}

	if raw := strings.TrimSpace(getenv(EnvWeaviateURL)); raw != "" {
		if !strings.Contains(raw, "://") {
			raw = "http://" + raw // "weaviate:8080", as people write it
		}
		u, err := url.Parse(strings.TrimSuffix(raw, "/"))
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return fail(fmt.Errorf("%s=%q: want a URL such as http://127.0.0.1:8080", EnvWeaviateURL, raw))
		}
		st, err := weaviate.New(ctx, weaviate.Options{Host: u.Host, Scheme: u.Scheme, APIKey: getenv(EnvWeaviateAPIKey), Logger: log})
		if err != nil {
			return fail(fmt.Errorf("weaviate at %s: %w", raw, err))
		}
		s.closers = append(s.closers, st.Close)
		s.Vectors = st
		summary = append(summary, "vectors: weaviate "+u.Host)
	} else {
		if opts.DataDir == "" {
			return fail(fmt.Errorf("vector index: no data directory given (or set %s)", EnvWeaviateURL))
		}
		dir := filepath.Join(opts.DataDir, "vectors")
		ix, err := vectorindex.Open(vectorindex.Options{Dir: dir, Logger: log})
		if err != nil {
			return fail(fmt.Errorf("vector index in %s: %w", dir, err))
		}
		s.closers = append(s.closers, ix.Close)
		s.Vectors = ix
		summary = append(summary, "vectors: embedded index "+dir)
	}
	if raw := strings.TrimSpace(getenv(EnvMCPServers)); raw != "" {
		servers, err := mcpclient.ParseServers(raw)
		if err != nil {
			return fail(fmt.Errorf("%s: %w", EnvMCPServers, err))
		}
		c := mcpclient.New(servers)
		s.closers = append(s.closers, c.Close)
		s.ToolServers = c
		summary = append(summary, "MCP servers: "+strings.Join(c.Names(), ", "))
	}
	s.Summary = strings.Join(summary, "; ")
	return s, nil
}
