// Package esdbtest is a test double for EventStoreDB: FakeStreamsServer, an
// in-process gRPC server that speaks the subset of EventStoreDB's wire
// protocol (protos shipped in EventStore-Client-Go v4.1.0) that the
// events/esdb adapter uses — Streams.Append, Streams.Read (stream and $all
// reads, forwards and backwards, filtered catch-up-then-live subscriptions
// with checkpoints) and ServerFeatures.GetSupportedMethods — over a real
// loopback listener without TLS.
//
// It exists because no EventStoreDB server can run in CI. It keeps events in
// memory with the server's semantics: expected revisions, idempotent
// re-appends of the same event IDs, WrongExpectedVersion responses (typed, or
// as EventStoreDB 20.6 sent them, as a gRPC status with the details in its
// message), the 1 MiB append cap, byte-offset log positions with gaps, and a
// system event at the head of $all. It can also go away and come back
// (Stop, Restart) and inject faults the real server produces.
//
// Only test code imports this package. Like events/esdb, it may import the
// EventStoreDB client module (its protobuf packages); nothing outside
// events/esdb may.
package esdbtest
