// Package postgres is an events.Store on PostgreSQL (through
// services/postgres, the one wrapper of pgx): the shared log that lets
// several `grimoire serve` processes form one deployment
// (GRIMOIRE_EVENTSTORE_URL=postgres://…). Decision record
// docs/decisions/0011-postgres-event-store.md says why it is built this way.
//
// Schema (one PostgreSQL schema, grimoire_events by default, created on
// Open): events(position PK, stream, revision, id, type, schema_version,
// data bytea, metadata bytea, created) with (stream, revision) unique;
// log_head, one row holding the last global position; blobs(sha256 PK,
// size, data bytea), the blob store of events.WithBlobs, so that blobs are
// shared exactly as widely as the log.
//
// Appends are group-committed: one writer goroutine per Store takes every
// Append waiting (up to 512 appends, 4,096 events, 16 MiB; after a commit
// it waits up to 1 ms, never longer than that commit took, for the
// appenders it just answered to come back) and commits them in one
// transaction, deciding each on its own (a wrong expected
// revision fails that append only). The transaction takes
// transaction-level advisory locks on its streams, in sorted order, so
// that another process appending to one of them waits for it (optimistic
// concurrency and the idempotency check then read a stable head) and two
// processes never deadlock.
//
// Global positions, and why no reader skips an event. With a sequence
// (bigserial), position order is allocation order but visibility is commit
// order: a transaction that took position 7 and commits after the one that
// took 8 is invisible while 8 is visible, and a subscriber that checkpoints
// on 8 never reads 7. This store instead takes positions at the end of the
// transaction, right before COMMIT, by incrementing the one log_head row.
// That UPDATE holds the row's lock until the transaction ends, and
// PostgreSQL releases a transaction's locks only after its commit is
// durable and visible (CommitTransaction: WAL flush, then
// ProcArrayEndTransaction, then lock release). The next appender (this
// process's next group commit, or another process's) therefore takes a
// larger position and cannot commit before the previous commit is
// visible: visibility order equals position order, and every snapshot
// holds a prefix of the log. The price is that commits of the global log
// are serial — one WAL flush at a time, which the group commit shares
// among all the appends waiting (docs/benchmarks.md has the figures), as
// EventStoreDB and the embedded store do; the
// alternative — positions from a sequence and readers that stop at the
// visibility horizon pg_snapshot_xmin(pg_current_snapshot()) — keeps
// commits parallel but lets any long write transaction on the server stall
// every subscriber, and needs (xid, position) checkpoints.
//
// Subscriptions: one query, for catch-up and live alike: the next page of
// matching events after the cursor, and the head, from one snapshot (so
// that the cursor can move past filtered-out events). When a page is empty
// the subscription waits for a wake-up: every group commit wakes this
// process's subscriptions directly and NOTIFYs the schema's channel
// (delivered after commit) for the other processes, where one LISTEN
// connection per Store turns notifications into wake-ups; a poll interval
// (1 s) covers a lost connection. Since NOTIFY is only a wake-up, two processes on one schema
// each see every event of both.
//
// Retention: Prune (retention.Pruner) deletes single events and never the
// head of a stream (events.ErrPruneHead).
//
// It imports events and services/postgres; nothing else of Grimoire.
package postgres
