// Package server is Grimoire's front door: the REST API (with SSE and NDJSON
// event feeds), the Socket.IO editor protocol with a spell manager per
// connection, health, readiness, metrics and the OpenAPI document, all on
// one http.Handler. docs/protocol.md is the contract it serves.
//
// Run events reach clients through the event bus, never through a
// library's broadcast: every delivery is checked against the run's sequence
// numbers and gaps are filled from the event store, so each subscriber gets
// each event exactly once and in order, wherever the run executes.
//
// Sub-packages hold the pieces: auth (JWT), socket (the transport-neutral
// Socket.IO layer and its two library adapters), protocol (the messages),
// spells (the spell library), runs (the run executor).
package server
