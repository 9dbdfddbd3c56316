package server_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/server"
)

func dial(t *testing.T, url string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedSoon reports whether the server closes c within d.
func closedSoon(c net.Conn, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := c.Read(make([]byte, 1))
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return err != nil
}

// One address may hold MaxConnsPerAddr connections; the next is closed at
// accept, and a slot freed is usable again.
func TestConnectionsPerAddressAreCapped(t *testing.T) {
	e := newEnv(t, envOptions{Limits: server.Limits{MaxConnsPerAddr: 3}})
	var held []net.Conn
	for range 3 {
		held = append(held, dial(t, e.URL))
	}
	extra := dial(t, e.URL)
	if !closedSoon(extra, 2*time.Second) {
		t.Fatal("a fourth connection from the same address was kept")
	}
	for _, c := range held {
		if closedSoon(c, 50*time.Millisecond) {
			t.Fatal("a connection within the cap was closed")
		}
	}
	held[0].Close()
	time.Sleep(50 * time.Millisecond)
	c := dial(t, e.URL)
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after a slot was freed: %v %v", resp, err)
	}
}

// A client that sends its body too slowly is cut off at BodyTimeout; an
// idle keep-alive connection is closed at IdleTimeout; a streamed answer
// that outlasts BodyTimeout after its body was read is not cut.
func TestSlowBodiesAndIdleConnectionsAreNotHeld(t *testing.T) {
	e := newEnv(t, envOptions{Limits: server.Limits{BodyTimeout: 200 * time.Millisecond, IdleTimeout: 300 * time.Millisecond}})
	tok := token(t, "alice")

	slow := dial(t, e.URL)
	io.WriteString(slow, "PUT /v1/spells/slow HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+tok+"\r\nContent-Length: 1000\r\n\r\n{\"fo")
	start := time.Now()
	if !closedSoonOrAnswered(slow, 3*time.Second) {
		t.Fatal("a body that never finished held its connection for 3s")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("slow body cut after %v, want about 200ms", d)
	}

	idle := dial(t, e.URL)
	io.WriteString(idle, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(idle)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	} else {
		io.Copy(io.Discard, resp.Body)
	}
	if !closedSoon(idle, 3*time.Second) {
		t.Fatal("an idle keep-alive connection was kept past IdleTimeout")
	}

	// The stream runs a completion that takes 600ms (the fake model takes
	// 20ms a word after "slow"), three body timeouts.
	spell := `{"format":"grimoire/spell@1","id":"spin","nodes":[
	  {"id":"in","type":"Input","config":{"name":"x"}},
	  {"id":"gen","type":"Generator","config":{"fewshot":"{{x}}"},"inputs":[{"key":"x","kind":"data"}]},
	  {"id":"o","type":"Output","config":{"name":"y"}}],
	 "edges":[{"from":"in.trigger","to":"gen.trigger"},{"from":"in.output","to":"gen.x"},{"from":"gen.trigger","to":"o.trigger"},{"from":"gen.result","to":"o.input"}]}`
	if resp, body := e.do("PUT", "/v1/spells/spin", tok, spell); resp.StatusCode/100 != 2 {
		t.Fatalf("put spin: %d %s", resp.StatusCode, body)
	}
	resp, body := e.do("POST", "/v1/spells/spin/runs?mode=stream", tok, `{"inputs":{"x":"slow`+strings.Repeat(" w", 30)+`"}}`)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "run:completed") {
		t.Fatalf("stream after its body: %d %s", resp.StatusCode, body)
	}
}

// closedSoonOrAnswered: the server closed c, or answered it with an error
// status (a 408 or 400 for the unfinished body), within d.
func closedSoonOrAnswered(c net.Conn, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		ne, ok := err.(net.Error)
		return !(ok && ne.Timeout())
	}
	return resp.StatusCode >= 400
}
