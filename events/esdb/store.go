package esdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/grimoire-run/grimoire/events"
)

// EnvURL is the environment variable that selects EventStoreDB as the
// event store (read by the command that wires the store, not here).
const EnvURL = "GRIMOIRE_EVENTSTORE_URL"

// DefaultMaxAppendSize is EventStoreDB's default MaxAppendSize (1 MiB): the
// most one append may carry, summed over its events.
const DefaultMaxAppendSize = 1 << 20

// Options configure New. Only URL is required.
type Options struct {
	// URL is the connection string, for example
	// esdb://localhost:2113?tls=false or
	// esdb+discover://admin:changeit@cluster.dns:2113. Client settings
	// (maxDiscoverAttempts, discoveryInterval, keepAliveInterval,
	// defaultDeadline, ...) go in its query.
	URL string
	// MaxAppendSize is the largest append, summed over its events' data,
	// metadata and type, sent to the server; a larger one fails with
	// events.ErrEventTooLarge before anything is sent. Default
	// DefaultMaxAppendSize; set it to the server's MaxAppendSize if that
	// was changed. Negative disables the local check (the server's own
	// rejection is still reported as events.ErrEventTooLarge).
	MaxAppendSize int
	// ReadBatch is how many events one $all read request asks for.
	// Default 512.
	ReadBatch int
	// SubscriptionBuffer is how many events a subscription reads ahead of
	// Next. Default 256.
	SubscriptionBuffer int
	// ResubscribeMin and ResubscribeMax bound the backoff between attempts
	// to resubscribe after the server dropped a subscription. Defaults
	// 50ms and 2s.
	ResubscribeMin, ResubscribeMax time.Duration
	// Logger defaults to slog.Default(). The client's own chatter is logged
	// at debug level.
	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.MaxAppendSize == 0 {
		o.MaxAppendSize = DefaultMaxAppendSize
	}
	if o.ReadBatch <= 0 {
		o.ReadBatch = 512
	}
	if o.SubscriptionBuffer <= 0 {
		o.SubscriptionBuffer = 256
	}
	if o.ResubscribeMin <= 0 {
		o.ResubscribeMin = 50 * time.Millisecond
	}
	if o.ResubscribeMax <= 0 {
		o.ResubscribeMax = 2 * time.Second
	}
	if o.ResubscribeMax < o.ResubscribeMin {
		o.ResubscribeMax = o.ResubscribeMin
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Store is an events.Store backed by EventStoreDB. It is safe for
// concurrent use.
type Store struct {
	opts Options
	conf esdb.Configuration // parsed once; each client gets a copy
	log  *slog.Logger

	base   context.Context // cancelled by Close: ends every call and subscription
	cancel context.CancelFunc

	mu      sync.Mutex
	conn    *conn
	retired map[*conn]struct{} // replaced clients with calls still in flight
	closed  bool
	wg      sync.WaitGroup // every goroutine the store starts
}

// conn is one EventStoreDB client and what the adapter knows about it.
//
// The v4.1.0 client runs a state machine that answers every call's request
// for a connection over an unbuffered channel, and (re)discovers the server
// inside that loop. If discovery fails, the loop exits for good: callers
// already waiting on the channel wait forever, later ones get "connection
// closed", and closing the client while one waits is a data race and a
// "send on closed channel" panic. So while a client's connection is in
// doubt (new, or a call saw it fail), calls go through gate one at a time:
// whoever triggers discovery is the only one waiting for it. Once a call
// gets an answer from the server, the gate opens to concurrent calls.
type conn struct {
	client *esdb.Client
	gen    uint64
	good   atomic.Bool
	gate   chan struct{} // capacity 1: held by the one call allowed in while !good

	mu       sync.Mutex
	inflight int
	retired  bool
	closed   bool
}

var _ events.Store = (*Store)(nil)

// Open connects to the EventStoreDB named by url (see Options.URL) with
// default options.
func Open(ctx context.Context, url string) (*Store, error) {
	return New(ctx, Options{URL: url})
}

// New connects to EventStoreDB and checks, within ctx, that the server
// answers.
func New(ctx context.Context, opts Options) (*Store, error) {
	opts.defaults()
	if opts.URL == "" {
		return nil, fmt.Errorf("open EventStoreDB store: no connection string (set %s, for example esdb://localhost:2113?tls=false)", EnvURL)
	}
	conf, err := esdb.ParseConnectionString(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("open EventStoreDB store: parse connection string %q: %w", redact(opts.URL), err)
	}
	log := opts.Logger.With("component", "esdb")
	base, cancel := context.WithCancel(context.Background())
	s := &Store{opts: opts, conf: *conf, log: log, base: base, cancel: cancel, retired: make(map[*conn]struct{})}
	if s.conn, err = s.newConn(0); err != nil {
		cancel()
		return nil, fmt.Errorf("open EventStoreDB store: %w", err)
	}
	// The client connects lazily; ask for the head of $all so that a wrong
	// address or a server that is down shows up here and not on first use.
	if _, _, err := s.lastPosition(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open EventStoreDB store at %s: %w (is the server running and the connection string right? plain-text servers need ?tls=false)", redact(opts.URL), err)
	}
	return s, nil
}

func (s *Store) newConn(gen uint64) (*conn, error) {
	cn := &conn{gen: gen, gate: make(chan struct{}, 1)}
	conf := s.conf
	conf.Logger = clientLogger(s.log, cn)
	c, err := esdb.NewClient(&conf)
	if err != nil {
		return nil, err
	}
	cn.client = c
	return cn, nil
}

// Close closes the connection. Subscriptions end with events.ErrClosed and
// every goroutine of the store has returned when Close returns.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	conns := []*conn{s.conn}
	for cn := range s.retired {
		conns = append(conns, cn)
	}
	s.mu.Unlock()
	s.cancel()
	// Closing a client also releases calls stuck inside it: they panic on
	// its closed channel, and guard turns that into an error.
	for _, cn := range conns {
		cn.close()
	}
	s.wg.Wait()
	return nil
}

// acquire returns the client to use and counts a call on it; the caller
// must call release when the call is over.
func (s *Store) acquire() (*conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, events.ErrClosed
	}
	cn := s.conn
	cn.mu.Lock()
	cn.inflight++
	cn.mu.Unlock()
	return cn, nil
}

