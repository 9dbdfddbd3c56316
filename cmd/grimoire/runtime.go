package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/events/bus"
	"github.com/grimoire-run/grimoire/events/embedded"
	"github.com/grimoire-run/grimoire/events/esdb"
	pgstore "github.com/grimoire-run/grimoire/events/postgres"
	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/nodes"
	"github.com/grimoire-run/grimoire/projections"
	"github.com/grimoire-run/grimoire/projections/cache"
	runsmodel "github.com/grimoire-run/grimoire/projections/runs"
	spellsmodel "github.com/grimoire-run/grimoire/projections/spells"
	usagemodel "github.com/grimoire-run/grimoire/projections/usage"
	"github.com/grimoire-run/grimoire/server/runs"
	"github.com/grimoire-run/grimoire/server/spells"
	"github.com/grimoire-run/grimoire/services/jsvm"
	"github.com/grimoire-run/grimoire/services/openai"
	"github.com/grimoire-run/grimoire/services/tracing"
)

// Environment settings read by every command that opens a runtime.
const (
	envData       = "GRIMOIRE_DATA"
	envEventStore = "GRIMOIRE_EVENTSTORE_URL"
	// envBlobDir names the blob directory (default DATA/blobs). With
	// EventStoreDB it is required and must be shared by every process.
	envBlobDir = "GRIMOIRE_BLOB_DIR"
	// envStoreBackgroundRate caps how fast the embedded log's flushes and
	// compactions write, in MiB/s; 0 leaves them unpaced.
	envStoreBackgroundRate = "GRIMOIRE_STORE_BACKGROUND_MBPS"
	// envPrices names a JSON price table by model, for the usage model's
	// costs: {"gpt-4o": {"promptPerMTok": 2.5, "completionPerMTok": 10}}.
	envPrices = "GRIMOIRE_PRICES"
)

// shutdownGrace is how long runs in progress may take to finish when the
// process stops.
const shutdownGrace = 10 * time.Second

// runtimeOptions are the settings shared by the commands that run spells.
type runtimeOptions struct {
	DataDir string
	// Logger receives the components' logs (default: warnings and errors
	// on stderr, so that a command's stdout stays machine-readable).
	Logger *slog.Logger
	// NoProjections skips starting the read models (commands that only
	// append, like run).
	NoProjections bool
	// Linger is how long a run's events may gather before they are
	// appended (0: the recorder's default, which favours throughput).
	Linger time.Duration
}

// runtime is a wired Grimoire: node types with their services, a runner,
// the event store, the bus, the spell library, the run executor and the
// read models. Every command that touches history opens one.
type runtime struct {
	// Services are what the node types call (the server's MCP
	// search_knowledge tool too).
	Services nodes.Services
	Catalog  *nodes.Registry
	Runner   *graph.Runner
	Store    events.Store
	Bus      *bus.Bus
	// Leases are the run leases when the bus is NATS (nil otherwise).
	Leases      *bus.Leases
	Library     *spells.Library
	Executor    *runs.Executor
	Projections *projections.Runner
	Runs        *runsmodel.Model
	Spells      *spellsmodel.Model
	Usage       *usagemodel.Model
	Cache       *cache.Model
	// Inference is the inference pool, nil when no endpoint is configured.
	Inference *openai.Router
	DataDir   string
	Logger    *slog.Logger
	// StoreKind is "embedded", "postgresql" or "eventstoredb", for messages.
	StoreKind string
	closers   []func() error
}

