// Package runs executes spells as recorded runs: the one place that turns
// "run this spell" (from the CLI, REST or a socket) into a run-<runId>
// stream. It appends RunRequested, runs the graph with a recorder as the
// observer, closes the run with RunCompleted, RunFailed or RunCancelled,
// and at startup resumes the runs a dead process left unfinished, replaying
// the nodes that had completed instead of executing them again.
//
// It also keeps every spell a run used loadable from the log, through the
// spell library (server/spells, the only writer of spell-<spellId>):
// before a run's first event the spell is saved unless that content hash
// is already there, and a resumed run loads its spell by hash.
//
// With several processes on one store, a run is executed by the process
// that holds its lease (the Leases interface, events/bus.Leases over NATS):
// Resume and TakeOver resume only runs no live process owns, and
// CancelAnywhere reaches the owner (decision 0013).
//
// runs imports graph, events, events/recorder and server/spells. It must not import a
// store or bus implementation (they come in as events.Store and small
// Publisher and Leases interfaces), nor HTTP or socket code, nor nodes (node types come
// in through the Runner's catalog).
package runs
