package eio4

import (
	"github.com/zishang520/engine.io/v2/engine"
	"github.com/zishang520/engine.io/v2/transports"
)

// Engine.IO v2.5.0's websocket transport never closes its TCP connection
// when the client closes the websocket: gorilla/websocket answers the
// client's close frame, the transport marks itself "closed" and emits
// "close", and the engine's own transport.Close() then returns at once
// because the transport is already closed, so the conn's Close is never
// reached. The socket sits in CLOSE-WAIT for good, and a Node client (ws)
// waits 30 s for the server to hang up before its process can exit.
//
// hangUpOnClose closes the connection once the transport reports it closed.

// hangUpOnClose is the engine's "connection" listener: it watches the
// socket's first transport and the websocket it upgrades to.
func hangUpOnClose(args ...any) {
	if len(args) == 0 {
		return
	}
	sock, ok := args[0].(engine.Socket)
	if !ok {
		return
	}
	watchTransport(sock.Transport())
	sock.On("upgrading", func(args ...any) {
		if len(args) > 0 {
			if t, ok := args[0].(transports.Transport); ok {
				watchTransport(t)
			}
		}
	})
}

func watchTransport(t transports.Transport) {
	if t == nil || t.Name() != transports.WEBSOCKET {
		return
	}
	t.Once("close", func(...any) {
		// Not inline: this runs inside the websocket's own one-time "close"
		// listener, and DoClose emits that event again (sync.Once re-entry
		// would deadlock). DoClose closes the conn and returns.
		go t.DoClose(nil)
	})
}
