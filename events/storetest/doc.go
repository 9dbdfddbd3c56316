// Package storetest is the contract every events.Store implementation
// passes: expected revisions, idempotent retries, stream reads in both
// directions, the global order, subscriptions (catch-up then live, filters,
// checkpoints) and typed errors. Call Run from the implementation's tests,
// as Watermill backends call pubsub/tests.
//
// The suite only appends to streams with random names and only looks at
// its own events in the global log, so it also runs against a shared,
// non-empty server.
//
// storetest imports the standard library and events, nothing else.
package storetest
