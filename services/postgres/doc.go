// Package postgres opens PostgreSQL connection pools. It is the only
// package of Grimoire that imports github.com/jackc/pgx/v5: everything else
// (projections, benchmarks) uses the pool through this package, and names
// pgx types through the aliases here (Tx, Rows, Row, Batch) instead of
// importing pgx.
//
// It imports pgx and the standard library only; nothing of Grimoire's.
// pgtest holds the helper tests use to reach the PostgreSQL of the test
// machine.
package postgres
