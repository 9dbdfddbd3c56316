// Package spells is the spell library: saved spells are versioned in the
// event log, one stream per spell (spell-<id>), each save a SpellSaved event
// holding the native document and its content hash, a delete a SpellDeleted.
//
// The Library is the only writer of spell streams. It reads the latest
// version straight from the stream, so a saved spell can always be loaded
// (a run can be resumed) without any read model. Listing spells is a read
// model's job (projections).
//
// It imports graph and events; nothing of the server's transport.
package spells
