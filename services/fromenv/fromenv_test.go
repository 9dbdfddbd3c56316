package fromenv_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/services"
	"github.com/grimoire-run/grimoire/services/devllm"
	"github.com/grimoire-run/grimoire/services/fromenv"
	"github.com/grimoire-run/grimoire/services/weaviate/weaviatetest"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func open(t *testing.T, vars map[string]string) *fromenv.Services {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := fromenv.Open(ctx, fromenv.Options{DataDir: t.TempDir(), Getenv: env(vars)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func roundTrip(t *testing.T, s *fromenv.Services) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	vs, err := s.Embedder.Embed(ctx, []string{"red apples", "green pears"})
	if err != nil {
		t.Fatal(err)
	}
	docs := []services.Document{{ID: "a", Text: "red apples", Vector: vs[0]}, {ID: "b", Text: "green pears", Vector: vs[1]}}
	if err := s.Vectors.Upsert(ctx, "fruit", "alice", docs); err != nil {
		t.Fatal(err)
	}
	hits, err := s.Vectors.Search(ctx, "fruit", "alice", services.SearchQuery{Vector: vs[1], Limit: 1})
	if err != nil || len(hits) != 1 || hits[0].ID != "b" {
		t.Fatalf("search: %v %v", hits, err)
	}
}

func TestNothingConfiguredUsesEmbeddedDefaults(t *testing.T) {
	s := open(t, nil)
	if s.Completion != nil {
		t.Error("a completion service with no endpoint configured")
	}
	if !strings.Contains(s.Summary, "local lexical embedder") || !strings.Contains(s.Summary, "embedded index") {
		t.Errorf("summary %q", s.Summary)
	}
	roundTrip(t, s)
}

func TestOneEndpointFromEnv(t *testing.T) {
	srv := devllm.New(t, devllm.Options{})
	s := open(t, map[string]string{
		"GRIMOIRE_OPENAI_BASE_URL": srv.URL, "GRIMOIRE_OPENAI_MODEL": "chat-model",
		"GRIMOIRE_OPENAI_EMBEDDING_MODEL": "embed-model", "GRIMOIRE_OPENAI_MODEL_ALIASES": "fast=small-model",
	})
	if s.DefaultModel != "chat-model" {
		t.Errorf("default model %q", s.DefaultModel)
	}
	resp, err := s.Completion.Complete(t.Context(), services.CompletionRequest{Model: "fast", Messages: []services.Message{{Role: "user", Content: "ping"}}}, nil)
	if err != nil || resp.Text != "ping" {
		t.Fatalf("complete: %q %v", resp.Text, err)
	}
	if got := srv.RequestsTo(devllm.Chat)[0].JSON["model"]; got != "small-model" {
		t.Errorf("alias resolved to %v", got)
	}
	roundTrip(t, s)
	if len(srv.RequestsTo(devllm.Embeddings)) == 0 {
		t.Error("embeddings did not go to the endpoint's embedding model")
	}

	// Forcing the local embedder keeps embeddings off the endpoint.
	srv2 := devllm.New(t, devllm.Options{})
	s2 := open(t, map[string]string{"GRIMOIRE_OPENAI_BASE_URL": srv2.URL, "GRIMOIRE_OPENAI_EMBEDDING_MODEL": "e", "GRIMOIRE_EMBEDDER": "local"})
	roundTrip(t, s2)
	if n := len(srv2.RequestsTo(devllm.Embeddings)); n != 0 {
		t.Errorf("%d embedding requests with GRIMOIRE_EMBEDDER=local", n)
	}
}

func TestEndpointsFile(t *testing.T) {
	chat := devllm.New(t, devllm.Options{})
	emb := devllm.New(t, devllm.Options{})
	path := filepath.Join(t.TempDir(), "endpoints.json")
	cfg := `{"chat": "gpu", "embeddings": "tei", "endpoints": {
	  "gpu": {"baseURL": "` + chat.URL + `", "apiKeyEnv": "GPU_KEY", "model": "big"},
	  "tei": {"baseURL": "` + emb.URL + `", "embeddingModel": "bge-m3"}}}`
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s := open(t, map[string]string{"GRIMOIRE_OPENAI_CONFIG": path, "GPU_KEY": "k"})
	if _, err := s.Completion.Complete(t.Context(), services.CompletionRequest{Messages: []services.Message{{Role: "user", Content: "x"}}}, nil); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, s)
	if len(chat.RequestsTo(devllm.Chat)) != 1 || len(emb.RequestsTo(devllm.Embeddings)) == 0 || len(chat.RequestsTo(devllm.Embeddings)) != 0 {
		t.Errorf("chat went to %d/%d, embeddings to %d (tei) and %d (gpu)", len(chat.RequestsTo(devllm.Chat)), len(emb.RequestsTo(devllm.Chat)),
			len(emb.RequestsTo(devllm.Embeddings)), len(chat.RequestsTo(devllm.Embeddings)))
	}
}

func TestBadConfigurationIsAnError(t *testing.T) {
	for name, vars := range map[string]map[string]string{
		"embedder":        {"GRIMOIRE_EMBEDDER": "neural"},
		"openai embedder": {"GRIMOIRE_EMBEDDER": "openai"},
		"weaviate url":    {"GRIMOIRE_WEAVIATE_URL": "ftp://weaviate:8080"},
		"batch wait":      {"GRIMOIRE_OPENAI_BASE_URL": "http://127.0.0.1:1/v1", "GRIMOIRE_OPENAI_EMBEDDING_MODEL": "e", "GRIMOIRE_EMBED_BATCH_WAIT": "soon"},
		"config file":     {"GRIMOIRE_OPENAI_CONFIG": "/nonexistent/endpoints.json"},
		"aliases":         {"GRIMOIRE_OPENAI_BASE_URL": "http://127.0.0.1:1/v1", "GRIMOIRE_OPENAI_MODEL_ALIASES": "fast"},
		"mcp servers":     {"GRIMOIRE_MCP_SERVERS": "search=http://x"},
		"mcp server url":  {"GRIMOIRE_MCP_SERVERS": `{"search": {"url": "ftp://x/mcp"}}`},
	} {
		t.Run(name, func(t *testing.T) {
			s, err := fromenv.Open(context.Background(), fromenv.Options{DataDir: t.TempDir(), Getenv: env(vars)})
			if err == nil {
				s.Close()
				t.Fatal("no error")
			}
			t.Log(err)
		})
	}
}

func TestWeaviateWhenConfigured(t *testing.T) {
	srv := weaviatetest.Start(t)
	s := open(t, map[string]string{"GRIMOIRE_WEAVIATE_URL": srv.Host}) // no scheme: http
	if !strings.Contains(s.Summary, "weaviate") {
		t.Errorf("summary %q", s.Summary)
	}
	roundTrip(t, s)
}

func TestPoolIsNamedInTheSummary(t *testing.T) {
	gpu1 := devllm.New(t, devllm.Options{})
	gpu2 := devllm.New(t, devllm.Options{})
	path := filepath.Join(t.TempDir(), "endpoints.json")
	cfg := `{"chat": ["gpu1", "gpu2"], "healthCheck": {"interval": "1h"}, "endpoints": {
	  "gpu1": {"baseURL": "` + gpu1.URL + `", "model": "big", "models": ["llama-3.1-8b"]},
	  "gpu2": {"baseURL": "` + gpu2.URL + `", "model": "big", "models": ["llama-3.1-8b"]}}}`
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s := open(t, map[string]string{"GRIMOIRE_OPENAI_CONFIG": path})
	for _, want := range []string{"chat: gpu1, gpu2", "pool llama-3.1-8b: gpu1, gpu2", "health checks every 1h0m0s"} {
		if !strings.Contains(s.Summary, want) {
			t.Errorf("summary %q does not contain %q", s.Summary, want)
		}
	}
}

func TestMCPServersWhenConfigured(t *testing.T) {
	if s := open(t, nil); s.ToolServers != nil {
		t.Fatal("tool servers without GRIMOIRE_MCP_SERVERS")
	}
	s := open(t, map[string]string{"GRIMOIRE_MCP_SERVERS": `{"search": {"url": "http://127.0.0.1:1/mcp", "token": "t"}}`})
	if s.ToolServers == nil || !strings.Contains(s.Summary, "MCP servers: search") {
		t.Fatalf("tool servers %v, summary %q", s.ToolServers, s.Summary)
	}
	// Configured but unreachable: the error names the server.
	_, err := s.ToolServers.ListTools(context.Background(), "search")
	if err == nil || !strings.Contains(err.Error(), `MCP server "search"`) {
		t.Fatalf("ListTools of an unreachable server: %v", err)
	}
}
