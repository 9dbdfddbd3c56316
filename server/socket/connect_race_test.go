package socket_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/grimoire-run/grimoire/server/socket"
)

// TestWebsocketConnectRightAfterOpen is a websocket-only Engine.IO 4 client
// (what docs/protocol.md recommends) that sends its namespace CONNECT the
// moment the OPEN packet arrives, as socket.io-client does. Engine.IO v2.5.0
// writes OPEN before the Socket.IO layer listens for data, so without the
// read gate in eio4 a CONNECT that wins that race was dropped and the client
// waited forever for its connect. Every attempt must be answered.
func TestWebsocketConnectRightAfterOpen(t *testing.T) {
	// One user connects 300 times in a row: past the default per-user
	// connect rate.
	ts := newTestServer(t, socket.Options{ConnectsPerSecond: 1000, ConnectBurst: 1000})
	u, err := url.Parse(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	tok := token(t, "alice", time.Hour)
	const attempts = 300
	lost := 0
	for i := range attempts {
		if err := connectOverWebsocket(u.Host, tok); err != nil {
			lost++
			if lost <= 3 {
				t.Errorf("attempt %d: %v", i, err)
			}
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d websocket connects got no answer", lost, attempts)
	}
}

// connectOverWebsocket opens an Engine.IO 4 websocket with the token in its
// query, answers OPEN with a CONNECT carrying it in its auth payload too,
// and waits for the server's CONNECT (or CONNECT_ERROR).
func connectOverWebsocket(host, tok string) error {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	c, _, err := d.Dial("ws://"+host+"/socket.io/?EIO=4&transport=websocket&token="+url.QueryEscape(tok), nil)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, open, err := c.ReadMessage()
	if err != nil || !strings.HasPrefix(string(open), "0{") {
		return fmt.Errorf("open packet: %q %v", open, err)
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte(`40{"token":"`+tok+`"}`)); err != nil {
		return fmt.Errorf("write connect: %w", err)
	}
	for {
		_, msg, err := c.ReadMessage()
		if err != nil {
			return fmt.Errorf("no namespace connect answer: %w", err)
		}
		switch m := string(msg); {
		case strings.HasPrefix(m, "40"):
			return nil
		case strings.HasPrefix(m, "44"):
			return fmt.Errorf("connect refused: %s", m)
		}
	}
}
