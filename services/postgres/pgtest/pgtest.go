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
	"crypto/rand"
	"encoding/hex"
	"net/url"
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

// FreshDatabase creates an empty database on the test server for one test
// and returns its connection string; the database is dropped (its
// connections terminated) when the test ends. Use it for what opens its
// own pools from a URL, such as a grimoire process.
func FreshDatabase(tb testing.TB) string {
	tb.Helper()
	db := Open(tb, postgres.Options{})
	var rnd [6]byte
	rand.Read(rnd[:])
	name := "grimoire_test_" + hex.EncodeToString(rnd[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.Exec(ctx, "CREATE DATABASE "+postgres.Ident(name)); err != nil {
		tb.Fatalf("create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.Exec(ctx, "DROP DATABASE IF EXISTS "+postgres.Ident(name)+" WITH (FORCE)"); err != nil {
			tb.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(URL())
	if err != nil {
		tb.Fatalf("%s: %v", EnvURL, err)
	}
	u.Path = "/" + name
	return u.String()
}

// FreshSchema creates an empty schema in db's database for one test and
// returns its name; the schema is dropped, with everything in it, when the
// test ends.
func FreshSchema(tb testing.TB, db *postgres.DB) string {
	tb.Helper()
	var rnd [6]byte
	rand.Read(rnd[:])
	schema := "test_" + hex.EncodeToString(rnd[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.Exec(ctx, "CREATE SCHEMA "+postgres.Ident(schema)); err != nil {
		tb.Fatalf("create schema %s: %v", schema, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.Exec(ctx, "DROP SCHEMA IF EXISTS "+postgres.Ident(schema)+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}
