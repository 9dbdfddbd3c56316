// Package eio3 serves Engine.IO 3 clients (socket.io-client 1.x and 2.x) for
// package socket, behind the socket/wire contract.
//
// It uses only the engine of github.com/googollee/go-socket.io (transports,
// sessions, heartbeats) and speaks the Socket.IO packet layer itself, because
// the library's own layer drops a connection on a payload of the wrong type,
// hangs on an emit inside OnConnect, races on ack ids, sends no DISCONNECT on
// Close, and cannot answer an ack from outside the read goroutine. Session ids
// are random, every request is authenticated, and a request naming a session
// must come from the session's own user.
//
// It is the only package importing github.com/googollee/go-socket.io (and
// its gorilla/websocket). It must not import package socket.
package eio3
