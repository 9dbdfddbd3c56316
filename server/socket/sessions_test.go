package socket_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/grimoire-run/grimoire/server/socket"
	"github.com/grimoire-run/grimoire/server/socket/sockettest"
)

// An Engine.IO 4 session belongs to the user whose token opened it: a
// request naming its id gets nothing without a token, or with another
// user's, whether it polls, posts or upgrades to a websocket.
func TestEIO4SessionBoundToToken(t *testing.T) {
	ts := newTestServer(t, socket.Options{})
	cl := sockettest.Start(t)
	victimTok := token(t, "victim", time.Hour)
	attackerTok := token(t, "mallory", time.Hour)
	victim := connectOK(t, cl, sockettest.ConnectOptions{ID: "victim", Generation: 4, URL: ts.URL, Token: victimTok, Transports: []string{"polling"}})
	sid := victim.SID
	if len(sid) < 16 {
		t.Fatalf("session id %q", sid)
	}
	// The server sends the victim an event that a stolen poll could read.
	ts.conn("victim").Emit("secret", "victim's data")
	if _, err := cl.Wait(wait, func(e sockettest.Event) bool { return e.ID == "victim" && e.Event == "secret" }); err != nil {
		t.Fatal(err)
	}

	sessionURL := func(transport, tok string) string {
		u := fmt.Sprintf("%s/socket.io/?EIO=4&transport=%s&sid=%s", ts.URL, transport, url.QueryEscape(sid))
		if tok != "" {
			u += "&token=" + url.QueryEscape(tok)
		}
		return u
	}
	before := ts.echoes.Load()
	for _, tc := range []struct {
		name, tok string
		want      int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"another user's token", attackerTok, http.StatusForbidden},
		{"a forged token", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ2aWN0aW0ifQ.", http.StatusUnauthorized},
	} {
		// A poll: it must not take the victim's packets.
		resp, err := http.Get(sessionURL("polling", tc.tok))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want || strings.Contains(string(body), "secret") {
			t.Errorf("%s: GET poll: HTTP %d %q, want %d and nothing of the session", tc.name, resp.StatusCode, body, tc.want)
		}
		// A post: it must not reach a handler as the victim.
		resp, err = http.Post(sessionURL("polling", tc.tok), "text/plain;charset=UTF-8", strings.NewReader(`42["echo","injected"]`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: POST: HTTP %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
		// An upgrade: the websocket handshake is refused.
		ws, wsResp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(sessionURL("websocket", tc.tok), "http"), nil)
		if err == nil {
			ws.Close()
			t.Errorf("%s: websocket upgrade accepted", tc.name)
		} else if wsResp == nil || wsResp.StatusCode != tc.want {
			t.Errorf("%s: websocket upgrade: %v %v, want HTTP %d", tc.name, wsResp, err, tc.want)
		}
	}
	time.Sleep(200 * time.Millisecond)
	if n := ts.echoes.Load() - before; n != 0 {
		t.Fatalf("%d injected messages reached the handler", n)
	}
	// Control: the owner's own token is served, so the refusals above are
	// not about the requests' shape.
	resp, err := http.Post(sessionURL("polling", victimTok), "text/plain;charset=UTF-8", strings.NewReader(`42["echo","mine"]`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("owner's POST: HTTP %d", resp.StatusCode)
	}
	if ack, err := cl.Request("victim", "whoami", nil, wait); err != nil || !strings.Contains(string(ack), `"user":"victim"`) {
		t.Fatalf("victim after the attempts: %s %v", ack, err)
	}

	// The auth payload cannot switch the session to another user.
	cl.Connect(sockettest.ConnectOptions{ID: "switch", Generation: 4, URL: ts.URL, Token: attackerTok, AuthToken: victimTok})
	e, err := cl.WaitConnected("switch", wait)
	if err != nil {
		t.Fatal(err)
	}
	if e.Type != "connect_error" || e.Error.Code() != socket.CodeForbidden {
		t.Fatalf("query mallory, auth victim: %s %+v, want connect_error forbidden", e.Type, e.Error)
	}
	// The same user in both is fine.
	connectOK(t, cl, sockettest.ConnectOptions{ID: "both", Generation: 4, URL: ts.URL, Token: victimTok, AuthToken: victimTok})
}

// Handshakes without a valid token open no session, cost nothing that
// outlives them, and past HandshakesPerSecond per address are refused 429
// with Retry-After. A user with a valid token on the same address still
// connects.
func TestUnauthenticatedHandshakeFloodCreatesNothing(t *testing.T) {
	const (
		flood = 8000
		burst = 20
	)
	ts := newTestServer(t, socket.Options{HandshakesPerSecond: 5, HandshakeBurst: burst})
	tr := &http.Transport{MaxIdleConnsPerHost: 32}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	defer tr.CloseIdleConnections()
	settle := func() int {
		runtime.GC()
		time.Sleep(100 * time.Millisecond)
		return runtime.NumGoroutine()
	}
	before := settle()

	forged := "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ2aWN0aW0ifQ."
	urls := []string{
		ts.URL + "/socket.io/?EIO=4&transport=polling",
		ts.URL + "/socket.io/?EIO=4&transport=polling&token=" + forged,
		ts.URL + "/socket.io/?EIO=3&transport=polling",
	}
	var mu sync.Mutex
	statuses := map[int]int{}
	badRetry := 0
	var wg sync.WaitGroup
	start := time.Now()
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < flood; i += 32 {
				resp, err := client.Get(urls[i%len(urls)])
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				statuses[resp.StatusCode]++
				if resp.StatusCode == http.StatusTooManyRequests {
					if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || n < 1 {
						badRetry++
					}
				}
				mu.Unlock()
			}
		}()
	}
	// Meanwhile a user with a valid token connects from the same address.
	cl := sockettest.Start(t)
	connectOK(t, cl, sockettest.ConnectOptions{ID: "alice", Generation: 4, URL: ts.URL, Token: token(t, "alice", time.Hour)})
	wg.Wait()
	elapsed := time.Since(start)
	t.Logf("%d unauthenticated handshakes in %v: %v", flood, elapsed, statuses)

	maxServed := burst + int(elapsed.Seconds()*5) + 1
	if statuses[http.StatusUnauthorized] > maxServed || statuses[http.StatusUnauthorized] < burst {
		t.Errorf("%d answered 401, want %d..%d (the burst, then the rate)", statuses[http.StatusUnauthorized], burst, maxServed)
	}
	if statuses[http.StatusUnauthorized]+statuses[http.StatusTooManyRequests] != flood {
		t.Errorf("answers %v: want only 401 and 429", statuses)
	}
	if badRetry > 0 {
		t.Errorf("%d 429 answers without a Retry-After of at least 1s", badRetry)
	}
	if n := ts.Count(); n != 1 {
		t.Errorf("server holds %d connections, want 1 (alice)", n)
	}
	tr.CloseIdleConnections()
	cl.Send(map[string]any{"op": "close", "id": "alice"})
	deadline := time.Now().Add(10 * time.Second)
	after := settle()
	for after > before+10 && time.Now().Before(deadline) {
		after = settle()
	}
	t.Logf("goroutines: %d before the flood, %d after", before, after)
	if after > before+10 {
		t.Fatalf("%d goroutines after the flood, %d before: the flood left work behind", after, before)
	}
}

