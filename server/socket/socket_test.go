package socket_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/grimoire-run/grimoire/server/auth"
	"github.com/grimoire-run/grimoire/server/socket"
	"github.com/grimoire-run/grimoire/server/socket/sockettest"
)

var (
	secret      = []byte("socket-test-secret-0123456789abcdef")
	wrongSecret = []byte("another-secret-0123456789abcdefghij")
)

const wait = 10 * time.Second

func token(t testing.TB, user string, ttl time.Duration) string {
	t.Helper()
	tok, err := auth.Issue(secret, user, nil, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// testServer is a socket.Server on a loopback HTTP server with the handlers
// the tests use.
type testServer struct {
	*socket.Server
	URL string

	mu          sync.Mutex
	disconnects map[string]string // user -> reason
	conns       map[string]socket.Conn
	echoes      atomic.Int64
}

func newTestServer(t testing.TB, opts socket.Options) *testServer {
	t.Helper()
	v, err := auth.NewVerifier(auth.VerifierOptions{HS256Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	opts.Verifier = v
	srv, err := socket.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: srv, disconnects: map[string]string{}, conns: map[string]socket.Conn{}}
	srv.OnConnect(func(ctx context.Context, c socket.Conn) {
		ts.mu.Lock()
		ts.conns[c.Identity().User] = c
		ts.mu.Unlock()
		// Emitting inside OnConnect is safe (the library's own OnConnect hangs).
		c.Emit("welcome", map[string]any{"user": c.Identity().User, "protocol": c.Protocol()})
	})
	srv.OnDisconnect(func(c socket.Conn, reason string) {
		if c.Context().Err() == nil {
			t.Errorf("OnDisconnect with a live context")
		}
		ts.mu.Lock()
		ts.disconnects[c.Identity().User] = reason
		ts.mu.Unlock()
	})
	srv.On("echo", func(ctx context.Context, c socket.Conn, payload json.RawMessage) (any, error) {
		ts.echoes.Add(1)
		return payload, nil
	})
	srv.On("whoami", func(ctx context.Context, c socket.Conn, _ json.RawMessage) (any, error) {
		return map[string]any{"user": c.Identity().User, "protocol": c.Protocol(), "transport": c.Transport()}, nil
	})
	socket.Handle(srv, "join", func(ctx context.Context, c socket.Conn, req struct {
		Room string `json:"room"`
	}) (any, error) {
		if req.Room == "" {
			return nil, &socket.Error{Code: socket.CodeBadRequest, Message: "room: required"}
		}
		c.Join(req.Room)
		return c.Rooms(), nil
	})
	socket.Handle(srv, "add", func(ctx context.Context, c socket.Conn, req struct {
		A int `json:"a"`
		B int `json:"b"`
	}) (any, error) {
		return req.A + req.B, nil
	})
	srv.On("panic", func(ctx context.Context, c socket.Conn, _ json.RawMessage) (any, error) {
		panic("boom")
	})
	srv.On("fail", func(ctx context.Context, c socket.Conn, _ json.RawMessage) (any, error) {
		return nil, errors.New("plain failure")
	})
	srv.On("kick", func(ctx context.Context, c socket.Conn, _ json.RawMessage) (any, error) {
		c.Close("kicked")
		return "bye", nil
	})
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	hs := httptest.NewServer(mux)
	ts.URL = hs.URL
	t.Cleanup(func() {
		done := make(chan struct{})
		go func() {
			srv.Close()
			hs.Close()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			var b strings.Builder
			pprof.Lookup("goroutine").WriteTo(&b, 1)
			t.Errorf("server did not close within 20s; goroutines:\n%s", b.String())
		}
	})
	return ts
}

func (ts *testServer) disconnectReason(user string) (string, bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	r, ok := ts.disconnects[user]
	return r, ok
}

func (ts *testServer) conn(user string) socket.Conn {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.conns[user]
}

type ackBody struct {
	Error *socket.Error `json:"error"`
}

func ackError(t testing.TB, raw json.RawMessage) *socket.Error {
	t.Helper()
	var b ackBody
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil
	}
	return b.Error
}

// generations: the two client generations, each with its recommended transport.
var generations = []struct {
	name       string
	gen        int
	transports []string
}{
	{"v2-websocket", 2, []string{"websocket"}},
	{"v4-default", 4, nil},
}

func connectOK(t testing.TB, cl *sockettest.Clients, o sockettest.ConnectOptions) sockettest.Event {
	t.Helper()
	cl.Connect(o)
	e, err := cl.WaitConnected(o.ID, wait)
	if err != nil {
		t.Fatalf("%s: %v", o.ID, err)
	}
	if e.Type != "connect" {
		t.Fatalf("%s: got %s %+v, want connect", o.ID, e.Type, e.Error)
	}
	return e
}

func TestHandshakeAuthentication(t *testing.T) {
	ts := newTestServer(t, socket.Options{})
	cl := sockettest.Start(t)

	forged := func() string {
		tok, err := auth.Issue(wrongSecret, "mallory", nil, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}()
	none := func() string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "mallory", "exp": time.Now().Add(time.Hour).Unix()}).SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}()
	expired, err := auth.IssueAt(secret, "alice", nil, time.Now().Add(-2*time.Hour), time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name     string
		token    string
		via      string
		onlyGen  int
		wantCode string // "" = connects
	}{
		{"valid in query", token(t, "alice", time.Hour), "query", 0, ""},
		{"valid in header", token(t, "alice", time.Hour), "header", 0, ""},
		{"valid in query and auth payload", token(t, "alice", time.Hour), "query+auth", 4, ""},
		// The auth payload arrives inside a session, so alone it cannot
		// open one (docs/protocol.md): the handshake is refused.
		{"valid in auth payload only", token(t, "alice", time.Hour), "auth", 4, socket.CodeTokenMissing},
		{"expired", expired, "query", 0, socket.CodeTokenExpired},
		{"wrong key", forged, "query", 0, socket.CodeTokenInvalid},
		{"alg none", none, "query", 0, socket.CodeTokenInvalid},
		{"alg none in auth payload", none, "auth", 4, socket.CodeTokenMissing},
		{"missing", "", "query", 0, socket.CodeTokenMissing},
	}
	for _, g := range generations {
		for i, tc := range cases {
			if tc.onlyGen != 0 && tc.onlyGen != g.gen {
				continue
			}
			t.Run(g.name+"/"+tc.name, func(t *testing.T) {
				id := fmt.Sprintf("%s-%d", g.name, i)
				cl.Connect(sockettest.ConnectOptions{ID: id, Generation: g.gen, URL: ts.URL, Token: tc.token, TokenVia: tc.via, Transports: g.transports})
				e, err := cl.WaitConnected(id, wait)
				if err != nil {
					t.Fatal(err)
				}
				if tc.wantCode == "" {
					if e.Type != "connect" {
						t.Fatalf("got %s %+v, want connect", e.Type, e.Error)
					}
					ack, err := cl.Request(id, "whoami", nil, wait)
					if err != nil {
						t.Fatal(err)
					}
					if !strings.Contains(string(ack), `"user":"alice"`) {
						t.Fatalf("whoami = %s", ack)
					}
					cl.Send(map[string]any{"op": "close", "id": id})
					return
				}
				if e.Type != "connect_error" {
					t.Fatalf("got %s, want connect_error", e.Type)
				}
				if g.gen == 4 {
					// v4 clients read the reason in err.data, or in the
					// refused handshake's body.
					if got := e.Error.Code(); got != tc.wantCode {
						t.Fatalf("connect_error %+v: code %q, want %s", e.Error, got, tc.wantCode)
					}
				}
				// Never a connect afterwards.
				if e, err := cl.Wait(300*time.Millisecond, func(e sockettest.Event) bool { return e.ID == id && e.Type == "connect" }); err == nil {
					t.Fatalf("refused socket connected: %+v", e)
				}
			})
		}
	}
}

