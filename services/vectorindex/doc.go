// Package vectorindex is Grimoire's embedded default vector store: a
// services.VectorStore kept in one directory of the data directory, with
// nothing to install or run.
//
// Every knowledge base and tenant lives in memory and in one append-only log
// file (vectorindex.log) of CRC-checked records. A write returns only once
// its record is on disk (fsync), so an acknowledged upsert or delete survives
// a crash; a record torn by a crash is dropped on the next Open. The log is
// rewritten (compacted) when superseded records outnumber live ones. A lock
// file keeps a second process from opening the same directory.
//
// Search is exact: cosine similarity against every document of the tenant
// that passes the metadata filter, which is fine up to some hundred thousand
// documents per tenant. Hybrid search adds a BM25 keyword score over the
// document text and fuses the two like Weaviate's relativeScoreFusion, so
// results agree in order with services/weaviate on the same data; both pass
// services/vectorstoretest.
//
// vectorindex uses only the standard library and must not import anything
// of Grimoire's other than services.
package vectorindex
