// Package eio4 serves Engine.IO 4 clients (socket.io-client 3.x and 4.x) for
// package socket, behind the socket/wire contract, with
// github.com/zishang520/socket.io/v2.
//
// Only the library's connection handling is used: authentication runs in a
// namespace middleware (so a refused token is the client's connect_error),
// every event is taken with OnAny and handed on as raw JSON, and rooms and
// broadcasts are package socket's, not the library's (whose broadcasts lose
// deliveries after bursts, its issue #101).
//
// It is the only package importing github.com/zishang520/socket.io. It must
// not import package socket.
package eio4
