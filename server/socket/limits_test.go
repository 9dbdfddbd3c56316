package socket_test

import (
	"encoding/binary"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/grimoire-run/grimoire/server/socket"
)

// An Engine.IO 3 websocket client announcing a 100 MB message is cut off
// right after the frame header: the server does not read the payload.
func TestV2WebsocketOversizedFrameRefusedWhileReading(t *testing.T) {
	ts := newTestServer(t, socket.Options{MaxMessageBytes: 1024}) // hard cap 4 KiB
	u, _ := url.Parse(ts.URL)
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	c, _, err := d.Dial("ws://"+u.Host+"/socket.io/?EIO=3&transport=websocket&token="+token(t, "big", time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(wait))
	if _, open, err := c.ReadMessage(); err != nil || !strings.HasPrefix(string(open), "0{") {
		t.Fatalf("open packet %q %v", open, err)
	}
	const announced = 100 << 20
	header := []byte{0x81, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}
	binary.BigEndian.PutUint64(header[2:10], announced)
	raw := c.UnderlyingConn()
	if _, err := raw.Write(header); err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	written := 0
	raw.SetWriteDeadline(time.Now().Add(wait))
	for written < announced {
		n, err := raw.Write(chunk)
		written += n
		if err != nil {
			break
		}
	}
	// Loopback socket buffers absorb a few MiB after the server hung up.
	if written >= 32<<20 {
		t.Fatalf("server accepted %d bytes of a %d-byte frame over a 4 KiB cap", written, announced)
	}
	raw.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 1024)
	for {
		if _, err := raw.Read(buf); err != nil {
			if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
				t.Fatal("connection still open")
			}
			break
		}
	}
}
