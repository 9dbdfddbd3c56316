// Package postgres opens PostgreSQL connection pools and LISTENs for
// notifications. It is the only package of Grimoire that imports
// github.com/jackc/pgx/v5: everything else (the PostgreSQL event store
// events/postgres, projections, benchmarks) uses the pool through this
// package, and names pgx types through the aliases here (Tx, Rows, Row,
// Batch, BatchResults, Conn) instead of importing pgx.
//
// It imports pgx and the standard library only; nothing of Grimoire's.
// pgtest holds the helper tests use to reach the PostgreSQL of the test
// machine.
package postgres
