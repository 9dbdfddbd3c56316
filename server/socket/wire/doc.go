// Package wire is the contract between the transport-neutral socket server
// (package socket) and the two Socket.IO library adapters (socket/eio3 for
// Engine.IO 3 clients, socket/eio4 for Engine.IO 4 clients).
//
// An adapter speaks one protocol generation: it authenticates the handshake
// through Core, tells Core about each connected client (Open), hands it every
// client event as a Request with the payload still raw JSON, and reports the
// end of the connection (Session.Closed). Core writes to the client only
// through Link, one call at a time per connection.
//
// This package imports nothing of Grimoire but server/auth (for Identity) and
// no third-party module: it is what lets the adapters and the core be built
// and tested separately.
package wire
