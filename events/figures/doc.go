// Package figures holds, in test code only, the benchmarks behind the
// published figures of the event log (docs/benchmarks.md). Each reports its
// figures with b.ReportMetric:
//
//   - BenchmarkAppend: durable 1 KiB events, one event per append, each
//     writer on its own stream with exact expected revisions; the embedded
//     store and, side by side in the same run, the same workload as
//     single-row INSERTs committed into PostgreSQL (the peer a user would
//     otherwise pick; GRIMOIRE_TEST_POSTGRES_URL, default the test
//     machine's). events/s, p50_µs and p99_µs of one append.
//   - BenchmarkSubscriptionLag: a subscription on the embedded store while
//     writers append at a paced 10,000 events/s; delivery lag from the
//     Append call (p50/p99/max, ms) and from the Append's return (p99).
//   - BenchmarkPostgresStoreAppend: the PostgreSQL event store
//     (events/postgres), same workload, 1 and 64 writers, and in the same
//     run the same rows as plain INSERTs into a plain table on the same
//     server.
//   - BenchmarkPostgresStoreSubscriptionLag: the lag figure on the
//     PostgreSQL store at 1,000 events/s, subscriber in the writers'
//     process and in another one (woken by NOTIFY).
//   - BenchmarkRecordingOverhead: a 100-node spell whose nodes take 1 ms,
//     run bare and run recorded by the run executor into the embedded
//     store, alternately; overhead_% of the run's wall time.
//
// Run them with (-benchtime counts events, resp. runs; the single-writer
// cases are slow, so they get fewer):
//
//	go test -run '^$' -bench 'Append/.*/writers=64|SubscriptionLag' -benchtime 50000x ./events/figures/
//	go test -run '^$' -bench 'Append/.*/writers=1$' -benchtime 5000x ./events/figures/
//	go test -run '^$' -bench RecordingOverhead -benchtime 60x ./events/figures/
//	go test -run '^$' -bench 'PostgresStoreAppend/.*/writers=64' -benchtime 20000x ./events/figures/
//	go test -run '^$' -bench 'PostgresStoreAppend/.*/writers=1$' -benchtime 3000x ./events/figures/
//	go test -run '^$' -bench 'PostgresStoreSubscriptionLag' -benchtime 10000x ./events/figures/
//
// (make bench-events runs these and the engine comparison.)
//
// Test-only: production code must not import it. It imports the embedded
// and PostgreSQL stores, the run executor and services/postgres.
package figures
