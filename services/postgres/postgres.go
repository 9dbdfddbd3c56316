package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Aliases, so that callers can name what the pool hands out without
// importing pgx.
type (
	Tx           = pgx.Tx
	Rows         = pgx.Rows
	Row          = pgx.Row
	Batch        = pgx.Batch
	BatchResults = pgx.BatchResults
	// Conn is a connection taken from the pool (DB.Acquire); Release
	// gives it back (a connection left inside a transaction is closed
	// instead).
	Conn = pgxpool.Conn
)

// ErrNoRows is what Row.Scan returns when a query matched nothing.
var ErrNoRows = pgx.ErrNoRows

// Options configure a pool. URL is required.
type Options struct {
	// URL is a PostgreSQL connection string
	// (postgres://user@host:5432/db?sslmode=disable) or DSN.
	URL string
	// MaxConns caps the pool's connections (default: pgx's, the larger of
	// 4 and the number of CPUs).
	MaxConns int32
	// ConnectTimeout bounds Open's first connection and ping (default 10s).
	ConnectTimeout time.Duration
}

// DB is a connection pool. Use its methods (Exec, Query, QueryRow,
// SendBatch, Begin…) directly; Close it when done.
type DB struct {
	*pgxpool.Pool
}

// Open opens a pool on url with default options and checks that the
// server answers.
func Open(ctx context.Context, url string) (*DB, error) {
	return OpenOptions(ctx, Options{URL: url})
}

// OpenOptions opens a pool and checks that the server answers.
func OpenOptions(ctx context.Context, opts Options) (*DB, error) {
	if opts.URL == "" {
		return nil, errors.New("open PostgreSQL: no connection URL")
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 10 * time.Second
	}
	cfg, err := pgxpool.ParseConfig(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("open PostgreSQL %s: %w", Redact(opts.URL), err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	ctx, cancel := context.WithTimeout(ctx, opts.ConnectTimeout)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open PostgreSQL %s: %w", Redact(opts.URL), err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open PostgreSQL %s: %w", Redact(opts.URL), err)
	}
	return &DB{Pool: pool}, nil
}

// InTx runs fn in a transaction: committed when fn returns nil, rolled
// back otherwise (and when ctx ends).
func (db *DB) InTx(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error {
	tx, err := db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(ctx, tx); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit transaction: %w", err)
	}
	return nil
}

// SQLState returns the SQLSTATE code of a server error ("" for other
// errors), for branching on, e.g., UniqueViolation.
func SQLState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// SQLSTATE codes callers branch on.
const (
	UniqueViolation = "23505"
	UndefinedTable  = "42P01"
)

// Redact returns url with its password replaced, for error messages and
// logs.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Ident quotes an SQL identifier (a schema, table or channel name) made of
// the given parts, e.g. Ident("grimoire", "events") is "grimoire"."events".
func Ident(parts ...string) string { return pgx.Identifier(parts).Sanitize() }

// Listener holds one connection of the pool LISTENing on a channel, for
// NOTIFY wake-ups. It is used by one goroutine at a time.
type Listener struct {
	conn *pgxpool.Conn
}

// Listen takes a connection out of the pool and LISTENs on channel with it.
// Close the Listener to give the connection back.
func (db *DB) Listen(ctx context.Context, channel string) (*Listener, error) {
	conn, err := db.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", channel, err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+Ident(channel)); err != nil {
		conn.Release()
		return nil, fmt.Errorf("listen on %s: %w", channel, err)
	}
	return &Listener{conn: conn}, nil
}

// Wait blocks until a notification arrives on the channel and returns its
// payload, or ctx ends. After an error other than ctx's end the
// connection is broken: Close the Listener and Listen again.
func (l *Listener) Wait(ctx context.Context) (string, error) {
	n, err := l.conn.Conn().WaitForNotification(ctx)
	if err != nil {
		return "", err
	}
	return n.Payload, nil
}

// Close closes the listening connection (a connection that LISTENed is
// not handed to other users of the pool).
func (l *Listener) Close() {
	conn := l.conn.Hijack()
	conn.Close(context.Background())
}
