// Package history reads runs back from the log for analysts: a run's
// timeline (per-node status, timings and outputs), exports of events or
// node results as JSON lines or CSV, verified replays (re-execute a run
// with its non-deterministic nodes fed from the recording and check that
// the graph reaches the same outputs), and forks (a new run that reuses
// the recorded outputs of everything upstream of a node and recomputes the
// rest, recording where it came from).
//
// history imports events, events/recorder and graph. It must not import
// server, nodes, a store implementation or an HTTP library: callers hand
// it an events.Store, a graph.Runner and a way to load a spell version.
package history
