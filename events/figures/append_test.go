package figures

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/events/embedded"
	"github.com/grimoire-run/grimoire/events/storetest"
	"github.com/grimoire-run/grimoire/services/postgres"
	"github.com/grimoire-run/grimoire/services/postgres/pgtest"
)

// BenchmarkAppend: embedded store vs PostgreSQL, same workload, same run.
//
//	go test -run '^$' -bench Append -benchtime 50000x ./events/figures/
func BenchmarkAppend(b *testing.B) {
	for _, writers := range []int{1, 64} {
		b.Run(fmt.Sprintf("embedded/writers=%d", writers), func(b *testing.B) {
			s, err := embedded.Open(embedded.Options{Dir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			storetest.MeasureAppends(b, writers, 1024, storetest.StoreAppender(s, "run-bench-"))
		})
		b.Run(fmt.Sprintf("postgres/writers=%d", writers), func(b *testing.B) {
			db := pgtest.Open(b, postgres.Options{MaxConns: int32(writers)})
			storetest.MeasureAppends(b, writers, 1024, postgresAppender(b, db))
		})
	}
}

// postgresAppender is the event store a user would build on PostgreSQL:
// one row per event, the global order from a sequence, (stream, revision)
// unique so that a writer that lost a race fails (optimistic concurrency,
// like an exact expected revision), each append its own durable commit
// (synchronous_commit on, the server's default).
func postgresAppender(b *testing.B, db *postgres.DB) storetest.AppendFunc {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	table := fmt.Sprintf("bench_events_%d", time.Now().UnixNano())
	_, err := db.Exec(ctx, `CREATE TABLE `+table+` (
		position bigserial PRIMARY KEY,
		stream   text NOT NULL,
		revision bigint NOT NULL,
		type     text NOT NULL,
		data     jsonb NOT NULL,
		created  timestamptz NOT NULL DEFAULT now(),
		UNIQUE (stream, revision))`)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Exec(context.Background(), "DROP TABLE IF EXISTS "+table) })
	insert := `INSERT INTO ` + table + ` (stream, revision, type, data) VALUES ($1, $2, $3, $4)`
	return func(ctx context.Context, w, i int, payload []byte) error {
		_, err := db.Exec(ctx, insert, fmt.Sprintf("run-bench-%d", w), i, "BenchEvent", string(payload))
		return err
	}
}
