package eio3

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
)

// go-socket.io v1.7.0 builds its gorilla upgrader itself and never sets a
// read limit, so a websocket message of any size is read in full before
// readLoop can refuse it. The server's side of the hijacked connection is
// therefore read through a websocket frame parser that fails the read (and
// with it the connection) as soon as a frame header announces a message
// above the cap, before its payload is read.

// limitFrames returns w wrapped so that a websocket connection it hijacks
// refuses messages above max bytes.
func limitFrames(w http.ResponseWriter, max int64) http.ResponseWriter {
	hj, ok := w.(http.Hijacker)
	if !ok || max <= 0 {
		return w
	}
	return &frameLimitWriter{ResponseWriter: w, hj: hj, max: max}
}

type frameLimitWriter struct {
	http.ResponseWriter
	hj  http.Hijacker
	max int64
}

func (w *frameLimitWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := w.hj.Hijack()
	if err != nil || rw.Reader.Buffered() > 0 {
		// Data before the handshake finished: gorilla refuses it itself.
		return c, rw, err
	}
	fc := &frameLimitConn{Conn: c, max: w.max}
	return fc, bufio.NewReadWriter(bufio.NewReader(fc), rw.Writer), nil
}

// frameLimitConn tracks frame boundaries in the client's byte stream. Only
// the reader goroutine reads, so its state needs no lock.
type frameLimitConn struct {
	net.Conn
	max int64

	header  []byte // the frame header read so far
	payload int64  // payload bytes of the current frame still to come
	message int64  // data bytes of the current message so far
}

// ErrFrameTooLarge is the read error once a client announces a message
// above the cap.
type ErrFrameTooLarge struct{ Size, Max int64 }

func (e *ErrFrameTooLarge) Error() string {
	return fmt.Sprintf("websocket message of %d bytes or more exceeds the %d-byte limit", e.Size, e.Max)
}

func (c *frameLimitConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if ferr := c.scan(p[:n]); ferr != nil {
		c.Conn.Close()
		return 0, ferr
	}
	return n, err
}

// scan advances the frame parser over b.
func (c *frameLimitConn) scan(b []byte) error {
	for len(b) > 0 {
		if c.payload > 0 {
			k := min(int64(len(b)), c.payload)
			c.payload -= k
			b = b[k:]
			continue
		}
		c.header = append(c.header, b[0])
		b = b[1:]
		length, ok := frameLength(c.header)
		if !ok {
			continue
		}
		fin, opcode := c.header[0]&0x80 != 0, c.header[0]&0x0f
		c.header = c.header[:0]
		control := opcode >= 0x8 // close, ping, pong: not message data
		if length > uint64(c.max) || (!control && c.message+int64(length) > c.max) {
			return &ErrFrameTooLarge{Size: c.message + int64(min(length, 1<<62)), Max: c.max}
		}
		c.payload = int64(length)
		if control {
			continue
		}
		c.message += int64(length)
		if fin {
			c.message = 0
		}
	}
	return nil
}

// frameLength decodes a complete frame header's payload length; ok is false
// while h is incomplete.
func frameLength(h []byte) (length uint64, ok bool) {
	if len(h) < 2 {
		return 0, false
	}
	size, length := 2, uint64(h[1]&0x7f)
	switch length {
	case 126:
		size += 2
	case 127:
		size += 8
	}
	if h[1]&0x80 != 0 { // masked: every client frame is
		size += 4
	}
	if len(h) < size {
		return 0, false
	}
	switch length {
	case 126:
		length = uint64(binary.BigEndian.Uint16(h[2:4]))
	case 127:
		length = binary.BigEndian.Uint64(h[2:10])
	}
	return length, true
}
