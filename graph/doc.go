// Package graph is Grimoire's spell model and runner.
//
// A spell is a graph of nodes joined by edges between named ports. Ports are
// of two kinds: trigger ports push control (a node runs when one of its
// trigger inputs fires) and data ports are pulled (before a node runs, each of
// its data inputs is resolved by evaluating the upstream node once per run).
// This is the execution model of Thoth and Magick; see SPELL-FORMATS.md.
//
// The package holds the model (Spell, Node, Edge), both file formats (the
// native JSON document and the Thoth/Magick Rete import), validation, the
// content hash that identifies a spell version, and the Runner.
//
// graph imports only the standard library. It knows nothing of sockets,
// stores, HTTP or concrete node types: node types come in through a Catalog,
// and whoever wants to watch a run (the event recorder, the socket server)
// plugs in an Observer.
package graph
