// Package recorder writes one run's history to the event store: it is the
// graph.Observer a run is given, and it turns what the runner reports
// (NodeEvent) into the event schema of package events, appended to stream
// run-<runId> in order.
//
// The run never waits for the store: observer calls only enqueue (node
// events are encoded by the writer goroutine, off the run's path: the
// inputs and outputs a node reported must not be modified afterwards), a
// writer goroutine appends whatever has queued up in one append
// (group commit; it lets events gather for Options.Linger, 20ms, so that a
// run of short nodes pays for a sync per 20 milliseconds, not per node;
// Flush skips the wait), an append too large for the store as a whole
// (EventStoreDB: 1 MiB) is split, streamed tokens are coalesced into NodeOutputChunk events
// by time and size, and committed events are published on the bus after
// the commit. Appends use exact expected revisions and deterministic event
// IDs (events.RunEventID), so a retried append is idempotent and a run's
// stream can never fork: if another process takes the run over, this
// recorder stops with ErrRunTakenOver instead of interleaving.
//
// Recorded reads a run's stream back as a graph.Recorded, so that a run
// resumed after a crash replays the activations that had completed instead
// of executing them again.
//
// recorder imports events and graph. graph imports only the standard
// library, so the dependency still points inward (events, recorder → graph,
// never the reverse). It must not import the bus implementation, server,
// nodes or a store implementation: the store and the bus come in as
// interfaces.
package recorder