// MaxSocketsPerUser caps one user's sockets over both generations; the
// refusal is a connect_error too_many_sockets, other users are not
// affected, and a closed socket frees its slot.
func TestMaxSocketsPerUser(t *testing.T) {
	ts := newTestServer(t, socket.Options{MaxSocketsPerUser: 3})
	cl := sockettest.Start(t)
	alice := token(t, "alice", time.Hour)
	connectOK(t, cl, sockettest.ConnectOptions{ID: "a1", Generation: 4, URL: ts.URL, Token: alice})
	connectOK(t, cl, sockettest.ConnectOptions{ID: "a2", Generation: 2, URL: ts.URL, Token: alice, Transports: []string{"websocket"}})
	connectOK(t, cl, sockettest.ConnectOptions{ID: "a3", Generation: 4, URL: ts.URL, Token: alice, Transports: []string{"websocket"}})

	for _, c := range []sockettest.ConnectOptions{
		{ID: "a4-v4", Generation: 4, URL: ts.URL, Token: alice},
		{ID: "a4-v4ws", Generation: 4, URL: ts.URL, Token: alice, Transports: []string{"websocket"}},
		{ID: "a4-v2", Generation: 2, URL: ts.URL, Token: alice, Transports: []string{"polling"}},
	} {
		cl.Connect(c)
		e, err := cl.WaitConnected(c.ID, wait)
		if err != nil {
			t.Fatal(err)
		}
		if e.Type != "connect_error" {
			t.Fatalf("%s: %s, want connect_error", c.ID, e.Type)
		}
		if c.Generation == 4 && e.Error.Code() != socket.CodeTooManySockets {
			t.Fatalf("%s: connect_error %+v, want code %s", c.ID, e.Error, socket.CodeTooManySockets)
		}
		cl.Send(map[string]any{"op": "close", "id": c.ID})
	}
	// The v2 refusal is an HTTP 429 naming the code.
	resp, err := http.Get(ts.URL + "/socket.io/?EIO=3&transport=polling&token=" + alice)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(body), socket.CodeTooManySockets) {
		t.Fatalf("fourth v2 handshake: HTTP %d %s", resp.StatusCode, body)
	}
	if n := ts.Count(); n != 3 {
		t.Fatalf("%d connections, want 3", n)
	}
	connectOK(t, cl, sockettest.ConnectOptions{ID: "bob", Generation: 4, URL: ts.URL, Token: token(t, "bob", time.Hour)})

	cl.Send(map[string]any{"op": "close", "id": "a1"})
	deadline := time.Now().Add(wait)
	for ts.Count() != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("a1 not gone: %d connections", ts.Count())
		}
		time.Sleep(20 * time.Millisecond)
	}
	connectOK(t, cl, sockettest.ConnectOptions{ID: "a5", Generation: 4, URL: ts.URL, Token: alice})
}

