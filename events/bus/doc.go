// Package bus publishes committed events to whoever follows them live (the
// socket layer, other processes) through Watermill.
//
// In one process the bus is a Watermill GoChannel configured so that a
// subscriber sees a run's events in the order they were committed. Across
// processes it is NATS JetStream (watermill-nats) when the bus URL is
// nats://…. The store stays the log of record: the bus is a fan-out of what
// is already durable, so a subscriber that misses something reads it from
// the store.
//
// One Watermill message carries a batch of events (a JSON array): the
// events of one Publish call together with those of concurrent calls, so
// the transport's per-message cost (GoChannel's ack hand-off, JetStream's
// publish acknowledgement) is paid per batch. Subscriptions decode the
// batch back into single events.
//
// Leases (leases.go) is run ownership over the same NATS: a lease per run
// in a JetStream key-value bucket, and cancel requests to a run's owner
// (decision 0013).
//
// bus is the only package of Grimoire that imports Watermill, watermill-nats
// and the NATS client. It imports events for the event type and nothing else
// of ours; it must not import graph, the recorder, projections or server.
package bus