func TestEmitWithAckAndWelcome(t *testing.T) {
	ts := newTestServer(t, socket.Options{})
	cl := sockettest.Start(t)
	for _, g := range generations {
		t.Run(g.name, func(t *testing.T) {
			id := g.name
			cl.Connect(sockettest.ConnectOptions{ID: id, Generation: g.gen, URL: ts.URL, Token: token(t, "u-"+id, time.Hour), Transports: g.transports})
			// The welcome emitted in OnConnect arrives right after connect.
			e, err := cl.Wait(wait, func(e sockettest.Event) bool { return e.ID == id && e.Type == "event" && e.Event == "welcome" })
			if err != nil {
				t.Fatalf("welcome: %v", err)
			}
			if !strings.Contains(string(e.Args[0]), fmt.Sprintf(`"protocol":%d`, map[int]int{2: 3, 4: 4}[g.gen])) {
				t.Fatalf("welcome %s", e.Args[0])
			}
			payload := map[string]any{"text": "héllo ✓", "n": 42, "nested": []any{1, "two", nil}}
			ack, err := cl.Request(id, "echo", payload, wait)
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			json.Unmarshal(ack, &got)
			if got["text"] != "héllo ✓" || got["n"] != float64(42) {
				t.Fatalf("echo = %s", ack)
			}
			ack, err = cl.Request(id, "add", map[string]int{"a": 2, "b": 3}, wait)
			if err != nil || string(ack) != "5" {
				t.Fatalf("add = %s, %v", ack, err)
			}
		})
	}
}