// A connection that opened its Engine.IO 4 session with a token but never
// connects its namespace is closed after ConnectTimeout.
func TestConnectTimeoutClosesSilentSession(t *testing.T) {
	ts := newTestServer(t, socket.Options{ConnectTimeout: 300 * time.Millisecond})
	tok := token(t, "alice", time.Hour)
	resp, err := http.Get(ts.URL + "/socket.io/?EIO=4&transport=polling&token=" + tok)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	i := strings.Index(string(body), `"sid":"`)
	if resp.StatusCode != http.StatusOK || i < 0 {
		t.Fatalf("handshake: HTTP %d %s", resp.StatusCode, body)
	}
	sid := string(body[i+7:])
	sid = sid[:strings.IndexByte(sid, '"')]
	// The session's polls end in a close packet, then the session is gone.
	start := time.Now()
	for {
		resp, err = http.Get(ts.URL + "/socket.io/?EIO=4&transport=polling&sid=" + sid + "&token=" + tok)
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusBadRequest && strings.Contains(string(body), "unknown_session") {
			break
		}
		if time.Since(start) > 3*time.Second {
			t.Fatalf("session still there %v after the 300ms connect timeout: HTTP %d %q", time.Since(start), resp.StatusCode, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("session closed %v after its handshake", time.Since(start))
}

// A user opens at most ConnectBurst sessions at once and ConnectsPerSecond
// after that: a socket cut off for flooding cannot come back as fast as it
// likes. Other users are not affected.
func TestConnectsPerUserRateLimited(t *testing.T) {
	ts := newTestServer(t, socket.Options{ConnectsPerSecond: 1, ConnectBurst: 3})
	handshake := func(eio, user string) (int, string, string) {
		t.Helper()
		resp, err := http.Get(fmt.Sprintf("%s/socket.io/?EIO=%s&transport=polling&token=%s", ts.URL, eio, token(t, user, time.Hour)))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After"), string(body)
	}
	for i, eio := range []string{"4", "3", "4"} {
		if status, _, body := handshake(eio, "alice"); status != http.StatusOK {
			t.Fatalf("handshake %d (EIO %s): HTTP %d %s", i+1, eio, status, body)
		}
	}
	for _, eio := range []string{"4", "3"} {
		status, retry, body := handshake(eio, "alice")
		if status != http.StatusTooManyRequests || retry == "" || !strings.Contains(body, socket.CodeRateLimited) {
			t.Fatalf("fourth handshake (EIO %s): HTTP %d Retry-After %q %s, want 429 rate_limited", eio, status, retry, body)
		}
	}
	if status, _, body := handshake("4", "bob"); status != http.StatusOK {
		t.Fatalf("bob: HTTP %d %s", status, body)
	}
	time.Sleep(1100 * time.Millisecond)
	if status, _, body := handshake("4", "alice"); status != http.StatusOK {
		t.Fatalf("alice a second later: HTTP %d %s", status, body)
	}
}
