package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/events/memory"
	"github.com/grimoire-run/grimoire/nodes"
	"github.com/grimoire-run/grimoire/services"
	"github.com/grimoire-run/grimoire/services/fromenv"
	"github.com/grimoire-run/grimoire/services/jsvm"
	"github.com/grimoire-run/grimoire/services/openai"
	"github.com/grimoire-run/grimoire/services/sandbox"
)

// openServices builds what node types call, from the environment (see
// docs/services.md): completions and embeddings from the OpenAI-compatible
// endpoints named by GRIMOIRE_OPENAI_*, embeddings from the local lexical
// embedder and vectors from the embedded index under dir/vectors when
// nothing else is configured, Weaviate when GRIMOIRE_WEAVIATE_URL is set,
// agent memory in the event store, and the JavaScript sandbox. The
// inference pool (nil when no endpoint is configured) is returned beside
// them for its metrics.
func openServices(ctx context.Context, env *cliEnv, dir string, store events.Store, log *slog.Logger) (nodes.Services, *openai.Router, func() error, error) {
	noop := func() error { return nil }
	sbSettings, err := sandboxSettings(env)
	if err != nil {
		return nodes.Services{}, nil, noop, err
	}
	fs, err := fromenv.Open(ctx, fromenv.Options{DataDir: dir, Getenv: env.getenv, Logger: log})
	if err != nil {
		return nodes.Services{}, nil, noop, err
	}
	log.Info("services", "summary", fs.Summary)
	sandbox, err := sbSettings.open()
	if err != nil {
		return nodes.Services{}, nil, noop, errors.Join(err, fs.Close())
	}
	svc := nodes.Services{
		Completion:   fs.Completion,
		Embedder:     fs.Embedder,
		Vectors:      fs.Vectors,
		ToolServers:  fs.ToolServers,
		Memory:       memory.New(store, memory.Options{}),
		Sandbox:      sandbox,
		DefaultModel: fs.DefaultModel,
	}
	return svc, fs.Router, func() error { return errors.Join(sandbox.Close(), fs.Close()) }, nil
}

// The Code node's sandbox settings (docs/services.md, docs/decisions/0008).
const (
	envCodeMaxTimeout     = "GRIMOIRE_CODE_MAX_TIMEOUT"       // the most time a Code node may ask for ("30s" default)
	envCodeSandbox        = "GRIMOIRE_CODE_SANDBOX"           // process (default) or none
	envCodeSandboxWorkers = "GRIMOIRE_CODE_SANDBOX_WORKERS"   // worker processes, default the number of CPUs (at least 2)
	envCodeSandboxMemory  = "GRIMOIRE_CODE_SANDBOX_MEMORY_MB" // heap one activation may grow by, default 256
	// the most workers one user holds while other users run Code, default workers-1 (at least 1)
	envCodeSandboxWorkersPerUser = "GRIMOIRE_CODE_SANDBOX_WORKERS_PER_USER"
)

// codeSandbox is how Code nodes' JavaScript runs.
type codeSandbox struct {
	process     bool // in worker processes (services/sandbox), else in this process (jsvm)
	js          jsvm.Options
	workers     int
	perUser     int
	memoryBytes uint64
}

// sandboxCloser is a Code sandbox the runtime closes.
type sandboxCloser interface {
	services.Sandbox
	Close() error
}

func (c codeSandbox) open() (sandboxCloser, error) {
	if !c.process {
		return jsvm.New(c.js), nil
	}
	return sandbox.New(sandbox.Options{Workers: c.workers, WorkersPerUser: c.perUser, MemoryBytes: c.memoryBytes, JS: c.js, Prewarm: true})
}

// sandboxSettings reads the sandbox's settings from the environment.
func sandboxSettings(env *cliEnv) (codeSandbox, error) {
	c := codeSandbox{process: true}
	switch v := strings.TrimSpace(env.getenv(envCodeSandbox)); v {
	case "", "process":
	case "none":
		c.process = false
	default:
		return c, fmt.Errorf("%s=%q: want process (each activation in a worker process, the default) or none (in the server's process)", envCodeSandbox, v)
	}
	if v := env.getenv(envCodeMaxTimeout); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > time.Hour {
			return c, fmt.Errorf("%s=%q: want a duration up to 1h, such as 30s", envCodeMaxTimeout, v)
		}
		c.js.MaxTimeout = d
	}
	if v := env.getenv(envCodeSandboxWorkers); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1024 {
			return c, fmt.Errorf("%s=%q: want a number of worker processes from 1 to 1024", envCodeSandboxWorkers, v)
		}
		c.workers = n
	}
	if v := env.getenv(envCodeSandboxWorkersPerUser); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1024 {
			return c, fmt.Errorf("%s=%q: want the most worker processes one user may hold while others wait, from 1 to 1024", envCodeSandboxWorkersPerUser, v)
		}
		if c.workers > 0 && n > c.workers {
			return c, fmt.Errorf("%s=%q: more than the %d workers of %s", envCodeSandboxWorkersPerUser, v, c.workers, envCodeSandboxWorkers)
		}
		c.perUser = n
	}
	if v := env.getenv(envCodeSandboxMemory); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 16 || n > 65536 {
			return c, fmt.Errorf("%s=%q: want a number of MiB from 16 to 65536, such as 256", envCodeSandboxMemory, v)
		}
		c.memoryBytes = uint64(n) << 20
		c.js.MaxHeapGrowth = c.memoryBytes
	}
	return c, nil
}
