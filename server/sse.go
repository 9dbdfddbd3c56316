package server

import (
	"fmt"
	"io"
	"net/http"
	"time"
)

// sseBuffer is how many events an SSE client may fall behind before it is
// dropped: the bus must never wait for one slow HTTP client.
const sseBuffer = 4096

// streamRun writes a run's events as Server-Sent Events from after seq
// after until the run ends or the client goes away. Each event's id is its
// seq, so a reconnecting EventSource resumes with Last-Event-ID.
func (s *Server) streamRun(w http.ResponseWriter, r *http.Request, runID string, after uint64) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		s.writeError(w, r, fmt.Errorf("streaming unsupported by this connection"))
		return
	}
	queue := make(chan *runMessage, sseBuffer)
	sub, err := s.feeds.subscribe(r.Context(), runID, after, func(m *runMessage) error {
		select {
		case queue <- m:
			return nil
		default:
			return fmt.Errorf("SSE client too slow")
		}
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer sub.cancel()
	if endedEmpty(sub, queue) {
		// The run ended at or before after: nothing will come. 204 ends an
		// EventSource for good instead of letting it reconnect forever.
		w.Header().Set("Grimoire-Run-Id", runID)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	h.Set("Grimoire-Run-Id", runID)
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, ": run %s\n\n", runID)
	flusher.Flush()
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	expired, stopExpiry := tokenExpiry(r)
	defer stopExpiry()
	for {
		select {
		case <-expired:
			fmt.Fprint(w, tokenExpiredEvent)
			flusher.Flush()
			return
		case m := <-queue:
			writeSSE(w, m)
			flusher.Flush()
			if m.Terminal() {
				return
			}
		case <-sub.done:
			// Drain what was queued before the subscription ended.
			for {
				select {
				case m := <-queue:
					writeSSE(w, m)
				default:
					flusher.Flush()
					return
				}
			}
		case <-keepAlive.C:
			fmt.Fprint(w, ": keep-alive\n\n")
			flusher.Flush()
		case <-r.Context().Done():
			return
		case <-s.stopping:
			// The client reconnects (to another process) with Last-Event-ID.
			return
		}
	}
}

// tokenExpiry fires when the request's token expires (never for a token
// without one): a stream outlives no credential. stop releases its timer.
func tokenExpiry(r *http.Request) (expired <-chan time.Time, stop func()) {
	exp := identityOf(r).Expires
	if exp.IsZero() {
		return nil, func() {}
	}
	t := time.NewTimer(time.Until(exp))
	return t.C, func() { t.Stop() }
}

// tokenExpiredEvent ends an SSE stream whose token expired: an "error"
// event with the API's error body, then the server closes the stream.
const tokenExpiredEvent = `event: error
data: {"error":{"code":"` + codeUnauthorized + `","message":"the token expired: reconnect with a fresh one (Last-Event-ID resumes where this stream ended)"}}

`

// writeSSE writes one message as an SSE event; its JSON is encoded once
// for every stream that gets it.
func writeSSE(w io.Writer, m *runMessage) {
	data, _ := m.encoded()
	fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", m.Seq, m.Type, data)
}

// endedEmpty reports whether sub ended without queueing anything.
func endedEmpty(sub *subscription, queue chan *runMessage) bool {
	select {
	case <-sub.done:
		return len(queue) == 0
	default:
		return false
	}
}
