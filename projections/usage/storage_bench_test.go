package usage_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/projections/usage"
	"github.com/grimoire-run/grimoire/services/postgres"
	"github.com/grimoire-run/grimoire/services/postgres/pgtest"
)

// benchEvents is n NodeCompleted events with usage, spread over 13 users,
// 7 spells and 3 models, as the usage model receives them.
func benchEvents(n int) []events.RecordedEvent {
	at := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	out := make([]events.RecordedEvent, n)
	for i := range out {
		ev := events.MustEncode(&events.NodeCompleted{
			RunHeader: events.RunHeader{RunID: fmt.Sprint("r", i/30), Seq: uint64(i%30 + 2), SpellID: fmt.Sprint("spell-", i%7), Time: at.Add(time.Duration(i) * time.Second)},
			NodeRef:   events.NodeRef{NodeID: fmt.Sprint("n", i%30), NodeType: "Generator", Activation: 1},
			Outputs:   map[string]any{"result": "The answer is forty-two, as everyone knows."}, Duration: time.Second,
			Usage: &events.Usage{Model: fmt.Sprint("model-", i%3), PromptTokens: 120, CompletionTokens: 12, TotalTokens: 132, Calls: 1}})
		out[i] = events.RecordedEvent{Stream: fmt.Sprint("run-r", i/30), Revision: uint64(i%30 + 1), Position: uint64(i + 1),
			Type: events.TypeNodeCompleted, Data: ev.Data, Time: at}
	}
	return out
}

// BenchmarkUsageStorage compares where the usage read model could live:
// in memory with a snapshot (the choice), and PostgreSQL tables updated
// with the checkpoint in the same transaction, per event or per page of
// 4,096 events (cells summed in memory first). docs/decisions/0006.
func BenchmarkUsageStorage(b *testing.B) {
	const n = 20_000
	evs := benchEvents(n)
	ctx := context.Background()
	b.Run("memory", func(b *testing.B) {
		for range b.N {
			m, _ := usage.Open(usage.Options{})
			for _, e := range evs {
				if err := m.Handle(ctx, e); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
	})
	pg := func(b *testing.B) *postgres.DB {
		db := pgtest.Open(b, postgres.Options{})
		for _, q := range []string{
			`DROP TABLE IF EXISTS bench_usage_cells, bench_usage_checkpoint`,
			`CREATE TABLE bench_usage_cells (day date, usr text, spell text, model text, calls bigint, prompt bigint, completion bigint, total bigint, nodes bigint, PRIMARY KEY (day, usr, spell, model))`,
			`CREATE TABLE bench_usage_checkpoint (name text PRIMARY KEY, position bigint)`,
			`INSERT INTO bench_usage_checkpoint VALUES ('usage', 0)`,
		} {
			if _, err := db.Exec(ctx, q); err != nil {
				b.Fatal(err)
			}
		}
		b.Cleanup(func() {
			db.Exec(context.Background(), `DROP TABLE IF EXISTS bench_usage_cells, bench_usage_checkpoint`)
		})
		return db
	}
	const upsert = `INSERT INTO bench_usage_cells VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1)
		ON CONFLICT (day, usr, spell, model) DO UPDATE SET calls = bench_usage_cells.calls + $5, prompt = bench_usage_cells.prompt + $6,
		completion = bench_usage_cells.completion + $7, total = bench_usage_cells.total + $8, nodes = bench_usage_cells.nodes + 1`
	b.Run("postgres/per-event", func(b *testing.B) {
		db := pg(b)
		const perEvent = 2_000 // a tenth of the events: each is a synced transaction
		b.ResetTimer()
		for range b.N {
			for _, e := range evs[:perEvent] {
				err := db.InTx(ctx, func(ctx context.Context, tx postgres.Tx) error {
					if _, err := tx.Exec(ctx, upsert, "2026-11-20", "u", "s", "m", 1, 120, 12, 132 /* one event's usage; decoding is not counted */); err != nil {
						return err
					}
					_, err := tx.Exec(ctx, `UPDATE bench_usage_checkpoint SET position = $1 WHERE name = 'usage'`, e.Position)
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(perEvent*b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("postgres/per-page", func(b *testing.B) {
		db := pg(b)
		b.ResetTimer()
		for range b.N {
			for start := 0; start < n; start += 4096 {
				page := evs[start:min(start+4096, n)]
				// The page is summed in memory by the model itself, then
				// its cells are added to the tables.
				m, _ := usage.Open(usage.Options{})
				for _, e := range page {
					if err := m.Handle(ctx, e); err != nil {
						b.Fatal(err)
					}
				}
				rep, _ := m.Report(usage.Query{GroupBy: []string{usage.ByDay, usage.ByUser, usage.BySpell, usage.ByModel}})
				err := db.InTx(ctx, func(ctx context.Context, tx postgres.Tx) error {
					batch := &postgres.Batch{}
					for _, r := range rep.Rows {
						batch.Queue(upsert, r.Day, r.User, r.SpellID, r.Model, r.Calls, r.PromptTokens, r.CompletionTokens, r.TotalTokens)
					}
					batch.Queue(`UPDATE bench_usage_checkpoint SET position = $1 WHERE name = 'usage'`, page[len(page)-1].Position)
					return tx.SendBatch(ctx, batch).Close()
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
	})
}
