// Package socket is Grimoire's Socket.IO server, independent of protocol
// generation: handlers, rooms, limits and authentication are written once
// against Conn and Server, and both generations of editors connect to the
// same /socket.io/ endpoint.
//
// Routing is by the EIO query parameter: Engine.IO 3 (socket.io-client
// 1.x/2.x) goes to socket/eio3 (github.com/googollee/go-socket.io's engine,
// with our own Socket.IO packet layer on top), Engine.IO 4 (socket.io-client
// 3.x/4.x) to socket/eio4 (github.com/zishang520/socket.io/v2). The adapters
// and this package meet in socket/wire.
//
// What this package guarantees, whatever the library underneath:
//   - A client is authenticated before it is told it is connected: a missing,
//     expired or forged token gives the client connect_error, never connect.
//     Every request of either generation (handshake, poll, post, upgrade)
//     carries a token, and a session answers only its own user's: no
//     session exists before a valid token.
//   - Requests without a valid token are rate-limited per client address,
//     new sockets per user, and a user holds at most MaxSocketsPerUser.
//   - A client's payloads reach handlers as raw JSON; bad input, unknown
//     events, oversized messages, binary payloads, too many requests per
//     second and handler panics are answered with an error ack
//     {"error":{"code","message"}} and the socket stays connected.
//   - Writes to one client are serialized and ordered; ToRoom reaches each
//     member once. Rooms are ours, not the library's.
//   - A client whose token expires is sent EventClosing and disconnected;
//     Close and shutdown send a DISCONNECT packet, so clients do not
//     reconnect.
//
// Engine.IO 3 clients should use the websocket transport
// (`transports: ["websocket"]`): polling works (it is never offered an
// upgrade, because the library's polling→websocket upgrade loses messages),
// but it costs a request per message.
//
// This package must not import the spell manager, events or graph: it is
// transport only. Only the adapters import the Socket.IO libraries.
package socket
