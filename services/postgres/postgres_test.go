package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/services/postgres"
	"github.com/grimoire-run/grimoire/services/postgres/pgtest"
)

func TestOpenQueryAndTransactions(t *testing.T) {
	db := pgtest.Open(t, postgres.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	table := fmt.Sprintf("pgtest_%d", time.Now().UnixNano())
	if _, err := db.Exec(ctx, "CREATE TABLE "+table+" (k text PRIMARY KEY, v int NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Exec(context.Background(), "DROP TABLE IF EXISTS "+table) })

	if err := db.InTx(ctx, func(ctx context.Context, tx postgres.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO "+table+" VALUES ('a', 1)")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := db.InTx(ctx, func(ctx context.Context, tx postgres.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO "+table+" VALUES ('b', 2)"); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("InTx returned %v, want fn's error", err)
	}
	var n int
	if err := db.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows after a commit and a rollback: %d, %v; want 1", n, err)
	}
	_, err := db.Exec(ctx, "INSERT INTO "+table+" VALUES ('a', 3)")
	if postgres.SQLState(err) != postgres.UniqueViolation {
		t.Fatalf("duplicate key: %v (SQLSTATE %q), want %s", err, postgres.SQLState(err), postgres.UniqueViolation)
	}
	if err := db.QueryRow(ctx, "SELECT v FROM "+table+" WHERE k = 'zzz'").Scan(&n); !errors.Is(err, postgres.ErrNoRows) {
		t.Fatalf("no row: %v, want ErrNoRows", err)
	}
}

func TestOpenFailsClearly(t *testing.T) {
	for _, tc := range []struct{ name, url string }{
		{"empty", ""},
		{"unparsable", "postgres://%zz"},
		{"nobody listening", "postgres://u:secret@127.0.0.1:1/db?sslmode=disable&connect_timeout=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := postgres.OpenOptions(context.Background(), postgres.Options{URL: tc.url, ConnectTimeout: 2 * time.Second})
			if err == nil {
				t.Fatal("want an error")
			}
			if contains(err.Error(), "secret") {
				t.Fatalf("error shows the password: %v", err)
			}
		})
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
