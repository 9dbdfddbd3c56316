// Package memory keeps agent memory (services.EventMemory: Magick's Store
// Event and Event Recall) in Grimoire's event store, so that what an agent
// remembers is as durable, replicated and replayable as every run.
//
// Each tenant (user) has one stream, "memory-<tenant>", of MemoryStored
// events. Recall reads the stream backwards and filters; nearest-neighbour
// recall scores the newest ScanLimit events by cosine similarity. That is
// exact and simple, and fine for conversation-sized memories; a knowledge
// base of documents belongs in a services.VectorStore instead.
//
// memory imports events and services only; node types never import it (they
// see services.EventMemory), and it never imports nodes, graph or server.
package memory
