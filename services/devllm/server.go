package devllm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Endpoint is one route of the OpenAI-compatible API.
type Endpoint string

// The routes the server answers.
const (
	Chat        Endpoint = "/v1/chat/completions"
	Completions Endpoint = "/v1/completions"
	Embeddings  Endpoint = "/v1/embeddings"
)

// Latency is the cost of one request: Fixed plus PerItem for each input
// (embeddings) and at most Slots requests served at once, the others
// queueing, as on a GPU that runs one batch at a time.
type Latency struct {
	Fixed   time.Duration
	PerItem time.Duration
	Slots   int // default 1
}

// Options configure a Server. The zero value is a fast echo server.
type Options struct {
	// Model is reported in responses when a request names none
	// (default "test-model").
	Model string
	// Dimensions is the length of embedding vectors (default 16).
	Dimensions int
	// APIKey, when set, is required as "Authorization: Bearer <key>";
	// other requests get 401 with an OpenAI error body.
	APIKey string
	// TokenInterval is the pause between stream chunks (decode time).
	TokenInterval time.Duration
	// EmbedLatency applies to /v1/embeddings.
	EmbedLatency Latency
	// Reply overrides the default answer (an echo of the last user message
	// or of the prompt). Steps queued with a Reply take precedence.
	Reply func(Request) Reply
	// BeforeSend, when set, is called with each content piece of a stream
	// just before its chunk is written to the connection: benchmarks time
	// the way from here to the client's callback.
	BeforeSend func(piece string)
}

// Reply is what the model "generates".
type Reply struct {
	// Chunks are the content pieces, one per stream chunk, in order; a
	// non-streamed answer is their concatenation.
	Chunks []string
	// ToolCalls are streamed after the content, each split into pieces
	// keyed by index: id, type and name first, then the arguments in
	// ArgPieces parts.
	ToolCalls []ToolCall
	// FinishReason defaults to "stop", or "tool_calls" when ToolCalls is set.
	FinishReason string
	// Usage defaults to word counts of the prompt and the number of chunks.
	Usage *Usage
}

// ToolCall is one function call the model asks for.
type ToolCall struct {
	ID        string
	Name      string
	Arguments string
	ArgPieces int // default 3
}

// Usage is the token accounting reported by the server.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// Fault is a scripted misbehaviour.
type Fault int

// The faults a Step can script.
const (
	// NoFault answers normally (with Step.Reply when set).
	NoFault Fault = iota
	// APIError answers Status (default 500) with OpenAI's error body
	// {"error":{"message":…,"type":…,"code":…}}.
	APIError
	// RawError answers Status (default 500) with Body verbatim, or by default
	// with vLLM's unwrapped error object {"object":"error","message":…}.
	RawError
	// RateLimited answers 429 with a Retry-After header (default "1").
	RateLimited
	// Reset drops the connection (TCP RST) before answering.
	Reset
	// Malformed answers 200 with JSON that does not parse: a truncated body,
	// or in a stream a `data:` line after After chunks.
	Malformed
	// Stall sends After chunks of a stream, then nothing until the client
	// gives up.
	Stall
	// Cut sends After chunks of a stream, then drops the connection.
	Cut
	// StreamError sends After chunks, then an in-stream error event
	// `data: {"error":{…}}` as vLLM does when generation fails.
	StreamError
)

// Step scripts the answer to one request of an endpoint.
type Step struct {
	Fault      Fault
	Status     int
	Message    string
	Body       string // RawError only
	RetryAfter string // RateLimited only: seconds or an HTTP date
	After      int    // content chunks sent before a stream fault
	Reply      *Reply
}

// Request is a request the server received.
type Request struct {
	Endpoint Endpoint
	Header   http.Header
	Body     []byte
	JSON     map[string]any
}

// Server is a running test double. Close it, or let tb.Cleanup do it.
type Server struct {
	// URL is the base URL clients use, ending in /v1.
	URL string

	opts  Options
	http  *http.Server
	slots chan struct{}
	done  chan struct{}
	once  sync.Once

	mu          sync.Mutex
	queues      map[Endpoint][]Step
	requests    []Request
	inFlight    int
	maxInFlight int
}

// Cleaner is what New needs of a test: testing.TB satisfies it.
type Cleaner interface {
	Helper()
	Cleanup(func())
}

// New starts a server on a free loopback port; tb.Cleanup closes it.
func New(tb Cleaner, opts Options) *Server {
	tb.Helper()
	s := NewServer(opts)
	tb.Cleanup(s.Close)
	return s
}

// NewServer starts a server on a free loopback port; the caller closes it.
// It panics when no loopback port can be opened, as httptest does.
func NewServer(opts Options) *Server {
	s, err := Start("127.0.0.1:0", opts)
	if err != nil {
		panic("devllm: " + err.Error())
	}
	return s
}

// Start listens on addr ("127.0.0.1:8081"; port 0 picks a free one) and
// serves until Close.
func Start(addr string, opts Options) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := newServer(opts)
	s.http = &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}
	s.URL = "http://" + ln.Addr().String() + "/v1"
	go func() { _ = s.http.Serve(ln) }()
	return s, nil
}

