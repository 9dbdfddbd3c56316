package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

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
	sbOpts, err := sandboxOptions(env)
	if err != nil {
		return nodes.Services{}, func() error { return nil }, err
	}
	fs, err := fromenv.Open(ctx, fromenv.Options{DataDir: dir, Getenv: env.getenv, Logger: log})
	if err != nil {
		return nodes.Services{}, func() error { return nil }, err
	}
	log.Info("services", "summary", fs.Summary)
	sandbox := jsvm.New(sbOpts)
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

// envCodeMaxTimeout caps the time a Code node may ask for ("30s" default).
const envCodeMaxTimeout = "GRIMOIRE_CODE_MAX_TIMEOUT"

// sandboxOptions reads the sandbox's settings from the environment.
func sandboxOptions(env *cliEnv) (jsvm.Options, error) {
	var o jsvm.Options
	if v := env.getenv(envCodeMaxTimeout); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > time.Hour {
			return o, fmt.Errorf("%s=%q: want a duration up to 1h, such as 30s", envCodeMaxTimeout, v)
		}
		o.MaxTimeout = d
	}
	return o, nil
}
