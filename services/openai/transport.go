package openai

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// attempt records what one HTTP attempt saw, for classifying its failure:
// go-openai's errors carry neither the headers (Retry-After) nor whether a
// stream ended cleanly.
type attempt struct {
	cancel context.CancelFunc

	mu      sync.Mutex
	status  int
	header  http.Header
	bodyErr error // a transport error while reading the body

	stream   bool
	stalled  atomic.Bool
	sawDone  atomic.Bool // `data: [DONE]` went by
	cleanEOF atomic.Bool // the body ended as the server meant it to
}

type attemptKey struct{}

func attemptFrom(ctx context.Context) *attempt {
	a, _ := ctx.Value(attemptKey{}).(*attempt)
	return a
}

func (a *attempt) response() (int, http.Header, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.status, a.header, a.bodyErr
}

// watchingDoer is the HTTP client go-openai uses: it records each response
// in the attempt and watches stream bodies for stalls and for [DONE].
type watchingDoer struct {
	client *http.Client
	idle   time.Duration
}

func (d *watchingDoer) Do(req *http.Request) (*http.Response, error) {
	resp, err := d.client.Do(req)
	a := attemptFrom(req.Context())
	if err != nil || a == nil {
		return resp, err
	}
	a.mu.Lock()
	a.status, a.header = resp.StatusCode, resp.Header
	a.mu.Unlock()
	body := &watchedBody{rc: resp.Body, a: a}
	if req.Header.Get("Accept") == "text/event-stream" && resp.StatusCode < 300 {
		a.stream = true
		body.idle = d.idle
		body.tail = []byte{'\n'} // so a first line of [DONE] counts
		body.timer = time.AfterFunc(d.idle, func() {
			a.stalled.Store(true)
			a.cancel()
		})
	}
	resp.Body = body
	return resp, nil
}

var doneMarkers = [][]byte{[]byte("\ndata: [DONE]"), []byte("\ndata:[DONE]")}

type watchedBody struct {
	rc    io.ReadCloser
	a     *attempt
	idle  time.Duration
	timer *time.Timer
	tail  []byte // last bytes read, to find [DONE] split across reads
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if b.timer != nil && n > 0 {
		b.timer.Reset(b.idle)
	}
	if b.a.stalled.Load() {
		return n, ErrStreamStalled
	}
	if b.timer != nil && n > 0 && !b.a.sawDone.Load() {
		b.sniff(p[:n])
	}
	switch {
	case err == io.EOF:
		b.a.cleanEOF.Store(true)
	case err != nil:
		b.a.mu.Lock()
		b.a.bodyErr = err
		b.a.mu.Unlock()
	}
	return n, err
}

func (b *watchedBody) sniff(p []byte) {
	const keep = 16
	joined := append(b.tail, p[:min(len(p), keep)]...)
	for _, m := range doneMarkers {
		if bytes.Contains(joined, m) || bytes.Contains(p, m) {
			b.a.sawDone.Store(true)
			return
		}
	}
	if len(p) >= keep {
		b.tail = append(b.tail[:0], p[len(p)-keep:]...)
	} else {
		b.tail = append(b.tail, p...)
		if len(b.tail) > keep {
			b.tail = b.tail[len(b.tail)-keep:]
		}
	}
}

func (b *watchedBody) Close() error {
	if b.timer != nil {
		b.timer.Stop()
	}
	return b.rc.Close()
}
