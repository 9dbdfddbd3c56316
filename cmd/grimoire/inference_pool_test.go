package main

import (
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/grimoire-run/grimoire/services/devllm"
)

// A spell with a Chat Completion node feeding a Generate Text node runs
// through the runtime (`grimoire run`, the endpoints file, the router)
// against a pool of two endpoints, one of them dead (its port resets every
// connection, as a crashed GPU server's does): both calls succeed on the
// healthy endpoint, and the dead one was tried (ties go in turn, so one of
// the two calls picks it first).
func TestSpellRunsOnAPoolWithADeadEndpoint(t *testing.T) {
	healthy := devllm.New(t, devllm.Options{})
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var reached atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := dead.Accept()
			if err != nil {
				return
			}
			reached.Add(1)
			_ = c.(*net.TCPConn).SetLinger(0)
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { dead.Close(); <-done })

	config := writeFile(t, "endpoints.json", `{
	  "chat": ["gpu1", "gpu2"],
	  "breaker": {"failures": 1, "coolDown": "1m"},
	  "endpoints": {
	    "gpu1": {"baseURL": "http://`+dead.Addr().String()+`/v1", "model": "llama-3.1-8b", "retry": {"initialBackoff": "5s"}},
	    "gpu2": {"baseURL": "`+healthy.URL+`", "model": "llama-3.1-8b", "retry": {"initialBackoff": "5s"}}
	  }}`)
	spell := writeFile(t, "pool.json", `{"format":"grimoire/spell@1","id":"pool","nodes":[
	  {"id":"q","type":"Input","config":{"name":"q"}},
	  {"id":"chat","type":"Chat Completion","config":{"prompt":"{{q}}"},"inputs":[{"key":"q","kind":"data"}]},
	  {"id":"gen","type":"Generate Text","config":{}},
	  {"id":"out","type":"Output","config":{"name":"answer"}}],
	 "edges":[{"from":"q.trigger","to":"chat.trigger"},{"from":"q.output","to":"chat.q"},
	  {"from":"chat.trigger","to":"gen.trigger"},{"from":"chat.result","to":"gen.input"},
	  {"from":"gen.trigger","to":"out.trigger"},{"from":"gen.result","to":"out.input"}]}`)
	vars := map[string]string{envData: t.TempDir(), "GRIMOIRE_OPENAI_CONFIG": config}
	out, errs, code := cliWithEnv(t, vars, "run", spell, "--input", "q=red apples")
	if code != 0 || strings.TrimSpace(out) != `{"answer":"red apples"}` {
		t.Fatalf("run: exit %d, out %q, err %q", code, out, errs)
	}
	if n := len(healthy.RequestsTo(devllm.Chat)); n != 2 {
		t.Errorf("the healthy endpoint served %d calls, want both", n)
	}
	if reached.Load() != 1 {
		t.Errorf("the dead endpoint was reached %d times, want once (then its breaker opened)", reached.Load())
	}
}
