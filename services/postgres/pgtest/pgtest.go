// Package pgtest gives tests and benchmarks a connection to the test
// machine's PostgreSQL: GRIMOIRE_TEST_POSTGRES_URL, by default
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable (trust auth).
// When the server cannot be reached the test fails if CI=true and is
// skipped otherwise.
//
// Only test code imports it.
package pgtest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/services/postgres"
)

// EnvURL names the variable that overrides DefaultURL.
const EnvURL = "GRIMOIRE_TEST_POSTGRES_URL"

// DefaultURL is the PostgreSQL of the test machine.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// URL returns the test database's connection string.
func URL() string {
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	return DefaultURL
}

// Open opens a pool on the test database and closes it when the test ends.
func Open(tb testing.TB, opts postgres.Options) *postgres.DB {
	tb.Helper()
	if opts.URL == "" {
		opts.URL = URL()
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 5 * time.Second
	}
	db, err := postgres.OpenOptions(context.Background(), opts)
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("PostgreSQL is required in CI: %v", err)
		}
		tb.Skipf("PostgreSQL not reachable (set %s, or start it on 127.0.0.1:5432): %v", EnvURL, err)
	}
	tb.Cleanup(db.Close)
	return db
}
