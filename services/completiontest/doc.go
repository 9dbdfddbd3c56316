// Package completiontest is the contract every services.Completion and
// services.Embedder implementation passes: [Run] and [RunEmbedder] check the
// behaviour node types rely on (streamed pieces add up to the answer and
// arrive before the call returns, stop sequences and token limits hold, tool
// calls come back whole, cancellation and deadlines end the call, concurrent
// calls do not mix up results, vectors come back one per text in order).
//
// The checks are written to hold for a real model as well as for the
// inference test double (services/devllm), so an adapter can run them
// against a live server too. It imports services and the standard library
// only, never an implementation.
package completiontest