func (s *Store) release(cn *conn) {
	cn.mu.Lock()
	cn.inflight--
	idle := cn.retired && cn.inflight == 0
	cn.mu.Unlock()
	if idle {
		s.mu.Lock()
		delete(s.retired, cn)
		s.mu.Unlock()
		cn.close()
	}
}

func (cn *conn) close() {
	cn.mu.Lock()
	if cn.closed {
		cn.mu.Unlock()
		return
	}
	cn.closed = true
	cn.mu.Unlock()
	guard(cn.client.Close)
}

// replace swaps in a fresh client if old is still the current one: the
// v4.1.0 client stops for good once a connection discovery fails. The old
// client is closed once no call uses it.
func (s *Store) replace(old *conn) {
	s.mu.Lock()
	if s.closed || s.conn != old {
		s.mu.Unlock()
		return
	}
	cn, err := s.newConn(old.gen + 1)
	if err != nil { // NewClient cannot fail in v4.1.0; keep the old one if it ever does
		s.mu.Unlock()
		s.log.Warn("create EventStoreDB client", "err", err)
		return
	}
	s.conn = cn
	old.mu.Lock()
	old.retired = true
	idle := old.inflight == 0
	old.mu.Unlock()
	if !idle {
		s.retired[old] = struct{}{}
	}
	s.mu.Unlock()
	s.log.Info("EventStoreDB client gave up connecting; starting a new one", "generation", cn.gen)
	if idle {
		old.close()
	}
}

