package openai_test

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/services/completiontest"
	"github.com/grimoire-run/grimoire/services/devllm"
	"github.com/grimoire-run/grimoire/services/openai"
)

var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// newClient starts a fresh test double and a client for it with fast retries.
func newClient(t testing.TB, srvOpts devllm.Options, mod ...func(*openai.Options)) (*openai.Client, *devllm.Server) {
	t.Helper()
	srv := devllm.New(t, srvOpts)
	opts := openai.Options{
		Name: "gpu1", BaseURL: srv.URL, APIKey: srvOpts.APIKey, Model: "llama-3.1-8b", EmbeddingModel: "bge-m3",
		StreamIdleTimeout: 2 * time.Second,
		Retry:             openai.RetryPolicy{InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond},
		Logger:            quietLogger,
	}
	for _, m := range mod {
		m(&opts)
	}
	c, err := openai.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c, srv
}

func TestClientPassesCompletionContract(t *testing.T) {
	c, _ := newClient(t, devllm.Options{APIKey: "sk-test"})
	completiontest.Run(t, c)
}

func TestClientPassesEmbedderContract(t *testing.T) {
	c, _ := newClient(t, devllm.Options{})
	completiontest.RunEmbedder(t, c)
}

func TestRouterPassesContracts(t *testing.T) {
	chat := devllm.New(t, devllm.Options{})
	embed := devllm.New(t, devllm.Options{Dimensions: 8})
	r, err := openai.NewRouter(openai.Config{
		Chat: openai.EndpointNames{"chat"}, Embeddings: openai.EndpointNames{"embed"},
		Endpoints: map[string]openai.EndpointConfig{
			"chat":  {BaseURL: chat.URL, Model: "llama"},
			"embed": {BaseURL: embed.URL, EmbeddingModel: "bge-m3"},
		},
	}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	completiontest.Run(t, r)
	completiontest.RunEmbedder(t, r)
	if len(chat.RequestsTo(devllm.Embeddings)) > 0 || len(embed.RequestsTo(devllm.Chat)) > 0 {
		t.Fatal("router sent requests to the wrong endpoint")
	}
}