func TestBadInputGetsErrorAndSocketStays(t *testing.T) {
	ts := newTestServer(t, socket.Options{})
	cl := sockettest.Start(t)
	cases := []struct {
		event    string
		payload  any
		wantCode string
	}{
		{"add", map[string]any{"a": "two", "b": 3}, socket.CodeBadRequest},
		{"add", "not an object", socket.CodeBadRequest},
		{"add", nil, socket.CodeBadRequest},
		{"join", map[string]any{"room": 7}, socket.CodeBadRequest},
		{"join", map[string]any{}, socket.CodeBadRequest},
		{"no-such-event", map[string]any{}, socket.CodeUnknownEvent},
		{"panic", nil, socket.CodeInternal},
		{"fail", nil, socket.CodeInternal},
	}
	for _, g := range generations {
		t.Run(g.name, func(t *testing.T) {
			id := g.name
			connectOK(t, cl, sockettest.ConnectOptions{ID: id, Generation: g.gen, URL: ts.URL, Token: token(t, "u-"+id, time.Hour), Transports: g.transports})
			for _, tc := range cases {
				ack, err := cl.Request(id, tc.event, tc.payload, wait)
				if err != nil {
					t.Fatalf("%s %v: %v", tc.event, tc.payload, err)
				}
				e := ackError(t, ack)
				if e == nil || e.Code != tc.wantCode || e.Message == "" {
					t.Fatalf("%s %v: ack %s, want error code %s", tc.event, tc.payload, ack, tc.wantCode)
				}
			}
			if g.gen == 2 {
				// What a well-behaved client never sends: broken JSON, a
				// non-string event name, an unknown namespace.
				for _, raw := range []string{`21["echo",{bad`, `22[42,{}]`, `23`, `0/admin,`, `9garbage`} {
					cl.Send(map[string]any{"op": "raw", "id": id, "data": raw, "tag": raw})
					if _, err := cl.Wait(wait, func(e sockettest.Event) bool { return e.Type == "sent" && e.Tag == raw }); err != nil {
						t.Fatal(err)
					}
				}
			}
			ack, err := cl.Request(id, "echo", "still here", wait)
			if err != nil || string(ack) != `"still here"` {
				t.Fatalf("after bad input: %s, %v", ack, err)
			}
			if _, err := cl.Wait(200*time.Millisecond, func(e sockettest.Event) bool { return e.ID == id && e.Type == "disconnect" }); err == nil {
				t.Fatal("socket disconnected after bad input")
			}
		})
	}
}

