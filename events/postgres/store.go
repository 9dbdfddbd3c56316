package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/services/postgres"
)

// DefaultSchema is the PostgreSQL schema the store's tables live in.
const DefaultSchema = "grimoire_events"

// DefaultMaxEventSize is the largest event (data, metadata, type and ID)
// the store accepts: 16 MiB. Grimoire wraps the store with events.WithBlobs,
// which stores anything over 256 KiB in the blobs table instead.
const DefaultMaxEventSize = 16 << 20

// Options configure a Store. Either DB or URL is required.
type Options struct {
	// DB is an open pool; the store uses it and does not close it.
	DB *postgres.DB
	// URL opens a pool of the store's own (closed by Close) when DB is nil:
	// postgres://user@host:5432/db?sslmode=disable.
	URL string
	// MaxConns caps the pool the store opens from URL (default 16: one
	// connection is held for LISTEN, the rest serve appends and reads).
	MaxConns int32
	// Schema holds the store's tables, created if missing (DefaultSchema).
	// Every process that shares the log names the same schema.
	Schema string
	// MaxEventSize overrides DefaultMaxEventSize.
	MaxEventSize int
	// PollInterval is how often an idle subscription looks for new events
	// when no NOTIFY woke it up (default 1s): NOTIFY is only a wake-up, so a
	// lost notification (a dropped LISTEN connection) delays delivery by at
	// most this long.
	PollInterval time.Duration
	// ReadBatch is how many events a subscription fetches per query
	// (default 512).
	ReadBatch int
	Logger    *slog.Logger
}

// Store is an events.Store on PostgreSQL. See the package documentation for
// the schema and for how global positions stay gap-safe.
type Store struct {
	opts    Options
	db      *postgres.DB
	ownsDB  bool
	log     *slog.Logger
	schema  string
	channel string
	// Qualified table names.
	events, head, blobs string

	wakeMu sync.Mutex
	wake   chan struct{} // closed and replaced on every NOTIFY

	reqs chan *appendReq // to writeLoop

	closeOnce sync.Once
	closing   chan struct{}
	// ctx ends at Close; subscriptions and the listener derive from it.
	ctx  context.Context
	stop context.CancelFunc
	bg   sync.WaitGroup

	// testHook, when set (tests only), runs inside a group commit's
	// transaction at the named point, once per append: "allocated" once
	// the events have their global positions and before the transaction
	// commits.
	testHook func(point, stream string)
}

// Open connects (when given a URL), creates the schema and tables if they
// are missing, and starts listening for appends.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.Schema == "" {
		opts.Schema = DefaultSchema
	}
	if opts.MaxEventSize <= 0 {
		opts.MaxEventSize = DefaultMaxEventSize
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if opts.ReadBatch <= 0 {
		opts.ReadBatch = 512
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := validSchema(opts.Schema); err != nil {
		return nil, fmt.Errorf("open PostgreSQL event store: schema %q: %w", opts.Schema, err)
	}
	s := &Store{
		opts: opts, db: opts.DB, log: opts.Logger.With("component", "postgres-event-store"),
		schema:  opts.Schema,
		channel: "grimoire_events_" + opts.Schema,
		events:  postgres.Ident(opts.Schema, "events"),
		head:    postgres.Ident(opts.Schema, "log_head"),
		blobs:   postgres.Ident(opts.Schema, "blobs"),
		wake:    make(chan struct{}),
		closing: make(chan struct{}),
		reqs:    make(chan *appendReq),
	}
	if s.db == nil {
		if opts.URL == "" {
			return nil, errors.New("open PostgreSQL event store: no pool and no connection URL")
		}
		if opts.MaxConns <= 0 {
			opts.MaxConns = 16
		}
		db, err := postgres.OpenOptions(ctx, postgres.Options{URL: opts.URL, MaxConns: opts.MaxConns})
		if err != nil {
			return nil, fmt.Errorf("open PostgreSQL event store: %w", err)
		}
		s.db, s.ownsDB = db, true
	}
	if err := s.migrate(ctx); err != nil {
		s.closeDB()
		return nil, fmt.Errorf("open PostgreSQL event store: %w", err)
	}
	l, err := s.db.Listen(ctx, s.channel)
	if err != nil {
		s.closeDB()
		return nil, fmt.Errorf("open PostgreSQL event store: %w", err)
	}
	s.ctx, s.stop = context.WithCancel(context.Background())
	s.bg.Add(2)
	go s.listen(s.ctx, l)
	go s.writeLoop()
	return s, nil
}

// validSchema keeps schema names to what needs no thought in a channel
// name (NOTIFY channels are identifiers of at most 63 bytes).
func validSchema(name string) error {
	if len(name) > 40 {
		return errors.New("longer than 40 bytes")
	}
	for _, r := range name {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return errors.New("use lower-case letters, digits and _")
		}
	}
	return nil
}

