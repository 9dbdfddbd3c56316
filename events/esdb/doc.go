// Package esdb is the EventStoreDB adapter: an events.Store on top of
// EventStoreDB through github.com/EventStore/EventStore-Client-Go/v4
// (v4.1.0), configured with one connection string
// (GRIMOIRE_EVENTSTORE_URL, for example esdb://host:2113?tls=false).
//
// What it adds to the client:
//
//   - expected revisions (Any, NoStream, StreamExists, Exact) and
//     deterministic event IDs, so that a retried append is idempotent;
//   - typed errors: events.ErrWrongExpectedRevision (*events.WrongRevisionError,
//     from the typed response or from the message text of servers that send
//     conflicts as a plain gRPC status), events.ErrStreamNotFound,
//     events.ErrEventTooLarge (checked before sending, and mapped from the
//     server's MaxAppendSize rejection), events.ErrClosed;
//   - one uint64 global position (see position.go) for the server's
//     commit/prepare pair, and $all reads without system events;
//   - subscriptions to $all with stream-prefix and event-type filters from a
//     checkpoint that resubscribe from the last position seen when the
//     server drops them, without loss or duplicates;
//   - containment of the client's failure modes: calls honour ctx even where
//     the client blocks without looking at it, a client that gave up on
//     discovery is replaced, and the client's panics (an unexpected read
//     message, a send on its closed channel) become errors.
//
// This is the only package of Grimoire that imports the EventStoreDB
// client; its test double (esdbtest) lives beside it. It must not import
// nodes, server, graph, projections or another storage engine.
package esdb