func TestMessageSizeLimit(t *testing.T) {
	ts := newTestServer(t, socket.Options{MaxMessageBytes: 2048})
	cl := sockettest.Start(t)
	for _, g := range generations {
		t.Run(g.name, func(t *testing.T) {
			id := g.name
			connectOK(t, cl, sockettest.ConnectOptions{ID: id, Generation: g.gen, URL: ts.URL, Token: token(t, "u-"+id, time.Hour), Transports: g.transports})
			ack, err := cl.Request(id, "echo", strings.Repeat("x", 3000), wait)
			if err != nil {
				t.Fatal(err)
			}
			if e := ackError(t, ack); e == nil || e.Code != socket.CodeMessageTooLarge {
				t.Fatalf("3000-byte message: ack %.200s, want message_too_large", ack)
			}
			ack, err = cl.Request(id, "echo", strings.Repeat("y", 1000), wait)
			if err != nil || len(ack) != 1002 {
				t.Fatalf("1000-byte message after the big one: %.100s, %v", ack, err)
			}
		})
	}
}

func TestRateLimit(t *testing.T) {
	ts := newTestServer(t, socket.Options{RatePerSecond: 5, RateBurst: 10})
	cl := sockettest.Start(t)
	for _, g := range generations {
		t.Run(g.name, func(t *testing.T) {
			id := g.name
			connectOK(t, cl, sockettest.ConnectOptions{ID: id, Generation: g.gen, URL: ts.URL, Token: token(t, "u-"+id, time.Hour), Transports: g.transports})
			start := time.Now()
			tag := "flood-" + id
			cl.Send(map[string]any{"op": "emitMany", "id": id, "event": "echo", "count": 60, "tag": tag})
			e, err := cl.Wait(wait, func(e sockettest.Event) bool { return e.Type == "acks" && e.Tag == tag })
			if err != nil {
				t.Fatal(err)
			}
			if e.TimedOut {
				t.Fatalf("some acks never came: %d results", len(e.Results))
			}
			elapsed := time.Since(start)
			ok, limited := 0, 0
			for _, r := range e.Results {
				if err := ackError(t, r); err != nil {
					if err.Code != socket.CodeRateLimited {
						t.Fatalf("unexpected error ack %s", r)
					}
					limited++
				} else {
					ok++
				}
			}
			maxOK := 10 + int(elapsed.Seconds()*5) + 1
			if ok < 10 || ok > maxOK || limited == 0 {
				t.Fatalf("%d served, %d limited in %v; want 10..%d served and some limited", ok, limited, elapsed, maxOK)
			}
			t.Logf("%s: 60 requests in %v: %d served, %d rate_limited", g.name, elapsed, ok, limited)
			time.Sleep(400 * time.Millisecond) // two tokens back
			ack, err := cl.Request(id, "echo", "after flood", wait)
			if err != nil || string(ack) != `"after flood"` {
				t.Fatalf("after the flood: %s, %v", ack, err)
			}
		})
	}
}