// call runs fn with the current client in a goroutine of the store and
// waits for it, ctx or Close. The client does not honour ctx while it
// (re)discovers the server, and it panics in a few places; running it apart
// keeps both away from the caller. When ctx ends first, fn may still
// complete (an append may land): retrying with the same event IDs is
// idempotent. fn must only write results the caller reads when call
// returns nil, and should call up as soon as the server has answered (it
// lets other calls in while the connection was in doubt).
func (s *Store) call(ctx context.Context, fn func(ctx context.Context, c *esdb.Client, up func()) error) error {
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		cn, err := s.acquire()
		if err != nil {
			return err
		}
		gated := false
		if !cn.good.Load() {
			select {
			case cn.gate <- struct{}{}:
				gated = true
			case <-ctx.Done():
				s.release(cn)
				return ctx.Err()
			case <-s.base.Done():
				s.release(cn)
				return events.ErrClosed
			}
		}
		if err := s.track(); err != nil {
			if gated {
				<-cn.gate
			}
			s.release(cn)
			return err
		}
		cctx, cancel := mergeCancel(ctx, s.base)
		done := make(chan error, 1)
		go func() {
			defer s.wg.Done()
			defer s.release(cn)
			defer cancel()
			var once sync.Once
			open := func() {
				once.Do(func() {
					cn.good.Store(true)
					if gated {
						<-cn.gate
					}
				})
			}
			err := guard(func() error { return fn(cctx, cn.client, open) })
			switch {
			case err == nil:
				open()
			case connectionTrouble(err):
				cn.good.Store(false)
				once.Do(func() {
					if gated {
						<-cn.gate
					}
				})
			default:
				open()
			}
			done <- err
		}()
		select {
		case err = <-done:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.base.Done():
			return events.ErrClosed
		}
		if err == nil {
			return nil
		}
		if s.isClosed() {
			return events.ErrClosed
		}
		switch {
		case clientGaveUp(err):
			// Nothing was sent: a new client may retry at once.
			s.replace(cn)
			if attempt == 0 {
				continue
			}
		case discoveryFailed(err):
			// The client is dead now; the next call gets a new one.
			s.replace(cn)
		}
		return err
	}
}

func (s *Store) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// track registers a goroutine of the store; the goroutine calls s.wg.Done.
func (s *Store) track() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return events.ErrClosed
	}
	s.wg.Add(1)
	return nil
}

// mergeCancel returns a context with ctx's values and deadline that is also
// cancelled when other is.
func mergeCancel(ctx, other context.Context) (context.Context, context.CancelFunc) {
	c, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(other, cancel)
	return c, func() { stop(); cancel() }
}

// errClientPanic wraps a panic of the EventStoreDB client.
var errClientPanic = errors.New("EventStoreDB client panicked")

// guard runs fn and turns a panic into an error.
func guard(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v\n%s", errClientPanic, r, debug.Stack())
		}
	}()
	return fn()
}

// clientLogger routes the client's logs to slog at debug level (it logs
// every failed call as an error; the adapter reports what matters), and
// marks cn's connection in doubt the moment the client decides to
// reconnect: before it sends itself the message that starts a discovery.
func clientLogger(log *slog.Logger, cn *conn) esdb.LoggingFunc {
	return func(level esdb.LogLevel, format string, args ...any) {
		if level == esdb.LogError || level == esdb.LogInfo {
			msg := fmt.Sprintf(format, args...)
			if strings.Contains(msg, "Unavailable") || strings.Contains(msg, "discovery") || strings.Contains(msg, "not leader") {
				cn.good.Store(false)
			}
		}
		if log.Enabled(context.Background(), slog.LevelDebug) {
			log.Debug(fmt.Sprintf(format, args...), "client_level", level)
		}
	}
}

// redact hides the password of a connection string in messages.
func redact(url string) string {
	at := strings.LastIndex(url, "@")
	scheme := strings.Index(url, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return url
	}
	userinfo := url[scheme+3 : at]
	if i := strings.IndexByte(userinfo, ':'); i >= 0 {
		return url[:scheme+3] + userinfo[:i] + ":***" + url[at:]
	}
	return url
}
