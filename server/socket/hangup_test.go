package socket_test

import (
	"errors"
	"io"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/grimoire-run/grimoire/server/socket"
)

// TestServerHangsUpWhenClientClosesWebsocket: a client that closes its
// websocket gets the server's FIN at once. Engine.IO v2.5.0 left the server's side in CLOSE-WAIT, and a Node
// client (ws) waited 30 s for it before its process could exit.
func TestServerHangsUpWhenClientClosesWebsocket(t *testing.T) {
	ts := newTestServer(t, socket.Options{})
	u, err := url.Parse(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	tok := token(t, "alice", time.Hour)
	for _, eio := range []string{"3", "4"} {
		t.Run("EIO"+eio, func(t *testing.T) {
			q := url.Values{"EIO": {eio}, "transport": {"websocket"}, "token": {tok}}
			d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
			c, _, err := d.Dial("ws://"+u.Host+"/socket.io/?"+q.Encode(), nil)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(wait))
			if _, open, err := c.ReadMessage(); err != nil || !strings.HasPrefix(string(open), "0{") {
				t.Fatalf("open packet: %q %v", open, err)
			}
			if eio == "4" {
				if err := c.WriteMessage(websocket.TextMessage, []byte(`40{"token":"`+tok+`"}`)); err != nil {
					t.Fatal(err)
				}
			}
			for {
				_, msg, err := c.ReadMessage()
				if err != nil {
					t.Fatalf("waiting for the namespace connect: %v", err)
				}
				if strings.HasPrefix(string(msg), "40") {
					break
				}
			}
			// What socket.io-client's close() sends: DISCONNECT, then a close frame.
			if err := c.WriteMessage(websocket.TextMessage, []byte("41")); err != nil {
				t.Fatal(err)
			}
			closedAt := time.Now()
			if err := c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), closedAt.Add(time.Second)); err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(closedAt.Add(2 * time.Second))
			for {
				if _, _, err = c.ReadMessage(); err != nil {
					break
				}
			}
			// The server's close frame (Engine.IO 4), or a hang-up right after
			// the DISCONNECT (Engine.IO 3 closes on it).
			// A hang-up with our close frame still unread on its side
			// reaches us as a reset: the connection ended all the same.
			var ce *websocket.CloseError
			reset := errors.Is(err, syscall.ECONNRESET)
			if !errors.As(err, &ce) && !reset {
				t.Fatalf("want the server's close frame or hang-up, got %v", err)
			}
			// Either way the TCP connection must end.
			if !reset {
				_, err = c.NetConn().Read(make([]byte, 1))
				if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
					t.Fatalf("the server did not close its side of the connection within 2 s of the client's close frame: %v", err)
				}
			}
			if d := time.Since(closedAt); d > time.Second {
				t.Errorf("server hung up %v after the client's close frame, want under 1 s", d)
			}
		})
	}
}
