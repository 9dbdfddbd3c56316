package figures

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/events"
	pgstore "github.com/grimoire-run/grimoire/events/postgres"
	"github.com/grimoire-run/grimoire/events/storetest"
	"github.com/grimoire-run/grimoire/services/postgres"
	"github.com/grimoire-run/grimoire/services/postgres/pgtest"
)

// benchSchema opens a PostgreSQL event store in a fresh schema of the test
// database (dropped at the end), on a pool of conns connections.
func benchSchema(b *testing.B, conns int32) (*pgstore.Store, *postgres.DB) {
	db := pgtest.Open(b, postgres.Options{MaxConns: conns})
	schema := pgtest.FreshSchema(b, db)
	s, err := pgstore.Open(context.Background(), pgstore.Options{DB: db, Schema: schema})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s, db
}

// BenchmarkPostgresStoreAppend: the PostgreSQL event store
// (events/postgres) with durable 1 KiB events, one per append, each writer
// on its own stream with exact expected revisions, and, on the same server
// in the same run, the same rows as plain autocommit INSERTs into a plain
// table with the same columns and no constraint but its bigserial key (what
// PostgreSQL does without the store's stream lock, idempotency check and
// commit-ordered positions).
//
//	go test -run '^$' -bench 'PostgresStoreAppend' -benchtime 20000x ./events/figures/
func BenchmarkPostgresStoreAppend(b *testing.B) {
	for _, writers := range []int{1, 64} {
		b.Run(fmt.Sprintf("store/writers=%d", writers), func(b *testing.B) {
			s, _ := benchSchema(b, int32(writers)+2)
			storetest.MeasureAppends(b, writers, 1024, storetest.StoreAppender(s, "run-bench-"))
		})
		b.Run(fmt.Sprintf("insert/writers=%d", writers), func(b *testing.B) {
			_, db := benchSchema(b, int32(writers)+2)
			storetest.MeasureAppends(b, writers, 1024, plainInsert(b, db))
		})
	}
}

// plainInsert appends by one INSERT of the store's row into a plain table.
func plainInsert(b *testing.B, db *postgres.DB) storetest.AppendFunc {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	table := fmt.Sprintf("bench_plain_%d", time.Now().UnixNano())
	if _, err := db.Exec(ctx, `CREATE TABLE `+table+` (
		position bigserial PRIMARY KEY, stream text NOT NULL, revision bigint NOT NULL,
		id text NOT NULL, type text NOT NULL, schema_version int NOT NULL,
		data bytea NOT NULL, metadata bytea, created timestamptz NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Exec(context.Background(), "DROP TABLE IF EXISTS "+table) })
	insert := `INSERT INTO ` + table + ` (stream, revision, id, type, schema_version, data, created) VALUES ($1, $2, $3, $4, 1, $5, clock_timestamp())`
	return func(ctx context.Context, w, i int, payload []byte) error {
		stream := fmt.Sprintf("run-bench-%d", w)
		_, err := db.Exec(ctx, insert, stream, i, events.NewID(stream, fmt.Sprint(i)), "BenchEvent", payload)
		return err
	}
}

// BenchmarkPostgresStoreSubscriptionLag: storetest.MeasureSubscriptionLag
// on the PostgreSQL event store: 64 writers paced at 1,000 events/s in all,
// one live subscriber, either on the writers' Store (same process: woken
// by the local commit) or on a second Store with its own pool on the same
// schema (another process: woken by NOTIFY).
//
//	go test -run '^$' -bench 'PostgresStoreSubscriptionLag' -benchtime 10000x ./events/figures/
func BenchmarkPostgresStoreSubscriptionLag(b *testing.B) {
	b.Run("same-process", func(b *testing.B) {
		s, _ := benchSchema(b, 8)
		storetest.MeasureSubscriptionLag(b, s, s, 1_000, 64)
	})
	b.Run("other-process", func(b *testing.B) {
		s, _ := benchSchema(b, 8)
		other, err := pgstore.Open(context.Background(), pgstore.Options{URL: pgtest.URL(), Schema: s.Schema()})
		if err != nil {
			b.Fatal(err)
		}
		defer other.Close()
		storetest.MeasureSubscriptionLag(b, s, other, 1_000, 64)
	})
}