// A client that ignores rate_limited and keeps sending is cut off: the
// server closes it (reason rate_limited, sent as closing {code:
// rate_limited} when the client still reads), because answering a flood
// costs the server as much as serving it.
func TestFloodingConnectionClosed(t *testing.T) {
	ts := newTestServer(t, socket.Options{RatePerSecond: 5, RateBurst: 10})
	cl := sockettest.Start(t)
	for _, g := range generations {
		t.Run(g.name, func(t *testing.T) {
			id := "flood-" + g.name
			user := "u-" + id
			connectOK(t, cl, sockettest.ConnectOptions{ID: id, Generation: g.gen, URL: ts.URL, Token: token(t, user, time.Hour), Transports: g.transports})
			before, start := ts.echoes.Load(), time.Now()
			cl.Send(map[string]any{"op": "emitMany", "id": id, "event": "echo", "count": 400, "tag": id, "timeoutMs": 3000})
			if _, err := cl.Wait(wait, func(e sockettest.Event) bool { return e.ID == id && e.Type == "disconnect" }); err != nil {
				t.Fatalf("flooding client not disconnected: %v", err)
			}
			deadline := time.Now().Add(wait)
			for {
				reason, ok := ts.disconnectReason(user)
				if ok {
					if reason != socket.CodeRateLimited {
						t.Fatalf("disconnect reason %q, want rate_limited", reason)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("OnDisconnect never ran")
				}
				time.Sleep(10 * time.Millisecond)
			}
			// Usually the client reads why before its transport closes.
			if _, err := cl.Wait(100*time.Millisecond, func(e sockettest.Event) bool { return e.ID == id && e.Event == socket.EventClosing }); err != nil {
				t.Logf("the client saw only its transport close")
			}
			if n, most := ts.echoes.Load()-before, 10+int64(5*time.Since(start).Seconds())+1; n > most {
				t.Fatalf("%d of the flood's requests served, want at most %d (the burst and the rate)", n, most)
			}
		})
	}
}

func TestRoomBroadcastReachesMembersOnce(t *testing.T) {
	ts := newTestServer(t, socket.Options{})
	cl := sockettest.Start(t)
	ids := []string{}
	for _, g := range generations {
		for i := 0; i < 2; i++ {
			id := fmt.Sprintf("%s-%d", g.name, i)
			ids = append(ids, id)
			connectOK(t, cl, sockettest.ConnectOptions{ID: id, Generation: g.gen, URL: ts.URL, Token: token(t, id, time.Hour), Transports: g.transports})
			room := "even"
			if i == 1 {
				room = "odd"
			}
			// Joining twice must not double deliveries.
			for j := 0; j < 2; j++ {
				if ack, err := cl.Request(id, "join", map[string]string{"room": room}, wait); err != nil || ackError(t, ack) != nil {
					t.Fatalf("join: %s %v", ack, err)
				}
			}
		}
	}
	if n := ts.RoomSize("even"); n != 2 {
		t.Fatalf("room even has %d members, want 2", n)
	}
	if err := ts.ToRoom("even", "news", map[string]any{"for": "even"}); err != nil {
		t.Fatal(err)
	}
	if err := ts.ToRoom("odd", "news", map[string]any{"for": "odd"}); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		e, err := cl.Wait(wait, func(e sockettest.Event) bool { return e.ID == id && e.Type == "event" && e.Event == "news" })
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		want := "even"
		if strings.HasSuffix(id, "-1") {
			want = "odd"
		}
		if !strings.Contains(string(e.Args[0]), want) {
			t.Fatalf("%s got %s", id, e.Args[0])
		}
	}
	if e, err := cl.Wait(300*time.Millisecond, func(e sockettest.Event) bool { return e.Type == "event" && e.Event == "news" }); err == nil {
		t.Fatalf("duplicate delivery: %+v", e)
	}
	if err := ts.ToRoom("even", "disconnect", nil); err == nil {
		t.Fatal("ToRoom accepted a reserved event name")
	}
}

