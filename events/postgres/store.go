package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
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

// MaxStreamNameLen is the longest stream name the store accepts.
const MaxStreamNameLen = 1024

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

	closeOnce sync.Once
	closing   chan struct{}
	// ctx ends at Close; subscriptions and the listener derive from it.
	ctx  context.Context
	stop context.CancelFunc
	bg   sync.WaitGroup

	// testHook, when set (tests only), runs inside an append's transaction
	// at the named point: "allocated" once the events have their global
	// positions and before the transaction commits.
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
	s.bg.Add(1)
	go s.listen(s.ctx, l)
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

// DB is the pool the store uses (read models may share it).
func (s *Store) DB() *postgres.DB { return s.db }

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

func validStream(stream string) error {
	switch {
	case stream == "":
		return errors.New("stream name is empty")
	case len(stream) > MaxStreamNameLen:
		return fmt.Errorf("stream name is %d bytes, at most %d", len(stream), MaxStreamNameLen)
	case strings.IndexByte(stream, 0) >= 0:
		return errors.New("stream name contains NUL")
	}
	return nil
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

// Append implements events.Store. It is one transaction:
//
//  1. a transaction-level advisory lock on the stream (appends to one
//     stream queue here; appends to different streams do not);
//  2. the stream's head, the idempotency check and the expected revision;
//  3. the global positions, taken from the one-row log_head table with an
//     UPDATE, which holds that row's lock until the transaction has
//     committed and become visible; the rows are inserted in the same
//     statement, which also NOTIFYs;
//  4. COMMIT.
//
// Step 3 is why a reader never skips an event: see the package doc.
func (s *Store) Append(ctx context.Context, stream string, expected events.ExpectedRevision, evs ...events.EventData) (events.AppendResult, error) {
	if err := validStream(stream); err != nil {
		return events.AppendResult{}, fmt.Errorf("append to %q: %w", stream, err)
	}
	for i, ev := range evs {
		if ev.Type == "" {
			return events.AppendResult{}, fmt.Errorf("append to %q: event %d has no type", stream, i)
		}
		if size := len(ev.Data) + len(ev.Metadata) + len(ev.Type) + len(ev.ID); size > s.opts.MaxEventSize {
			return events.AppendResult{}, &events.EventTooLargeError{Stream: stream, Index: i, Size: size, Limit: s.opts.MaxEventSize}
		}
	}
	if s.isClosed() {
		return events.AppendResult{}, fmt.Errorf("append to %q: %w", stream, events.ErrClosed)
	}
	var res events.AppendResult
	err := s.db.InTx(ctx, func(ctx context.Context, tx postgres.Tx) error {
		var err error
		res, err = s.appendTx(ctx, tx, stream, expected, evs)
		return err
	})
	if err != nil {
		if s.isClosed() {
			return events.AppendResult{}, fmt.Errorf("append to %q: %w", stream, events.ErrClosed)
		}
		var wre *events.WrongRevisionError
		if errors.As(err, &wre) {
			return events.AppendResult{}, err
		}
		// A failed COMMIT may have committed: retrying with the same IDs
		// and expected revision is idempotent.
		return events.AppendResult{}, fmt.Errorf("append to %q: %w", stream, err)
	}
	return res, nil
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

func (s *Store) appendTx(ctx context.Context, tx postgres.Tx, stream string, expected events.ExpectedRevision, evs []events.EventData) (events.AppendResult, error) {
	if err := s.lockStream(ctx, tx, stream); err != nil {
		return events.AppendResult{}, err
	}
	last, exists, err := s.streamHead(ctx, tx, stream)
	if err != nil {
		return events.AppendResult{}, err
	}
	if res, ok, err := s.alreadyAppended(ctx, tx, stream, expected, evs, last, exists); err != nil || ok {
		return res, err
	}
	if !expected.Check(last, exists) {
		return events.AppendResult{}, &events.WrongRevisionError{Stream: stream, Expected: expected, ActualExists: exists, Actual: last}
	}
	if len(evs) == 0 {
		res := events.AppendResult{NextRevision: last}
		if exists {
			var pos int64
			if err := tx.QueryRow(ctx, `SELECT position FROM `+s.events+` WHERE stream = $1 AND revision = $2`, stream, clamp(last)).Scan(&pos); err != nil {
				return events.AppendResult{}, err
			}
			res.Position = uint64(pos)
		}
		return res, nil
	}
	first := uint64(0)
	if exists {
		first = last + 1
	}
	n := len(evs)
	ids := make([]string, n)
	types := make([]string, n)
	versions := make([]int32, n)
	data := make([][]byte, n)
	meta := make([][]byte, n)
	for i, ev := range evs {
		ids[i] = ev.ID
		if ids[i] == "" {
			ids[i] = events.DeterministicID(stream, first+uint64(i), ev)
		}
		types[i] = ev.Type
		versions[i] = int32(schemaVersion(ev.SchemaVersion))
		data[i] = ev.Data
		if data[i] == nil {
			data[i] = []byte{}
		}
		if len(ev.Metadata) > 0 {
			meta[i] = ev.Metadata
		}
	}
	// The log_head UPDATE takes the row lock that orders commits; nothing
	// slow may run between it and COMMIT.
	var base int64
	var at time.Time
	err = tx.QueryRow(ctx, `
		WITH alloc AS (
			UPDATE `+s.head+` SET last_position = last_position + $1
			RETURNING last_position - $1 AS base, clock_timestamp() AS at
		), ins AS (
			INSERT INTO `+s.events+` (position, stream, revision, id, type, schema_version, data, metadata, created)
			SELECT alloc.base + e.ord, $2, $3 + e.ord - 1, e.id, e.type, e.sv, e.data, e.md, alloc.at
			FROM alloc, unnest($4::text[], $5::text[], $6::int[], $7::bytea[], $8::bytea[]) WITH ORDINALITY AS e(id, type, sv, data, md, ord)
		)
		SELECT alloc.base, alloc.at FROM alloc, (SELECT pg_notify($9, '')) AS notified`,
		n, stream, clamp(first), ids, types, versions, data, meta, s.channel).Scan(&base, &at)
	if err != nil {
		return events.AppendResult{}, err
	}
	if s.testHook != nil {
		s.testHook("allocated", stream)
	}
	recs := make([]events.RecordedEvent, n)
	for i, ev := range evs {
		recs[i] = events.RecordedEvent{
			Stream: stream, Revision: first + uint64(i), Position: uint64(base) + uint64(i) + 1,
			ID: ids[i], Type: ev.Type, SchemaVersion: int(versions[i]),
			Data: data[i], Metadata: meta[i], Time: at,
		}
	}
	return events.AppendResult{NextRevision: first + uint64(n) - 1, Position: uint64(base) + uint64(n), Recorded: recs}, nil
}

// alreadyAppended reports whether evs already sit in the stream where this
// append would have put them (a retry of an append that succeeded), as
// the embedded store decides it.
func (s *Store) alreadyAppended(ctx context.Context, tx postgres.Tx, stream string, expected events.ExpectedRevision, evs []events.EventData, last uint64, exists bool) (events.AppendResult, bool, error) {
	k := uint64(len(evs))
	if k == 0 || !exists {
		return events.AppendResult{}, false, nil
	}
	var start uint64
	switch rev, exact := expected.Revision(); {
	case expected.IsNoStream():
		start = 0
	case expected.IsAny():
		if last+1 < k {
			return events.AppendResult{}, false, nil
		}
		start = last + 1 - k
	case exact:
		start = rev + 1
	default:
		return events.AppendResult{}, false, nil
	}
	if start+k-1 > last {
		return events.AppendResult{}, false, nil
	}
	rows, err := tx.Query(ctx, `SELECT revision, position, id FROM `+s.events+` WHERE stream = $1 AND revision >= $2 AND revision < $3 ORDER BY revision`,
		stream, clamp(start), clamp(start+k))
	if err != nil {
		return events.AppendResult{}, false, err
	}
	defer rows.Close()
	i := uint64(0)
	var lastPos int64
	for rows.Next() {
		var rev int64
		var id string
		if err := rows.Scan(&rev, &lastPos, &id); err != nil {
			return events.AppendResult{}, false, err
		}
		want := evs[i].ID
		if want == "" {
			want = events.DeterministicID(stream, start+i, evs[i])
		}
		if uint64(rev) != start+i || id != want {
			return events.AppendResult{}, false, nil
		}
		i++
	}
	if err := rows.Err(); err != nil || i != k {
		return events.AppendResult{}, false, err
	}
	return events.AppendResult{NextRevision: start + k - 1, Position: uint64(lastPos)}, true, nil
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
