// Package nodes is Grimoire's node-type registry and every built-in node
// type. A Registry (NewRegistry) implements graph.Catalog: the runner and the
// validator look node types up in it by name or by a Thoth/Magick alias.
//
// Like database/sql drivers, each node type registers itself from one file,
// in an init function, with a constructor that receives the Services the
// type may use (completion, embeddings, vectors, the code sandbox). Adding a
// type is adding one file and its test file.
//
// Files are grouped by family with a name prefix rather than sub-packages:
// io_ (Input, Output, Module Trigger In/Out), flow_ (gates, Switch, Wait For
// All, Spell), text_ (Echo, Text Template, JSON Parse/Stringify), variable_
// (String, Text, Number, Boolean), code_ (Code/Javascript) and llm_
// (Generator). One package keeps registration free of import lists (a
// sub-package per family would need blank imports wired somewhere) and lets
// the types share small unexported helpers (config readers, the Handlebars
// renderer) without exporting them. NodeType.Family carries the family to
// users (`grimoire nodes`).
//
// nodes imports graph and the services interfaces. It must not import a
// concrete service (services/openai, services/jsvm, …), events, server or
// anything that does I/O: those arrive through Services.
package nodes
