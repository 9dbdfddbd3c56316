// Package fromenv builds the services that node types use (completion,
// embeddings, vector search) from environment variables and the data
// directory, the way `grimoire serve` and `grimoire run` configure them:
//
//   - completion: GRIMOIRE_OPENAI_CONFIG (a JSON file of named endpoints),
//     else GRIMOIRE_OPENAI_BASE_URL (+ _API_KEY, _MODEL, _EMBEDDING_MODEL,
//     _MODEL_ALIASES); with neither, none (completion nodes then fail with
//     "no completion endpoint configured: set GRIMOIRE_OPENAI_BASE_URL");
//   - embeddings: the endpoint's embedding model when one is configured
//     (micro-batched), else the local lexical embedder; GRIMOIRE_EMBEDDER
//     = local | openai forces one;
//   - vectors: Weaviate when GRIMOIRE_WEAVIATE_URL is set, else the embedded
//     vector index in <data dir>/vectors;
//   - MCP tool servers for Chat Completion nodes: GRIMOIRE_MCP_SERVERS (a
//     JSON object of {url, token} by name), else none.
//
// It is the one place that knows every concrete service package; it imports
// those and services, never graph, nodes, events or server. Agent memory
// (events/memory) needs the event store and is wired by the runtime next to
// it.
package fromenv
