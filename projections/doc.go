// Package projections keeps read models up to date from the event log.
//
// A Projection is a read model fed by one checkpointed subscription to the
// store's global log: the Runner subscribes from the projection's stored
// checkpoint, hands it each event, retries after failures, and reports per
// projection its checkpoint, the log's head, the lag between them and
// whether it is healthy. Projections are idempotent (an event at or before
// the checkpoint changes nothing) and rebuildable: Rebuild drops a read
// model and replays the log into it, and Replay does the same offline.
//
// Sub-packages are the read models and the tools built on them:
// projections/runs (runs, for listing and resume), projections/spells
// (spell versions), projections/usage (tokens and cost per user, spell,
// model and day), projections/cache (the node-output cache, a graph.Cache),
// projections/history (timelines, exports, verified replays, forks) and
// projections/retention (dropping old token chunks). ReplayAll rebuilds
// several models in one pass over the log.
//
// projections imports events only. It must not import server, graph,
// nodes, a store implementation or a metrics library: Status is plain data
// that the server exports as metrics (server/analysts.go). The cache and
// history sub-packages import graph (and history events/recorder) for the
// runner's Cache and Recorded interfaces.
package projections
