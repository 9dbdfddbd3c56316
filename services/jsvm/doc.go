// Package jsvm is Grimoire's embedded JavaScript sandbox (services.Sandbox)
// for Code / Javascript nodes, built on github.com/dop251/goja, a pure-Go
// ECMAScript engine. It is the only package of Grimoire that imports goja.
//
// # Isolation
//
// Every call gets a fresh goja.Runtime: nothing a script does (globals,
// patched prototypes, closures) survives into another call. Only compiled
// programs are cached (by source hash); a goja.Program is immutable and safe
// to share. Making a runtime (goja's builtins plus the guards below) is most
// of a trivial call's cost, so Options.Spares runtimes can be made ahead,
// in the background after a call; each still serves one call only. Arguments go in and results come out as JSON, so a script never
// holds a reference to a Go value. goja offers no file system, network,
// timers, require or process access unless a host adds them; this package
// adds nothing but the guards below. The typed-array family (ArrayBuffer,
// SharedArrayBuffer, DataView, Uint8Array, …) is removed because a single
// constructor call allocates its whole size at once.
//
// # What is bounded, and how
//
//   - Wall-clock time: a watchdog goroutine calls Runtime.Interrupt at the
//     call's deadline (Options.Timeout, default 1s, or the context's, whichever
//     is first) and when the context is cancelled. goja checks the interrupt
//     flag between bytecode instructions, so loops in script code stop
//     promptly. A long single native call (a builtin looping over a huge
//     array) cannot be interrupted; the guards below refuse the known ones up
//     front, and as a backstop Call stops waiting Options.Grace after the
//     deadline, returns the time-limit error and leaves the runtime to die
//     at its next instruction (Close waits for such stragglers).
//   - Call depth: Runtime.SetMaxCallStackSize (Options.MaxCallStack, 1024).
//   - Sizes: builtins whose native cost is linear in an array's length or a
//     string's target length (Array.prototype.* iteration methods, Array.from,
//     Function.prototype.apply, Reflect.apply/construct, String.prototype
//     repeat/padStart/padEnd) refuse arrays longer than MaxArrayLength and
//     strings longer than MaxStringLength. Source, arguments and result are
//     capped at MaxSourceBytes / MaxIOBytes of JSON.
//   - Memory: goja has no allocation hook, so the watchdog samples the Go
//     runtime's heap in use (runtime/metrics /memory/classes/heap/objects:bytes)
//     every Options.Tick and interrupts the call once it has grown by more
//     than MaxHeapGrowth since the call began. Garbage a script drops is
//     collected and does not count (a long loop that allocates temporaries
//     runs until its time limit); what it keeps does. The measure is
//     process-wide: memory retained by other goroutines at the same moment
//     counts too, so the bound errs on the safe side.
//
// Errors: a thrown JS error or a syntax error is a *services.ScriptError
// (name, message, line, column); an exceeded bound is a
// *services.LimitError wrapping services.ErrSandboxTimeout, ErrSandboxMemory,
// ErrSandboxStack or ErrSandboxSize; a cancelled context returns the
// context's error.
//
// jsvm imports goja and services only.
package jsvm
