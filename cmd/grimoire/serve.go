package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/grimoire-run/grimoire/events/bus"
	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/internal/gcpace"
	"github.com/grimoire-run/grimoire/server"
	"github.com/grimoire-run/grimoire/server/auth"
	"github.com/grimoire-run/grimoire/server/socket"
)

func init() {
	register("serve", "start the Socket.IO + REST server (embedded defaults, demo spell)", cmdServe)
}

//go:embed demo-spell.json
var demoSpell []byte

// Environment settings read by serve.
const (
	envAddr           = "GRIMOIRE_ADDR"
	envJWTPublicKeys  = "GRIMOIRE_JWT_PUBLIC_KEYS" // comma-separated PEM files (RS256/ES256)
	envJWKSURL        = "GRIMOIRE_JWKS_URL"
	envJWTIssuer      = "GRIMOIRE_JWT_ISSUER"
	envJWTAudience    = "GRIMOIRE_JWT_AUDIENCE"
	envAllowedOrigins = "GRIMOIRE_ALLOWED_ORIGINS" // comma-separated; empty allows same-origin and non-browser clients
	envLogLevel       = "GRIMOIRE_LOG_LEVEL"
	envLinger         = "GRIMOIRE_RECORD_LINGER"  // how long a run's events gather before an append
	envGCHeadroom     = "GRIMOIRE_GC_HEADROOM_MB" // heap growth between collections; 0 leaves GOGC at 100
	envMaxBodyMB      = "GRIMOIRE_MAX_BODY_MB"
	envMaxRuns        = "GRIMOIRE_MAX_RUNS_PER_USER"
	envMaxSpells      = "GRIMOIRE_MAX_LOADED_SPELLS"
	envSyncTimeout    = "GRIMOIRE_SYNC_TIMEOUT"
	envBodyTimeout    = "GRIMOIRE_BODY_TIMEOUT"
	envIdleTimeout    = "GRIMOIRE_IDLE_TIMEOUT"
	envMaxConns       = "GRIMOIRE_MAX_CONNS_PER_ADDR"
	envMaxSockets     = "GRIMOIRE_MAX_SOCKETS_PER_USER"
	envHandshakeRate  = "GRIMOIRE_HANDSHAKES_PER_SECOND"
	envHandshakeBurst = "GRIMOIRE_HANDSHAKE_BURST"
	envConnectTimeout = "GRIMOIRE_SOCKET_CONNECT_TIMEOUT"
	envConnectRate    = "GRIMOIRE_SOCKET_CONNECTS_PER_SECOND"
	envConnectBurst   = "GRIMOIRE_SOCKET_CONNECT_BURST"
)