func (rt *runtime) Close() error {
	var errs []error
	for i := len(rt.closers) - 1; i >= 0; i-- {
		if err := rt.closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (rt *runtime) onClose(fn func() error) { rt.closers = append(rt.closers, fn) }

// dataDir resolves --data, then GRIMOIRE_DATA, then ./data.
func dataDir(env *cliEnv, flagValue string) string {
	d := flagValue
	if d == "" {
		d = env.getenv(envData)
	}
	if d == "" {
		d = "data"
	}
	abs, err := filepath.Abs(d)
	if err != nil {
		return d
	}
	return abs
}

// newCatalog returns the node types without opening any store, for the
// commands that only read spells (validate, nodes). Its sandbox only
// compiles Code nodes' JavaScript, so that validation reports syntax errors;
// it never runs them.
func newCatalog(env *cliEnv) *nodes.Registry {
	sb, _ := sandboxSettings(env) // a bad setting is reported when a runtime opens
	return nodes.NewRegistry(nodes.Services{Sandbox: jsvm.New(sb.js)})
}

// stderrLogger logs warnings and errors as text on the command's stderr.
// GRIMOIRE_LOG_FORMAT=json makes it one JSON object per line.
func stderrLogger(env *cliEnv, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if strings.EqualFold(strings.TrimSpace(env.getenv(envLogFormat)), "json") {
		return slog.New(slog.NewJSONHandler(env.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(env.stderr, opts))
}

// envLogFormat selects the log format: text (default) or json.
const envLogFormat = "GRIMOIRE_LOG_FORMAT"

// openStore opens the event store the environment names:
// GRIMOIRE_EVENTSTORE_URL=postgres://… the PostgreSQL store, esdb://… the
// EventStoreDB adapter, unset the embedded store in dir/log.
//
// Large event data goes to a blob store that is shared exactly as widely
// as the log: with PostgreSQL the blobs table beside the log; with the
// embedded store dir/blobs (or GRIMOIRE_BLOB_DIR); with EventStoreDB, a
// log every process shares, only a directory the operator declares shared
// (GRIMOIRE_BLOB_DIR). A per-process blob directory next to a shared log is
// refused: the other processes would fail on every large event with "blob
// not found".
func openStore(ctx context.Context, env *cliEnv, dir string, log *slog.Logger) (events.Store, string, error) {
	url := strings.TrimSpace(env.getenv(envEventStore))
	blobDir := strings.TrimSpace(env.getenv(envBlobDir))
	switch {
	case isPostgresURL(url):
		if blobDir != "" {
			return nil, "", fmt.Errorf("%s=%s: with the PostgreSQL event store (%s) blobs live in PostgreSQL, beside the log; unset %s", envBlobDir, blobDir, envEventStore, envBlobDir)
		}
		s, err := pgstore.Open(ctx, pgstore.Options{URL: url, Logger: log})
		if err != nil {
			return nil, "", fmt.Errorf("open the PostgreSQL event store (%s): %w", envEventStore, err)
		}
		return events.WithBlobs(s, s.Blobs(), events.BlobOptions{}), "postgresql", nil
	case url != "":
		if blobDir == "" {
			return nil, "", fmt.Errorf("%s names EventStoreDB, a log every process shares, but large event data would go to this process's own blob directory %s, which the other processes cannot read (they would fail with %q): set %s to a directory every process mounts, or use PostgreSQL (%s=postgres://…), which keeps blobs beside the log",
				envEventStore, filepath.Join(dir, "blobs"), events.ErrBlobNotFound.Error(), envBlobDir, envEventStore)
		}
		s, err := esdb.New(ctx, esdb.Options{URL: url, Logger: log})
		if err != nil {
			return nil, "", fmt.Errorf("open EventStoreDB (%s): %w", envEventStore, err)
		}
		return withFileBlobs(s, blobDir, "eventstoredb")
	default:
		rate, err := storeBackgroundRate(env.getenv(envStoreBackgroundRate))
		if err != nil {
			return nil, "", err
		}
		s, err := embedded.Open(embedded.Options{Dir: dir, Logger: log, BackgroundWriteRate: rate})
		if err != nil {
			return nil, "", fmt.Errorf("open the event store in %s (is another grimoire process using this data directory? use --data or %s): %w", dir, envData, err)
		}
		if blobDir == "" {
			blobDir = filepath.Join(dir, "blobs")
		}
		return withFileBlobs(s, blobDir, "embedded")
	}
}

// isPostgresURL reports whether GRIMOIRE_EVENTSTORE_URL names PostgreSQL.
func isPostgresURL(url string) bool {
	return strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://")
}

// withFileBlobs wraps inner with the blob directory dir (closing inner if
// the directory cannot be opened).
func withFileBlobs(inner events.Store, dir, kind string) (events.Store, string, error) {
	blobs, err := events.NewFileBlobStore(dir)
	if err != nil {
		inner.Close()
		return nil, "", err
	}
	return events.WithBlobs(inner, blobs, events.BlobOptions{}), kind, nil
}

// storeBackgroundRate reads GRIMOIRE_STORE_BACKGROUND_MBPS: "" for the
// store's default, 0 for unpaced, else MiB/s.
func storeBackgroundRate(v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	mb, err := strconv.ParseFloat(v, 64)
	if err != nil || mb < 0 || math.IsInf(mb, 0) || math.IsNaN(mb) || mb > 1<<20 {
		return 0, fmt.Errorf("%s=%q: want MiB/s such as 16, or 0 for unpaced", envStoreBackgroundRate, v)
	}
	if mb == 0 {
		return -1, nil
	}
	return max(1, int64(mb*(1<<20))), nil
}

func openRuntime(ctx context.Context, env *cliEnv, opts runtimeOptions) (_ *runtime, err error) {
	rt := &runtime{DataDir: dataDir(env, opts.DataDir), Logger: opts.Logger}
	if rt.Logger == nil {
		rt.Logger = stderrLogger(env, slog.LevelWarn)
	}
	defer func() {
		if err != nil {
			rt.Close()
		}
	}()
	if err := os.MkdirAll(rt.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	// Tracing stops last (closers run in reverse), once every run's span
	// has ended.
	stopTracing, traced, err := tracing.Setup(ctx, tracing.Options{Getenv: env.getenv})
	if err != nil {
		return nil, err
	}
	if traced {
		rt.Logger.Info("tracing", "exporter", "otlp/http")
	}
	rt.onClose(func() error {
		flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return stopTracing(flushCtx)
	})

	store, kind, err := openStore(ctx, env, rt.DataDir, rt.Logger)
	if err != nil {
		if u := liveServer(ctx, rt.DataDir); u != "" {
			return nil, fmt.Errorf("the data directory %s is in use by the server at %s, and this command reads it directly: stop the server first (run, replay, fork, spells, events tail and export talk to the server; projections, resume and replay --verify read the store): %w", rt.DataDir, u, err)
		}
		return nil, err
	}
	rt.Store, rt.StoreKind = store, kind
	rt.onClose(store.Close)

	busOpts := bus.Options{URL: env.getenv(bus.EnvURL), Logger: rt.Logger}
	b, err := bus.New(ctx, busOpts)
	if err != nil {
		return nil, fmt.Errorf("open the event bus (%s): %w", bus.EnvURL, err)
	}
	rt.Bus = b
	rt.onClose(b.Close)
	if b.Kind() == "nats-jetstream" {
		// Several processes may run spells on this log: a run is the
		// process's that holds its lease.
		leaseOpts := bus.LeaseOptions{URL: busOpts.URL, Bucket: env.getenv(bus.EnvLeaseBucket), Logger: rt.Logger}
		if v := env.getenv(bus.EnvLeaseTTL); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d < time.Second {
				return nil, fmt.Errorf("%s=%q: want a duration of a second or more, such as 6s", bus.EnvLeaseTTL, v)
			}
			leaseOpts.TTL = d
		}
		leases, err := bus.OpenLeases(ctx, leaseOpts)
		if err != nil {
			return nil, err
		}
		rt.Leases = leases
		rt.onClose(leases.Close)
	}

	rt.Library = &spells.Library{Store: store}
	svc, inference, closeServices, err := openServices(ctx, env, rt.DataDir, store, rt.Logger)
	if err != nil {
		return nil, err
	}
	rt.onClose(closeServices)
	rt.Inference = inference
	rt.Services = svc
	rt.Catalog = nodes.NewRegistry(svc)
	rt.Runner = &graph.Runner{Catalog: rt.Catalog, Spells: rt.Library}

	modelDir := filepath.Join(rt.DataDir, "projections")
	runsModel, err := runsmodel.Open(runsmodel.Options{Dir: modelDir})
	if err != nil {
		return nil, err
	}
	rt.Runs = runsModel
	rt.onClose(runsModel.Close)
	rt.Spells = spellsmodel.New()
	var prices map[string]usagemodel.Price
	if path := env.getenv(envPrices); path != "" {
		if prices, err = usagemodel.LoadPrices(path); err != nil {
			return nil, fmt.Errorf("%s: %w", envPrices, err)
		}
	}
	if rt.Usage, err = usagemodel.Open(usagemodel.Options{Dir: modelDir, Prices: prices}); err != nil {
		return nil, err
	}
	rt.onClose(rt.Usage.Close)
	if rt.Cache, err = cache.Open(cache.Options{Dir: modelDir, NodeTypes: cache.FromCatalog(rt.Catalog)}); err != nil {
		return nil, err
	}
	rt.onClose(rt.Cache.Close)

	runOpts := runs.Options{
		Store: store, Bus: b, Runner: rt.Runner, Library: rt.Library, Cache: rt.Cache, Logger: rt.Logger,
		Linger: opts.Linger,
	}
	if rt.Leases != nil {
		runOpts.Leases = rt.Leases
	}
	exec, err := runs.New(runOpts)
	if err != nil {
		return nil, err
	}
	rt.Executor = exec
	// At shutdown, runs in progress get a grace period to finish; then they
	// are interrupted and resume from their streams at the next start.
	rt.onClose(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		return exec.Close(ctx)
	})

	proj, err := projections.NewRunner(projections.Options{Store: store, Logger: rt.Logger}, runsModel, rt.Spells, rt.Usage, rt.Cache)
	if err != nil {
		return nil, err
	}
	rt.Projections = proj
	if !opts.NoProjections {
		if err := proj.Start(); err != nil {
			return nil, err
		}
		rt.onClose(proj.Close)
	}
	return rt, nil
}
