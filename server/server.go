package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/events/bus"
	"github.com/grimoire-run/grimoire/graph"
	spellsmodel "github.com/grimoire-run/grimoire/projections/spells"
	"github.com/grimoire-run/grimoire/server/auth"
	"github.com/grimoire-run/grimoire/server/runs"
	"github.com/grimoire-run/grimoire/server/socket"
	"github.com/grimoire-run/grimoire/server/spells"
	"github.com/grimoire-run/grimoire/services/tracing"
)

// Limits bound what one client may ask for; each is answered with a clear
// error that leaves the connection usable.
type Limits struct {
	// MaxLoadedSpells per socket (default 32).
	MaxLoadedSpells int
	// MaxRunsPerUser in progress at once, over every socket and REST call
	// (default 16).
	MaxRunsPerUser int
	// MaxBodyBytes of a REST request body (default 4 MiB).
	MaxBodyBytes int64
	// SyncTimeout bounds a mode=sync run request (default 5 minutes).
	SyncTimeout time.Duration
	// BodyTimeout bounds the time a client takes to send a REST request
	// body (default 30s); IdleTimeout how long an idle keep-alive
	// connection is kept (default 60s).
	BodyTimeout time.Duration
	IdleTimeout time.Duration
	// MaxConnsPerAddr is the most connections one client address may hold
	// open at once; more are closed at accept (default 2048).
	MaxConnsPerAddr int
}

func (l *Limits) defaults() {
	if l.MaxLoadedSpells <= 0 {
		l.MaxLoadedSpells = 32
	}
	if l.MaxRunsPerUser <= 0 {
		l.MaxRunsPerUser = 16
	}
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = 4 << 20
	}
	if l.SyncTimeout <= 0 {
		l.SyncTimeout = 5 * time.Minute
	}
	if l.BodyTimeout <= 0 {
		l.BodyTimeout = 30 * time.Second
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = 60 * time.Second
	}
	if l.MaxConnsPerAddr <= 0 {
		l.MaxConnsPerAddr = 2048
	}
}

// Options wires a Server. Store, Bus, Library, Executor, Runner and Verifier
// are required.
type Options struct {
	Store   events.Store
	Bus     *bus.Bus
	Library *spells.Library
	// Spells is the spells read model behind GET /v1/spells.
	Spells   *spellsmodel.Model
	Executor *runs.Executor
	Runner   *graph.Runner
	Verifier *auth.Verifier
	// Socket configures the Socket.IO layer; its Verifier is set from ours.
	Socket socket.Options
	Limits Limits
	Logger *slog.Logger
	// DemoSpell, when set, is saved at start (owned by nobody, so any
	// user may load and run it).
	DemoSpell *graph.Spell
	// Analysts wires the analyst API (runs listing, usage, projections)
	// and the projection metrics; its zero value serves those routes as
	// 503 unavailable.
	Analysts Analysts
	// Inference, when set, exports each inference endpoint's load,
	// outcomes and circuit breaker on /metrics.
	Inference InferenceStats
	// Knowledge answers the MCP tool search_knowledge; without it the
	// tool answers that no knowledge service is configured.
	Knowledge KnowledgeSearch
}

// Server serves REST, SSE and Socket.IO.
type Server struct {
	opts    Options
	log     *slog.Logger
	sockets *socket.Server
	feeds   *feeds
	mcp     *mcpTools
	metrics *metrics
	handler http.Handler

	mu       sync.Mutex
	userRuns map[string]int // runs in progress per user
	editors  map[string]*spellManager

	programsMu sync.Mutex
	programs   map[*graph.Spell]*graph.Program // see compileLibrarySpell

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// stopping is closed when the server starts shutting down: event
	// streams (SSE) end then, so that a graceful shutdown does not wait
	// for runs that may never finish.
	stopping     chan struct{}
	stoppingOnce sync.Once
}

// maxPrograms bounds the programs kept by compileLibrarySpell; past it the
// map starts over.
const maxPrograms = 1024