// serveEnv is every environment variable serve reads, for `serve -h`.
var serveEnv = []struct{ name, about string }{
	{envAddr, "where to listen (default 127.0.0.1:8080)"},
	{envData, "data directory (default ./data)"},
	{envLogLevel, "debug, info (default), warn, error"},
	{envLogFormat, "text (default) or json: one JSON object per log line"},
	{auth.SecretEnv, "HS256 secret, at least 32 bytes (default: generated into the data directory)"},
	{envJWTPublicKeys, "RS256/ES256 public key PEM files, comma-separated"},
	{envJWKSURL, "a JWKS URL for RS256/ES256 tokens"},
	{envJWTIssuer + ", " + envJWTAudience, "required issuer and audience of tokens"},
	{envAllowedOrigins, "browser origins allowed on the socket, comma-separated"},
	{envMaxBodyMB, "largest REST request body in MiB (default 4)"},
	{envMaxRuns, "runs in progress at once per user (default 16)"},
	{envMaxSpells, "spells loaded at once per socket (default 32)"},
	{envSyncTimeout, "longest mode=sync run request (default 5m)"},
	{envBodyTimeout, "longest time a client may take to send a REST body (default 30s)"},
	{envIdleTimeout, "how long an idle keep-alive connection is kept (default 60s)"},
	{envMaxConns, "connections one client address may hold open (default 2048)"},
	{envMaxSockets, "sockets one user may hold open at once (default 64)"},
	{envHandshakeRate + ", " + envHandshakeBurst, "socket requests without a valid token one address may make per second, and in a burst; beyond, HTTP 429 (default 5 and 20)"},
	{envConnectRate + ", " + envConnectBurst, "new sockets one user may open per second, and in a burst; beyond, HTTP 429 (default 5 and 30)"},
	{envConnectTimeout, "how long a socket has to connect its namespace after its Engine.IO handshake (default 10s)"},
	{envEventStore, "a shared log instead of the embedded one: PostgreSQL (postgres://user@host:5432/db, blobs in the database) or EventStoreDB (esdb://host:2113?tls=false)"},
	{envBlobDir, "blob directory (default DATA/blobs); with EventStoreDB required, and shared by every process"},
	{bus.EnvURL, "nats://host:4222 to fan events out across processes and hold run leases (default in-process)"},
	{bus.EnvLeaseBucket, "the JetStream key-value bucket of run leases (default " + bus.DefaultLeaseBucket + "); every process of a deployment names the same"},
	{bus.EnvLeaseTTL, "how long a run's lease lives without renewal (default 6s): a killed process's runs are taken over that long after, plus up to 2s"},
	{"GRIMOIRE_OPENAI_BASE_URL, _API_KEY, _MODEL, _EMBEDDING_MODEL, _MODEL_ALIASES, _CONFIG", "the OpenAI-compatible model endpoints (docs/services.md)"},
	{"GRIMOIRE_EMBEDDER", "local or openai"},
	{"GRIMOIRE_WEAVIATE_URL, GRIMOIRE_WEAVIATE_API_KEY", "vectors in Weaviate instead of the embedded index"},
	{"GRIMOIRE_EMBED_BATCH_WAIT", "most time micro-batching adds to an embedding call (default 5ms; 0 off)"},
	{"GRIMOIRE_MCP_SERVERS", `external MCP servers Chat Completion nodes may use: {"name": {"url": "http://host/mcp", "token": "..."}}`},
	{envPrices, "JSON price table by model, for the usage model's costs"},
	{envCodeMaxTimeout, "the most time a Code node may ask for in its timeout (default 30s)"},
	{envCodeSandbox, "process (default): Code nodes run in worker processes; none: in the server's process"},
	{envCodeSandboxWorkers, "Code node worker processes, one activation each at a time (default the CPUs, at least 2)"},
	{envCodeSandboxMemory, "heap one Code activation may use, in MiB (default 256)"},
	{envLinger, "how long a run's events gather before one append (default 2ms)"},
	{envGCHeadroom, "heap growth between collections in MiB (default 64; 0: Go's default)"},
	{envStoreBackgroundRate, "embedded log's background write rate in MiB/s (default 16; 0 unpaced)"},
}

// serveLimits reads the limits the environment sets.
func serveLimits(env *cliEnv) (server.Limits, error) {
	var l server.Limits
	if v := env.getenv(envMaxBodyMB); v != "" {
		mb, err := strconv.ParseFloat(v, 64)
		if err != nil || mb <= 0 || mb > 1024 {
			return l, fmt.Errorf("%s=%q: want a number of MiB from 0 to 1024, such as 4", envMaxBodyMB, v)
		}
		l.MaxBodyBytes = int64(mb * (1 << 20))
	}
	for _, c := range []struct {
		name string
		into *int
	}{{envMaxRuns, &l.MaxRunsPerUser}, {envMaxSpells, &l.MaxLoadedSpells}, {envMaxConns, &l.MaxConnsPerAddr}} {
		if v := env.getenv(c.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return l, fmt.Errorf("%s=%q: want a positive number", c.name, v)
			}
			*c.into = n
		}
	}
	for _, c := range []struct {
		name string
		into *time.Duration
	}{{envSyncTimeout, &l.SyncTimeout}, {envBodyTimeout, &l.BodyTimeout}, {envIdleTimeout, &l.IdleTimeout}} {
		if v := env.getenv(c.name); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return l, fmt.Errorf("%s=%q: want a duration such as 30s", c.name, v)
			}
			*c.into = d
		}
	}
	return l, nil
}

// serveSocketOptions reads the socket settings the environment sets.
func serveSocketOptions(env *cliEnv) (socket.Options, error) {
	o := socket.Options{AllowedOrigins: splitList(env.getenv(envAllowedOrigins))}
	for _, c := range []struct {
		name string
		into *int
	}{{envMaxSockets, &o.MaxSocketsPerUser}, {envHandshakeBurst, &o.HandshakeBurst}, {envConnectBurst, &o.ConnectBurst}} {
		if v := env.getenv(c.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return o, fmt.Errorf("%s=%q: want a positive number", c.name, v)
			}
			*c.into = n
		}
	}
	for _, c := range []struct {
		name string
		into *float64
	}{{envHandshakeRate, &o.HandshakesPerSecond}, {envConnectRate, &o.ConnectsPerSecond}} {
		if v := env.getenv(c.name); v != "" {
			r, err := strconv.ParseFloat(v, 64)
			if err != nil || !(r > 0) || r > 1e6 {
				return o, fmt.Errorf("%s=%q: want a positive number per second, such as 5", c.name, v)
			}
			*c.into = r
		}
	}
	if v := env.getenv(envConnectTimeout); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return o, fmt.Errorf("%s=%q: want a duration such as 10s", envConnectTimeout, v)
		}
		o.ConnectTimeout = d
	}
	return o, nil
}