func TestCloseSendsDisconnect(t *testing.T) {
	ts := newTestServer(t, socket.Options{})
	cl := sockettest.Start(t)
	all := append(generations[:len(generations):len(generations)], struct {
		name       string
		gen        int
		transports []string
	}{"v2-polling", 2, []string{"polling"}})
	for _, g := range all {
		t.Run(g.name, func(t *testing.T) {
			id := g.name
			user := "kick-" + id
			connectOK(t, cl, sockettest.ConnectOptions{ID: id, Generation: g.gen, URL: ts.URL, Token: token(t, user, time.Hour), Transports: g.transports})
			// The answer to the request that closed the socket is dropped:
			// nothing is sent after the DISCONNECT packet.
			cl.Emit(id, "kick", nil, true, "kick-"+id)
			e, err := cl.Wait(wait, func(e sockettest.Event) bool {
				return e.ID == id && e.Type == "event" && e.Event == socket.EventClosing
			})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(e.Args[0]), `"code":"kicked"`) {
				t.Fatalf("closing %s", e.Args[0])
			}
			d, err := cl.WaitFor(id, "disconnect", wait)
			if err != nil {
				t.Fatal(err)
			}
			// "io server disconnect" is the reason after which clients do not
			// reconnect on their own.
			if d.Reason != "io server disconnect" {
				t.Fatalf("disconnect reason %q", d.Reason)
			}
			deadline := time.Now().Add(wait)
			for {
				if r, ok := ts.disconnectReason(user); ok {
					if r != "kicked" {
						t.Fatalf("OnDisconnect reason %q", r)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("OnDisconnect not called")
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

func TestTokenExpiryDisconnects(t *testing.T) {
	ts := newTestServer(t, socket.Options{})
	cl := sockettest.Start(t)
	for _, g := range generations {
		id := g.name
		cl.Connect(sockettest.ConnectOptions{ID: id, Generation: g.gen, URL: ts.URL, Token: token(t, "short-"+id, 2*time.Second), Transports: g.transports})
	}
	for _, g := range generations {
		id := g.name
		if e, err := cl.WaitConnected(id, wait); err != nil || e.Type != "connect" {
			t.Fatalf("%s: %+v %v", id, e, err)
		}
	}
	for _, g := range generations {
		id := g.name
		e, err := cl.Wait(wait, func(e sockettest.Event) bool {
			return e.ID == id && e.Type == "event" && e.Event == socket.EventClosing
		})
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if !strings.Contains(string(e.Args[0]), socket.CodeTokenExpired) {
			t.Fatalf("%s closing %s", id, e.Args[0])
		}
		d, err := cl.WaitFor(id, "disconnect", wait)
		if err != nil || d.Reason != "io server disconnect" {
			t.Fatalf("%s: disconnect %q %v", id, d.Reason, err)
		}
	}
}

func TestHeartbeatSettingsValidated(t *testing.T) {
	v, _ := auth.NewVerifier(auth.VerifierOptions{HS256Secret: secret})
	for _, o := range []socket.Options{
		{Verifier: v, PingInterval: 10 * time.Second, PingTimeout: 10 * time.Second},
		{Verifier: v, PingInterval: 30 * time.Second, PingTimeout: 5 * time.Second},
		{Verifier: v, MaxMessageBytes: 100, HardMaxBytes: 10},
		{Verifier: v, AllowedOrigins: []string{"editor.example.com"}},
		{},
	} {
		if s, err := socket.New(o); err == nil {
			s.Close()
			t.Errorf("New(%+v) accepted invalid options", o)
		}
	}
}

func TestOrigins(t *testing.T) {
	ts := newTestServer(t, socket.Options{AllowedOrigins: []string{"https://editor.example.com"}})
	cl := sockettest.Start(t)
	for _, g := range generations {
		for _, tc := range []struct {
			origin string
			ok     bool
		}{{"https://editor.example.com", true}, {"https://evil.example.com", false}} {
			id := g.name + tc.origin
			cl.Connect(sockettest.ConnectOptions{ID: id, Generation: g.gen, URL: ts.URL, Token: token(t, "o", time.Hour), Transports: g.transports, Origin: tc.origin})
			e, err := cl.WaitConnected(id, wait)
			if err != nil {
				t.Fatal(err)
			}
			if (e.Type == "connect") != tc.ok {
				t.Errorf("%s from %s: %s", g.name, tc.origin, e.Type)
			}
		}
	}
}

// A v2 client on its default transports (polling first) stays on polling:
// the server never offers the upgrade that loses messages.
func TestV2PollingStaysReliable(t *testing.T) {
	ts := newTestServer(t, socket.Options{})
	cl := sockettest.Start(t)
	const n = 20
	for i := 0; i < n; i++ {
		cl.Connect(sockettest.ConnectOptions{ID: fmt.Sprint("p", i), Generation: 2, URL: ts.URL, Token: token(t, fmt.Sprint("p", i), time.Hour), Timeout: 3 * wait})
	}
	for i := 0; i < n; i++ {
		id := fmt.Sprint("p", i)
		// Polling handshakes are several requests each: under -race on a
		// loaded machine 20 at once can take longer than wait.
		e, err := cl.WaitConnected(id, 3*wait)
		if err != nil || e.Type != "connect" {
			t.Fatalf("%s: %+v %v", id, e, err)
		}
		// Emit right after connect: the case that lost most clients.
		cl.Emit(id, "echo", i, true, id)
	}
	for i := 0; i < n; i++ {
		id := fmt.Sprint("p", i)
		e, err := cl.Wait(wait, func(e sockettest.Event) bool { return e.Type == "ack" && e.Tag == id })
		if err != nil || string(e.Args[0]) != fmt.Sprint(i) {
			t.Fatalf("%s: %+v %v", id, e, err)
		}
	}
	ack, err := cl.Request("p0", "whoami", nil, wait)
	if err != nil || !strings.Contains(string(ack), `"transport":"polling"`) {
		t.Fatalf("whoami %s %v", ack, err)
	}
}

// A guessed or stolen session id cannot be used to inject a message into
// another client's polling session.
func TestSessionInjection(t *testing.T) {
	ts := newTestServer(t, socket.Options{})
	cl := sockettest.Start(t)
	victimTok := token(t, "victim", time.Hour)
	e := connectOK(t, cl, sockettest.ConnectOptions{ID: "victim", Generation: 2, URL: ts.URL, Token: victimTok, Transports: []string{"polling"}})
	sid := e.SID
	if len(sid) < 20 || strings.Trim(sid, "0123456789") == "" {
		t.Fatalf("session id %q is short or numeric: guessable", sid)
	}
	v4 := connectOK(t, cl, sockettest.ConnectOptions{ID: "victim4", Generation: 4, URL: ts.URL, Token: victimTok, Transports: []string{"polling"}})

	post := func(eio, sid, tok string) int {
		t.Helper()
		pkt := `42["echo","injected"]`
		body := fmt.Sprintf("%d:%s", len(pkt), pkt)
		if eio == "4" {
			body = pkt
		}
		u := fmt.Sprintf("%s/socket.io/?EIO=%s&transport=polling&sid=%s", ts.URL, eio, sid)
		if tok != "" {
			u += "&token=" + tok
		}
		resp, err := http.Post(u, "text/plain;charset=UTF-8", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	attacker := token(t, "mallory", time.Hour)
	before := ts.echoes.Load()
	cases := []struct {
		name, eio, sid, token string
		want                  int
	}{
		{"victim's sid, no token", "3", sid, "", http.StatusUnauthorized},
		{"victim's sid, attacker's token", "3", sid, attacker, http.StatusForbidden},
		{"victim's sid, forged token", "3", sid, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ2aWN0aW0ifQ.", http.StatusUnauthorized},
		{"sequential guess 1", "3", "1", attacker, http.StatusBadRequest},
		{"sequential guess 2", "3", "2", attacker, http.StatusBadRequest},
		{"v4 victim's sid, no token", "4", v4.SID, "", http.StatusUnauthorized},
		{"v4 victim's sid, attacker's token", "4", v4.SID, attacker, http.StatusForbidden},
		{"v4 guessed sid", "4", "AAAAAAAAAAAAAAAAAAAA", attacker, http.StatusBadRequest},
		{"v4 sid off by one char", "4", v4.SID[:len(v4.SID)-1] + "x", attacker, http.StatusBadRequest},
	}
	for _, tc := range cases {
		if got := post(tc.eio, tc.sid, tc.token); got != tc.want {
			t.Errorf("%s: HTTP %d, want %d", tc.name, got, tc.want)
		}
	}
	time.Sleep(200 * time.Millisecond)
	if n := ts.echoes.Load() - before; n != 0 {
		t.Fatalf("%d injected messages reached the handler", n)
	}
	// Control: the same request from the session's owner is accepted, so
	// the refusals above are not about the request's shape.
	if got := post("3", sid, victimTok); got != http.StatusOK {
		t.Fatalf("owner's own POST: HTTP %d", got)
	}
	deadline := time.Now().Add(wait)
	for ts.echoes.Load() == before {
		if time.Now().After(deadline) {
			t.Fatal("owner's POST did not reach the handler")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The victim is still connected and working.
	if ack, err := cl.Request("victim", "echo", "ok", wait); err != nil || string(ack) != `"ok"` {
		t.Fatalf("victim after the attempts: %s %v", ack, err)
	}
}

// 200 sockets, half of each generation, spread over 20 rooms; 20 goroutines
// each send 50 sequenced events to their room at once. Every socket must get
// its room's 50 events exactly once and in order.
func TestManySocketsRoomDelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	const (
		sockets = 200
		rooms   = 20
		events  = 50
	)
	ts := newTestServer(t, socket.Options{})
	cl := sockettest.Start(t)
	ids := make([]string, sockets)
	for i := range ids {
		gen, tr := 2, []string{"websocket"}
		if i%2 == 1 {
			gen, tr = 4, nil
		}
		ids[i] = fmt.Sprintf("s%03d-v%d", i, gen)
		cl.Connect(sockettest.ConnectOptions{ID: ids[i], Generation: gen, URL: ts.URL, Token: token(t, ids[i], time.Hour), Transports: tr, Quiet: true})
	}
	start := time.Now()
	for _, id := range ids {
		e, err := cl.WaitConnected(id, 30*time.Second)
		if err != nil || e.Type != "connect" {
			t.Fatalf("%s: %+v %v", id, e, err)
		}
	}
	t.Logf("%d sockets connected in %v", sockets, time.Since(start))
	for i, id := range ids {
		cl.Emit(id, "join", map[string]string{"room": fmt.Sprint("room-", i%rooms)}, true, "join-"+id)
	}
	for _, id := range ids {
		if _, err := cl.Wait(30*time.Second, func(e sockettest.Event) bool { return e.Type == "ack" && e.Tag == "join-"+id }); err != nil {
			t.Fatalf("join %s: %v", id, err)
		}
	}
	if n := ts.Count(); n != sockets {
		t.Fatalf("server holds %d connections, want %d", n, sockets)
	}
	start = time.Now()
	var wg sync.WaitGroup
	for r := 0; r < rooms; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 0; seq < events; seq++ {
				if err := ts.ToRoom(fmt.Sprint("room-", r), "tick", map[string]any{"seq": seq, "room": r}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	want := make([]int, events)
	for i := range want {
		want[i] = i
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		rep, err := cl.Report(nil, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		complete := 0
		for _, id := range ids {
			r := rep[id]
			if !r.Connected {
				t.Fatalf("%s disconnected", id)
			}
			got := r.Seqs["tick"]
			if len(got) > events {
				t.Fatalf("%s got %d ticks, want %d (duplicates)", id, len(got), events)
			}
			for i, s := range got {
				if s != i {
					t.Fatalf("%s ticks out of order or with a gap: %v", id, got)
				}
			}
			if len(got) == events {
				complete++
			}
		}
		if complete == sockets {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d sockets got all %d events within 60s", complete, sockets, events)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("%d deliveries (%d sockets × %d events) complete in %v", sockets*events, sockets, events, time.Since(start))
}