func newServer(opts Options) *Server {
	if opts.Model == "" {
		opts.Model = "test-model"
	}
	if opts.Dimensions <= 0 {
		opts.Dimensions = 16
	}
	if opts.EmbedLatency.Slots <= 0 {
		opts.EmbedLatency.Slots = 1
	}
	return &Server{
		opts:   opts,
		slots:  make(chan struct{}, opts.EmbedLatency.Slots),
		done:   make(chan struct{}),
		queues: map[Endpoint][]Step{},
	}
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+string(Chat), s.track(Chat, s.serveChat))
	mux.HandleFunc("POST "+string(Completions), s.track(Completions, s.serveCompletion))
	mux.HandleFunc("POST "+string(Embeddings), s.track(Embeddings, s.serveEmbeddings))
	mux.HandleFunc("GET /v1/models", s.serveModels)
	mux.HandleFunc("POST /dev/faults", s.serveQueueFaults)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeAPIError(w, http.StatusNotFound, "not_found_error", fmt.Sprintf("no route %s %s", r.Method, r.URL.Path))
	})
	return mux
}

// Close stops the server, releasing stalled streams first.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.done)
		_ = s.http.Close()
	})
}

// Queue scripts the next requests of an endpoint, one Step each, in order.
// Requests beyond the script get the normal answer.
func (s *Server) Queue(ep Endpoint, steps ...Step) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queues[ep] = append(s.queues[ep], steps...)
}

// Requests returns the requests received so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// RequestsTo returns the requests received by one endpoint.
func (s *Server) RequestsTo(ep Endpoint) []Request {
	var out []Request
	for _, r := range s.Requests() {
		if r.Endpoint == ep {
			out = append(out, r)
		}
	}
	return out
}

// MaxInFlight is the largest number of requests served at once so far.
func (s *Server) MaxInFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxInFlight
}

// A handler calls finish just before writing the last bytes of its answer:
// from then on the request no longer counts as in flight, so that a client
// that starts its next request on reading those bytes is not counted twice.
type handler func(w http.ResponseWriter, r *http.Request, req Request, step Step, finish func())

func (s *Server) track(ep Endpoint, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			writeAPIError(w, http.StatusBadRequest, "invalid_request_error", "read body: "+err.Error())
			return
		}
		req := Request{Endpoint: ep, Header: r.Header.Clone(), Body: body}
		jsonErr := json.Unmarshal(body, &req.JSON)

		s.mu.Lock()
		s.requests = append(s.requests, req)
		var step Step
		if q := s.queues[ep]; len(q) > 0 {
			step, s.queues[ep] = q[0], q[1:]
		}
		s.inFlight++
		s.maxInFlight = max(s.maxInFlight, s.inFlight)
		s.mu.Unlock()
		var once sync.Once
		finish := func() {
			once.Do(func() {
				s.mu.Lock()
				s.inFlight--
				s.mu.Unlock()
			})
		}
		defer finish()

		if s.opts.APIKey != "" && r.Header.Get("Authorization") != "Bearer "+s.opts.APIKey {
			writeAPIError(w, http.StatusUnauthorized, "invalid_request_error", "Incorrect API key provided")
			return
		}
		if jsonErr != nil {
			writeAPIError(w, http.StatusBadRequest, "invalid_request_error", "request body is not JSON: "+jsonErr.Error())
			return
		}
		switch step.Fault {
		case APIError:
			status := cmpOr(step.Status, http.StatusInternalServerError)
			kind := "server_error"
			if status < 500 {
				kind = "invalid_request_error"
			}
			writeAPIError(w, status, kind, cmpOr(step.Message, "The server had an error while processing your request."))
			return
		case RawError:
			status := cmpOr(step.Status, http.StatusInternalServerError)
			body := step.Body
			if body == "" {
				msg, _ := json.Marshal(cmpOr(step.Message, "engine error"))
				body = fmt.Sprintf(`{"object":"error","message":%s,"type":"BadRequestError","param":null,"code":%d}`, msg, status)
				w.Header().Set("Content-Type", "application/json")
			} else {
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			}
			w.WriteHeader(status)
			_, _ = io.WriteString(w, body)
			return
		case RateLimited:
			w.Header().Set("Retry-After", cmpOr(step.RetryAfter, "1"))
			writeAPIError(w, http.StatusTooManyRequests, "rate_limit_exceeded", cmpOr(step.Message, "Rate limit reached, retry later"))
			return
		case Reset:
			resetConnection(w)
			return
		}
		h(w, r, req, step, finish)
	}
}

func writeAPIError(w http.ResponseWriter, status int, kind, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"error": map[string]any{"message": msg, "type": kind, "param": nil, "code": nil},
	})
}

// resetConnection drops the TCP connection with an RST, as a crashing
// server or a load balancer does.
func resetConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic("devllm: hijack: " + err.Error())
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = conn.Close()
}

// cutConnection closes the connection after what was flushed, leaving a
// chunked body unterminated.
func cutConnection(w http.ResponseWriter) {
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	conn, _, err := rc.Hijack()
	if err != nil {
		panic("devllm: hijack: " + err.Error())
	}
	_ = conn.Close()
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// wait sleeps for d unless the request or the server ends first.
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.done:
		return false
	}
}

// sse writes server-sent events, one `data:` line each, flushing each.
type sse struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func newSSE(w http.ResponseWriter) *sse {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	s := &sse{w: w, rc: http.NewResponseController(w)}
	_ = s.rc.Flush()
	return s
}

func (s *sse) event(v any) error {
	var b bytes.Buffer
	b.WriteString("data: ")
	if raw, ok := v.(string); ok {
		b.WriteString(raw)
	} else if err := json.NewEncoder(&b).Encode(v); err != nil {
		return err
	} else {
		b.Truncate(b.Len() - 1) // Encode's newline
	}
	b.WriteString("\n\n")
	if _, err := s.w.Write(b.Bytes()); err != nil {
		return err
	}
	return s.rc.Flush()
}

func words(s string) []string {
	var out []string
	for i, f := range strings.Fields(s) {
		if i > 0 {
			f = " " + f
		}
		out = append(out, f)
	}
	return out
}
