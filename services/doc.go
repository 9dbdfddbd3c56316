// Package services defines the outbound capabilities that node types use:
// text completion, embeddings and vector search. Each is a small interface;
// each real dependency lives in exactly one sub-package (services/openai,
// services/weaviate) next to an embedded default that passes the same
// contract tests (services/localembed, services/vectorindex).
//
// vectors.go also holds what every store and vector user shares, so that it
// exists once: input checks (CheckNames, CheckDocument, CheckSearchQuery,
// PrepareUpsert, ErrInvalidInput), the metadata equality filters use
// (CanonicalJSON) and cosine similarity (Cosine).
//
// services imports nothing of Grimoire's; node types import it.
package services
