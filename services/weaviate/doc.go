// Package weaviate is the services.VectorStore on a Weaviate server
// (github.com/weaviate/weaviate-go-client/v4, checked against Weaviate 1.27
// and 1.33). It is the only package of Grimoire that imports the Weaviate
// client; nothing outside it should.
//
// Layout on the server: one class per knowledge base (named
// "<ClassPrefix>_<escaped name>", see names.go), with vectorizer "none" —
// Grimoire brings the vectors — cosine distance, and multi-tenancy on: one
// tenant per user, created on the user's first write. A document is one
// object whose UUID is derived from its id (UUIDv5), so upserting an id
// again replaces it. Properties:
//
//	text      the document text (word tokenisation, BM25 for hybrid search)
//	docId     the Grimoire document id
//	metadata  the metadata as JSON text, returned as is (not indexed)
//	meta      one opaque token per metadata key and value, for equality
//	          filters on any key and any JSON value
//
// Batch writes report failures per object inside a successful response;
// Upsert checks every one and fails naming the documents that were not
// stored. The subpackage weaviatetest starts a real weaviate-server binary
// for tests.
//
// weaviate must not import anything of Grimoire's other than services.
package weaviate
