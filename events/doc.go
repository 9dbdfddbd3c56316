// Package events is Grimoire's event log: the versioned JSON schema of run
// and spell events, the Store port every log implementation satisfies
// (embedded, PostgreSQL, EventStoreDB), the blob store and the wrapper that
// keeps large event data out of the log.
//
// Sub-packages: embedded (the default durable store in a data directory),
// postgres (the log several processes share, blobs included), esdb (the
// EventStoreDB adapter), storetest (the contract suite every Store
// passes), bus (Watermill), recorder (a run's history), figures (test-only:
// the benchmarks behind docs/benchmarks.md, PostgreSQL side by side).
//
// The schema, the Store port and the blob wrapper use only the standard
// library. events must not import nodes or server, nor a storage engine
// (pebble, pgx, the EventStoreDB client): those live in the sub-packages that
// wrap them.
package events
