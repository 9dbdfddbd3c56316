// Package protocol turns recorded run events into the messages clients see, the
// same on Socket.IO, in SSE and in NDJSON (docs/protocol.md), and holds the
// error shape every transport answers with.
//
// It imports events; nothing of the transports.
package protocol
