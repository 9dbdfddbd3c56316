// Package embedded is Grimoire's default event store: durable, pure Go, in
// a data directory, no server to run.
//
// One writer goroutine takes every pending append, checks each against its
// stream's expected revision, gives the accepted events their revisions and
// global positions, and commits them all in one synced Pebble batch (group
// commit: concurrent appends share one fsync). An append returns only after
// that sync. Before a commit the writer may wait briefly (Options.GroupWait)
// for the appenders it just answered, so that appenders that append in a
// loop share one sync instead of taking turns in two halves. Reads and subscriptions go to Pebble, and live subscribers are
// served from an in-memory window of recently committed events.
// docs/decisions/0001-embedded-event-store.md records why Pebble, with the
// measurements.
//
// This is the only package that imports github.com/cockroachdb/pebble.
// It must not import anything of Grimoire's but events.
package embedded
