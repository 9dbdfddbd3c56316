// Package embedbatch coalesces concurrent embedding requests — from every
// run of every spell — into fewer, larger calls to an underlying
// services.Embedder: a GPU embedding server costs a fixed amount per call
// plus a little per text, so one call of 64 texts is far cheaper than 64
// calls of one. A [Batcher] collects requests until MaxBatch texts or MaxWait
// after the first, makes one call, and hands each caller its own vectors in
// order; a failed call fails every caller in it; a caller that gives up does
// not disturb the others.
//
// It imports services and the standard library only; it knows nothing of
// OpenAI or of the server it batches for.
package embedbatch
