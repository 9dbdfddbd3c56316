// Package vectorstoretest is the contract every services.VectorStore
// passes: the embedded index (services/vectorindex) and the Weaviate adapter
// (services/weaviate) run the same suite, so a spell behaves the same on
// either.
//
// Call Run from a test with a function that returns a store. Each subtest
// uses knowledge bases named after itself, so one backend (one Weaviate
// server) may serve every subtest.
//
// What the suite pins down, beyond the interface's comments:
//   - vector-only scores are cosine similarity (1 is identical direction);
//   - Limit 0 means 10 hits;
//   - a filter keeps documents whose metadata value equals the given one
//     after a JSON round trip (3 and 3.0 are equal), every key must match;
//   - hybrid search with Alpha 0 returns only documents containing a query
//     word; Alpha 1 ignores Text; Alpha in between needs a Vector;
//   - Search on a knowledge base that was never written is
//     services.ErrNotFound; on a tenant that never wrote, no hits;
//   - Delete of absent ids, tenants or knowledge bases succeeds;
//   - a vector whose length differs from the knowledge base's is an error
//     whose text says "dimension", and a batch with mixed lengths stores
//     nothing;
//   - hits carry id, text and metadata, not the vector;
//   - knowledge base and tenant names may be any non-empty string, and names
//     differing only in case are different.
//
// vectorstoretest imports services and the standard library only (testing
// included); only test code may import it.
package vectorstoretest