// migrate creates the schema. Processes starting together serialise on a
// transaction-level advisory lock so that CREATE … IF NOT EXISTS does not
// race in the catalog.
func (s *Store) migrate(ctx context.Context) error {
	return s.db.InTx(ctx, func(ctx context.Context, tx postgres.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('grimoire-events-schema/' || $1, 0))`, s.schema); err != nil {
			return err
		}
		stmts := []string{
			`CREATE SCHEMA IF NOT EXISTS ` + postgres.Ident(s.schema),
			`CREATE TABLE IF NOT EXISTS ` + s.events + ` (
				position       bigint PRIMARY KEY,
				stream         text NOT NULL,
				revision       bigint NOT NULL,
				id             text NOT NULL,
				type           text NOT NULL,
				schema_version int NOT NULL,
				data           bytea NOT NULL,
				metadata       bytea,
				created        timestamptz NOT NULL,
				UNIQUE (stream, revision))`,
			`CREATE TABLE IF NOT EXISTS ` + s.head + ` (
				singleton     bool PRIMARY KEY DEFAULT true CHECK (singleton),
				last_position bigint NOT NULL)`,
			`INSERT INTO ` + s.head + ` (singleton, last_position) VALUES (true, 0) ON CONFLICT DO NOTHING`,
			`CREATE TABLE IF NOT EXISTS ` + s.blobs + ` (
				sha256 text PRIMARY KEY,
				size   bigint NOT NULL,
				data   bytea NOT NULL)`,
		}
		for _, q := range stmts {
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("create schema %s: %w", s.schema, err)
			}
		}
		return nil
	})
}

// listen turns NOTIFYs into wake-ups for subscriptions, and LISTENs again
// when the connection drops (waking everyone, since notifications may have
// been lost meanwhile).
func (s *Store) listen(ctx context.Context, l *postgres.Listener) {
	defer s.bg.Done()
	delay := 50 * time.Millisecond
	for {
		for l != nil {
			if _, err := l.Wait(ctx); err != nil {
				l.Close()
				l = nil
				if ctx.Err() != nil {
					return
				}
				s.log.Warn("LISTEN connection lost; subscriptions poll until it is back", "err", err)
			}
			s.notify()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		var err error
		if l, err = s.db.Listen(ctx, s.channel); err != nil {
			delay = min(2*delay, 5*time.Second)
			continue
		}
		delay = 50 * time.Millisecond
		s.notify()
	}
}

func (s *Store) notify() {
	s.wakeMu.Lock()
	close(s.wake)
	s.wake = make(chan struct{})
	s.wakeMu.Unlock()
}

func (s *Store) wakeup() <-chan struct{} {
	s.wakeMu.Lock()
	defer s.wakeMu.Unlock()
	return s.wake
}

// Schema is the PostgreSQL schema holding the store's tables.
func (s *Store) Schema() string { return s.schema }

// Close implements events.Store. The pool is closed only if the store
// opened it.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.stop()
		s.bg.Wait()
		s.closeDB()
	})
	return nil
}

func (s *Store) closeDB() {
	if s.ownsDB {
		s.db.Close()
	}
}

func (s *Store) isClosed() bool {
	select {
	case <-s.closing:
		return true
	default:
		return false
	}
}

func schemaVersion(v int) int {
	if v <= 0 {
		return 1
	}
	return v
}

// clamp maps a uint64 revision or position onto PostgreSQL's bigint.
func clamp(v uint64) int64 {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}

// lockStream takes the stream's advisory lock, held until the transaction
// ends. Two streams whose keys collide only wait for each other.
func (s *Store) lockStream(ctx context.Context, tx postgres.Tx, stream string) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, s.schema+"/"+stream)
	return err
}

// streamHead returns the revision of the stream's last event.
func (s *Store) streamHead(ctx context.Context, tx postgres.Tx, stream string) (uint64, bool, error) {
	var rev int64
	err := tx.QueryRow(ctx, `SELECT revision FROM `+s.events+` WHERE stream = $1 ORDER BY revision DESC LIMIT 1`, stream).Scan(&rev)
	if errors.Is(err, postgres.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return uint64(rev), true, nil
}

const columns = `position, stream, revision, id, type, schema_version, data, metadata, created`

func scanEvents(rows postgres.Rows) ([]events.RecordedEvent, error) {
	defer rows.Close()
	var out []events.RecordedEvent
	for rows.Next() {
		var e events.RecordedEvent
		var pos, rev int64
		var data, meta []byte
		if err := rows.Scan(&pos, &e.Stream, &rev, &e.ID, &e.Type, &e.SchemaVersion, &data, &meta, &e.Time); err != nil {
			return nil, err
		}
		e.Position, e.Revision, e.Data = uint64(pos), uint64(rev), data
		if len(meta) > 0 {
			e.Metadata = meta
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// limit maps max <= 0 (no limit) onto SQL's LIMIT NULL.
func limit(max int) *int64 {
	if max <= 0 {
		return nil
	}
	v := int64(max)
	return &v
}

// ReadStream implements events.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, dir events.Direction, max int) ([]events.RecordedEvent, error) {
	if s.isClosed() {
		return nil, fmt.Errorf("read stream %q: %w", stream, events.ErrClosed)
	}
	q := `SELECT ` + columns + ` FROM ` + s.events + ` WHERE stream = $1 AND revision >= $2 ORDER BY revision LIMIT $3`
	if dir == events.Backwards {
		q = `SELECT ` + columns + ` FROM ` + s.events + ` WHERE stream = $1 AND revision <= $2 ORDER BY revision DESC LIMIT $3`
	}
	rows, err := s.db.Query(ctx, q, stream, clamp(from), limit(max))
	if err != nil {
		return nil, fmt.Errorf("read stream %q: %w", stream, err)
	}
	out, err := scanEvents(rows)
	if err != nil {
		return nil, fmt.Errorf("read stream %q: %w", stream, err)
	}
	if len(out) > 0 {
		return out, nil
	}
	var exists bool
	if err := s.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+s.events+` WHERE stream = $1)`, stream).Scan(&exists); err != nil {
		return nil, fmt.Errorf("read stream %q: %w", stream, err)
	}
	if !exists {
		return nil, fmt.Errorf("read stream %q: %w", stream, events.ErrStreamNotFound)
	}
	return nil, nil
}

// ReadAll implements events.Store.
func (s *Store) ReadAll(ctx context.Context, from uint64, max int) ([]events.RecordedEvent, error) {
	if s.isClosed() {
		return nil, fmt.Errorf("read $all: %w", events.ErrClosed)
	}
	rows, err := s.db.Query(ctx, `SELECT `+columns+` FROM `+s.events+` WHERE position >= $1 ORDER BY position LIMIT $2`, clamp(from), limit(max))
	if err != nil {
		return nil, fmt.Errorf("read $all from %d: %w", from, err)
	}
	out, err := scanEvents(rows)
	if err != nil {
		return nil, fmt.Errorf("read $all from %d: %w", from, err)
	}
	return out, nil
}

// LastPosition returns the global position of the last event committed (0
// for an empty log); it implements projections.HeadReader.
func (s *Store) LastPosition(ctx context.Context) (uint64, error) {
	var p int64
	if err := s.db.QueryRow(ctx, `SELECT last_position FROM `+s.head).Scan(&p); err != nil {
		return 0, fmt.Errorf("last position: %w", err)
	}
	return uint64(p), nil
}

// Prune deletes the events of stream at the given revisions (the retention
// policy, docs/retention.md); it implements retention.Pruner. Events
// already gone are not an error; the stream's last event is never deleted
// (events.ErrPruneHead). Other events keep their revisions and positions.
func (s *Store) Prune(ctx context.Context, stream string, revisions []uint64) (int, error) {
	if len(revisions) == 0 {
		return 0, ctx.Err()
	}
	revs := make([]int64, len(revisions))
	for i, r := range revisions {
		revs[i] = clamp(r)
	}
	var n int64
	err := s.db.InTx(ctx, func(ctx context.Context, tx postgres.Tx) error {
		if err := s.lockStream(ctx, tx, stream); err != nil {
			return err
		}
		head, exists, err := s.streamHead(ctx, tx, stream)
		if err != nil || !exists {
			return err
		}
		for _, rev := range revisions {
			if rev == head {
				return fmt.Errorf("revision %d: %w (head is %d)", rev, events.ErrPruneHead, head)
			}
		}
		tag, err := tx.Exec(ctx, `DELETE FROM `+s.events+` WHERE stream = $1 AND revision = ANY($2)`, stream, revs)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune stream %q: %w", stream, err)
	}
	return int(n), nil
}