// compileLibrarySpell compiles a spell that nobody modifies any more: one
// the Library returned (it shares one decoded spell per saved version) or
// one just saved. Its program is kept by pointer: the runner's own cache is keyed by a
// content hash that took about 0.2 ms per request to compute.
func (s *Server) compileLibrarySpell(sp *graph.Spell) (*graph.Program, error) {
	s.programsMu.Lock()
	p, ok := s.programs[sp]
	s.programsMu.Unlock()
	if ok {
		return p, nil
	}
	p, err := s.opts.Runner.Compile(sp)
	if err != nil {
		return nil, err
	}
	s.programsMu.Lock()
	if s.programs == nil || len(s.programs) >= maxPrograms {
		s.programs = make(map[*graph.Spell]*graph.Program)
	}
	s.programs[sp] = p
	s.programsMu.Unlock()
	return p, nil
}

// New builds a server and starts following the bus.
func New(opts Options) (*Server, error) {
	if opts.Store == nil || opts.Bus == nil || opts.Library == nil || opts.Spells == nil || opts.Executor == nil || opts.Runner == nil || opts.Verifier == nil {
		return nil, errors.New("server: Store, Bus, Library, Spells, Executor, Runner and Verifier are required")
	}
	opts.Limits.defaults()
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{
		opts:     opts,
		log:      opts.Logger,
		userRuns: map[string]int{},
		editors:  map[string]*spellManager{},
		metrics:  newMetrics(),
		stopping: make(chan struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.feeds = newFeeds(opts.Store, opts.Logger, s.metrics)
	if a := opts.Analysts; a.Projections != nil || a.Cache != nil {
		s.metrics.register(&projectionMetrics{proj: a.Projections, cache: a.Cache})
	}
	if opts.Inference != nil {
		s.metrics.register(&inferenceMetrics{pool: opts.Inference})
	}

	sockOpts := opts.Socket
	sockOpts.Verifier = opts.Verifier
	if sockOpts.Logger == nil {
		sockOpts.Logger = opts.Logger
	}
	sockets, err := socket.New(sockOpts)
	if err != nil {
		return nil, err
	}
	s.sockets = sockets
	s.registerSocketHandlers()

	if opts.DemoSpell != nil {
		if _, err := opts.Library.Save(s.ctx, opts.DemoSpell, ""); err != nil {
			return nil, fmt.Errorf("save demo spell: %w", err)
		}
	}

	ch, err := opts.Bus.SubscribeWhere(s.ctx, bus.TopicRuns, s.feeds.watching)
	if err != nil {
		return nil, fmt.Errorf("server: follow run events: %w", err)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for e := range ch {
			s.feeds.publish(e)
		}
	}()
	s.mcp = newMCPTools(s)
	s.handler = tracing.Handler(s.routes())
	return s, nil
}

// Handler is the server's whole HTTP surface.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve answers on ln until ctx ends, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: s.opts.Limits.IdleTimeout}
	ln = limitPerAddr(ln, s.opts.Limits.MaxConnsPerAddr)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.stop()
	s.sockets.Close()
	err := hs.Shutdown(shutdown)
	<-errc
	return err
}

// Close stops following the bus and closes every socket.
func (s *Server) Close() error {
	s.stop()
	s.cancel()
	err := s.sockets.Close()
	s.mcp.close()
	s.wg.Wait()
	s.feeds.close()
	return err
}

// stop starts the shutdown: event streams (SSE) and MCP sessions end, so
// that a graceful shutdown does not wait for them.
func (s *Server) stop() {
	s.stoppingOnce.Do(func() {
		close(s.stopping)
		s.mcp.closeSessions()
	})
}

// startRun starts a run for a user under the per-user limit.
func (s *Server) startRun(ctx context.Context, user string, spec runs.RunSpec) (*runs.Run, error) {
	s.mu.Lock()
	if n := s.userRuns[user]; n >= s.opts.Limits.MaxRunsPerUser {
		s.mu.Unlock()
		return nil, runLimit(fmt.Sprintf("you have %d runs in progress, the limit is %d: wait for one to finish or cancel one", n, s.opts.Limits.MaxRunsPerUser))
	}
	s.userRuns[user]++
	s.mu.Unlock()
	spec.User = user
	run, err := s.opts.Executor.Start(ctx, spec)
	if err != nil {
		s.releaseRun(user)
		return nil, err
	}
	s.metrics.runsStarted.WithLabelValues(spec.Source).Inc()
	go func() {
		<-run.Done()
		s.releaseRun(user)
	}()
	return run, nil
}

func (s *Server) releaseRun(user string) {
	s.mu.Lock()
	if s.userRuns[user]--; s.userRuns[user] <= 0 {
		delete(s.userRuns, user)
	}
	s.mu.Unlock()
}