// serveLinger: the server shows node events to live editors, so it appends
// a run's events sooner than the recorder's default (20ms, which favours
// the run's own speed); GRIMOIRE_RECORD_LINGER overrides it.
const serveLinger = 2 * time.Millisecond

// takeoverInterval is how often serve looks for runs whose owner died.
const takeoverInterval = 2 * time.Second

func cmdServe(ctx context.Context, env *cliEnv, args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	addr := fs.String("addr", "", "listen on `HOST:PORT` (env GRIMOIRE_ADDR, default 127.0.0.1:8080; port 0 picks a free one)")
	data := fs.String("data", "", "data `DIR` (env GRIMOIRE_DATA, default ./data)")
	noDemo := fs.Bool("no-demo", false, "do not save the demo spell")
	devLLM := fs.Bool("dev-llm", false, "start a development stand-in for the model endpoint (grimoire dev-llm) and use it")
	var dev devLLMFlags
	dev.register(fs, "dev-llm-")
	fs.Usage = func() {
		fmt.Fprintln(env.stderr, "usage: grimoire serve [--addr HOST:PORT] [--data DIR] [--no-demo] [--dev-llm]\n\nflags:")
		fs.PrintDefaults()
		fmt.Fprintln(env.stderr, "\nenvironment:")
		tw := tabwriter.NewWriter(env.stderr, 0, 4, 2, ' ', 0)
		for _, e := range serveEnv {
			fmt.Fprintf(tw, "  %s\t%s\n", e.name, e.about)
		}
		tw.Flush()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 {
		return usageError(env, fs, "serve takes no arguments, got %q", fs.Args())
	}
	limits, err := serveLimits(env)
	if err != nil {
		return fail(env, err)
	}
	sockOpts, err := serveSocketOptions(env)
	if err != nil {
		return fail(env, err)
	}
	if *devLLM {
		devEnv, stop, err := dev.withDevLLM(env)
		if err != nil {
			return fail(env, err)
		}
		defer stop()
		env = devEnv
	}
	if *addr == "" {
		*addr = env.getenv(envAddr)
	}
	if *addr == "" {
		*addr = "127.0.0.1:8080"
	}
	log := stderrLogger(env, logLevel(env.getenv(envLogLevel)))

	linger := serveLinger
	if v := env.getenv(envLinger); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return fail(env, fmt.Errorf("%s=%q: want a duration such as 2ms", envLinger, v))
		}
		linger = d
	}
	headroom := uint64(gcpace.DefaultHeadroom)
	if v := env.getenv(envGCHeadroom); v != "" {
		mb, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return fail(env, fmt.Errorf("%s=%q: want a number of MiB such as 64, or 0", envGCHeadroom, v))
		}
		headroom = mb << 20
	}
	if headroom > 0 && gcpace.Start(headroom) {
		defer gcpace.Stop()
	}
	rt, err := openRuntime(ctx, env, runtimeOptions{DataDir: *data, Logger: log, Linger: linger})
	if err != nil {
		return fail(env, err)
	}
	defer rt.Close()

	verifier, err := newVerifier(env, rt.DataDir)
	if err != nil {
		return fail(env, err)
	}
	opts := server.Options{
		Store: rt.Store, Bus: rt.Bus, Library: rt.Library, Spells: rt.Spells,
		Executor: rt.Executor, Runner: rt.Runner, Verifier: verifier, Logger: log, Limits: limits,
		Socket:    sockOpts,
		Analysts:  server.Analysts{Runs: rt.Runs, Usage: rt.Usage, Cache: rt.Cache, Projections: rt.Projections},
		Knowledge: &rt.Services,
	}
	if rt.Inference != nil {
		opts.Inference = rt.Inference
	}
	if opts.DevSignIn, err = devSignIn(env, rt.DataDir, *addr); err != nil {
		return fail(env, err)
	}
	if !*noDemo {
		spell, _, err := graph.ParseSpell(demoSpell)
		if err != nil {
			return fail(env, fmt.Errorf("demo spell: %w", err))
		}
		opts.DemoSpell = spell
	}
	srv, err := server.New(opts)
	if err != nil {
		return fail(env, err)
	}
	defer srv.Close()

	// Runs that were in progress when the last process stopped continue
	// from their streams: completed nodes are not executed again.
	resumed, err := rt.Executor.Resume(ctx)
	if err != nil {
		log.Error("some runs could not be resumed", "err", err)
	}
	for _, r := range resumed {
		log.Info("resumed run", "run", r.ID())
	}
	if rt.Leases != nil {
		// Runs whose owner died are resumed here once their leases lapse;
		// the runs read model lists the candidates without reading the log
		// (waiting runs, which hold no lease, less often: for the deadlines
		// of their questions).
		takeoverCtx, stopTakeover := context.WithCancel(ctx)
		takeoverDone := make(chan struct{})
		go func() {
			defer close(takeoverDone)
			rt.Executor.TakeOver(takeoverCtx, takeoverInterval, rt.Runs.Running, rt.Runs.Unfinished)
		}()
		defer func() { stopTakeover(); <-takeoverDone }()
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fail(env, fmt.Errorf("listen on %s (set --addr or %s): %w", *addr, envAddr, err))
	}
	url := "http://" + ln.Addr().String()
	// The CLI beside this server finds it here (the data directory's
	// store is locked while the server runs).
	if removeServerFile, err := writeServerFile(rt.DataDir, url); err != nil {
		log.Warn("could not write the server's address into the data directory; the CLI will need --server", "err", err)
	} else {
		defer removeServerFile()
	}
	fmt.Fprintf(env.stderr, `grimoire serving on %s (store: %s, data: %s)
  inspector: %s/%s
  REST:      %s/v1/spells   (OpenAPI: %s/openapi.json)
  Socket.IO: %s/socket.io/  (Engine.IO 3 and 4 clients; 2.x clients: transports ['websocket'])
  MCP:       %s/mcp          (Streamable HTTP, the same tokens; stdio: grimoire mcp)
  token:     grimoire token create --user alice [--role analyst] [--ttl 24h] --data %s
`, url, rt.StoreKind, rt.DataDir, url, signInNote(opts.DevSignIn), url, url, url, url, rt.DataDir)
	if !*noDemo {
		fmt.Fprintf(env.stderr, "  demo:      curl -s -X POST -H \"Authorization: Bearer $TOKEN\" -d '{\"inputs\":{\"name\":\"Ada\"}}' '%s/v1/spells/demo/runs?mode=sync'\n", url)
	}
	if err := srv.Serve(ctx, ln); err != nil && !errors.Is(err, context.Canceled) {
		return fail(env, err)
	}
	return 0
}

