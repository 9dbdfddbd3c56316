package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/events/memory"
	"github.com/grimoire-run/grimoire/nodes"
	"github.com/grimoire-run/grimoire/services/fromenv"
	"github.com/grimoire-run/grimoire/services/jsvm"
)

// openServices builds what node types call, from the environment (see
// docs/services.md): completions and embeddings from the OpenAI-compatible
// endpoints named by GRIMOIRE_OPENAI_*, embeddings from the local lexical
// embedder and vectors from the embedded index under dir/vectors when
// nothing else is configured, Weaviate when GRIMOIRE_WEAVIATE_URL is set,
// agent memory in the event store, and the JavaScript sandbox.
func openServices(ctx context.Context, env *cliEnv, dir string, store events.Store, log *slog.Logger) (nodes.Services, func() error, error) {
	fs, err := fromenv.Open(ctx, fromenv.Options{DataDir: dir, Getenv: env.getenv, Logger: log})
	if err != nil {
		return nodes.Services{}, func() error { return nil }, err
	}
	log.Info("services", "summary", fs.Summary)
	sandbox := jsvm.New(jsvm.Options{})
	svc := nodes.Services{
		Completion:   fs.Completion,
		Embedder:     fs.Embedder,
		Vectors:      fs.Vectors,
		Memory:       memory.New(store, memory.Options{}),
		Sandbox:      sandbox,
		DefaultModel: fs.DefaultModel,
	}
	return svc, func() error { return errors.Join(sandbox.Close(), fs.Close()) }, nil
}
