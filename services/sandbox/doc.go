// Package sandbox runs Code nodes' JavaScript out of the server's process:
// a Pool (a services.Sandbox) keeps worker processes, each running
// services/jsvm for one activation at a time, so that a script that
// cannot be interrupted (a builtin that allocates gigabytes in one native
// call, a catastrophic regular expression) costs its own process, never
// the server or another user's activation.
//
// # Workers
//
// A worker is this executable started again (grimoire's hidden `sandbox`
// command; in tests, the test binary through ExitIfWorker), with only its
// configuration in its environment. Before it reads any request it bounds
// itself: a Go soft memory limit, RLIMIT_AS (its start-up address space
// plus three times its heap allowance; not under the race detector),
// RLIMIT_CPU as a backstop, a niceness 10 above the server's, and a guard
// goroutine that exits the process once its heap passes the allowance by
// a quarter. It then sends a hello and answers requests, one at a time,
// with length-prefixed JSON frames on stdin/stdout (protocol.go). The
// arguments and the result cross as the JSON text jsvm reads and writes
// (jsvm.CallJSON), decoded once, by the pool. Each activation runs in a
// goja runtime no script has touched: the worker makes the runtimes of
// its next activations (jsvm's spares) after it has sent a reply, while
// it waits for the next request.
//
// # The pool
//
// At most Options.Workers activations run at once; a worker is started on
// first need (or at New with Prewarm) and reused. Calls that wait for a
// worker are served user by user (SandboxCall.User, schedule.go): the
// waiting user with the fewest activations running first, among equals
// the one served longest ago; while another user is present (activations
// running or waiting, or in the last 10 s), a user holds at most
// Options.WorkersPerUser workers. The pool kills (SIGKILL)
// a worker whose activation passes its deadline plus twice jsvm's grace,
// whose caller's context ends, that dies, or that asks to retire (a
// runtime it abandoned may still be running); a replacement starts in the
// background. Errors are jsvm's: a worker that died of its memory limit
// gives jsvm's memory error, one that ran out of time its time-limit
// error. Close kills every worker and returns without waiting for any
// script. Syntax checks compile in the server's process (they never run
// code).
//
// sandbox imports services and services/jsvm only.
package sandbox
