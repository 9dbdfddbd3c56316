package server

import (
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// perAddrListener refuses a connection from an address that already holds
// max open connections: the connection is closed at once, before any byte
// is read, so that one client cannot hold every file descriptor.
type perAddrListener struct {
	net.Listener
	max int

	mu   sync.Mutex
	open map[string]int
	// refused counts connections closed at accept, for /metrics and tests.
	refused uint64
}

func limitPerAddr(ln net.Listener, max int) *perAddrListener {
	return &perAddrListener{Listener: ln, max: max, open: map[string]int{}}
}

func (l *perAddrListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		host := c.RemoteAddr().String()
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		l.mu.Lock()
		if l.open[host] >= l.max {
			l.refused++
			l.mu.Unlock()
			_ = c.Close()
			continue
		}
		l.open[host]++
		l.mu.Unlock()
		return &countedConn{Conn: c, release: func() { l.release(host) }}, nil
	}
}

func (l *perAddrListener) release(host string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[host]--; l.open[host] <= 0 {
		delete(l.open, host)
	}
}

// Refused is how many connections were closed at accept.
func (l *perAddrListener) Refused() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.refused
}

type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// deadlineBody bounds the time a client may take to send a request body:
// the connection's read deadline is set when the handler starts reading
// and cleared when the body has been read to its end, so that a streamed
// answer that follows (SSE) is not cut by it.
type deadlineBody struct {
	io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration
	started bool
	done    bool
}

func withBodyDeadline(w http.ResponseWriter, r *http.Request, timeout time.Duration) {
	if timeout <= 0 || r.Body == nil || r.Body == http.NoBody {
		return
	}
	r.Body = &deadlineBody{ReadCloser: r.Body, rc: http.NewResponseController(w), timeout: timeout}
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	if !b.started {
		b.started = true
		_ = b.rc.SetReadDeadline(time.Now().Add(b.timeout))
	}
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		// Whole: the rest of the exchange has no deadline. On any other
		// error the deadline stays, so that the server's own read of what
		// is left of the body cannot hang either.
		b.finish()
	}
	return n, err
}

func (b *deadlineBody) finish() {
	if b.started && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
}