// devSignIn is the inspector page's "sign in as …" for a server that is a
// developer's own: listening on loopback, with the secret generated into
// its data directory and no other key. Anywhere else it is nil and the page
// asks for a token. The user is the CLI's (GRIMOIRE_USER, default cli), so
// the page shows the runs that the CLI starts through this server.
func devSignIn(env *cliEnv, dataDir, addr string) (*server.DevSignIn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || !auth.LoopbackHost(host) || !auth.SecretIsGenerated() ||
		env.getenv(envJWTPublicKeys) != "" || env.getenv(envJWKSURL) != "" {
		return nil, nil
	}
	secret, err := auth.LoadOrCreateSecret(dataDir)
	if err != nil {
		return nil, err
	}
	user := env.getenv(envCLIUser)
	if user == "" {
		user = "cli"
	}
	return &server.DevSignIn{Secret: secret, User: user}, nil
}

func signInNote(d *server.DevSignIn) string {
	if d == nil {
		return "   (sign in with a token)"
	}
	return "   (development server: sign in as " + d.User + ")"
}

// newVerifier accepts tokens signed with the HS256 secret (GRIMOIRE_JWT_SECRET
// or the one generated in the data directory), and with the public keys or
// JWKS the environment names.
func newVerifier(env *cliEnv, dataDir string) (*auth.Verifier, error) {
	secret, err := auth.LoadOrCreateSecret(dataDir)
	if err != nil {
		return nil, err
	}
	opts := auth.VerifierOptions{
		HS256Secret: secret,
		JWKSURL:     env.getenv(envJWKSURL),
		Issuer:      env.getenv(envJWTIssuer),
		Audience:    env.getenv(envJWTAudience),
	}
	for _, path := range splitList(env.getenv(envJWTPublicKeys)) {
		pem, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", envJWTPublicKeys, err)
		}
		opts.PublicKeysPEM = append(opts.PublicKeysPEM, pem)
	}
	return auth.NewVerifier(opts)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func logLevel(s string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo
	}
	return l
}
