package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/events/bus"
	"github.com/grimoire-run/grimoire/events/embedded"
	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/nodes"
	"github.com/grimoire-run/grimoire/projections"
	"github.com/grimoire-run/grimoire/projections/cache"
	runsmodel "github.com/grimoire-run/grimoire/projections/runs"
	spellsmodel "github.com/grimoire-run/grimoire/projections/spells"
	"github.com/grimoire-run/grimoire/projections/usage"
	"github.com/grimoire-run/grimoire/server"
	"github.com/grimoire-run/grimoire/server/auth"
	"github.com/grimoire-run/grimoire/server/runs"
	"github.com/grimoire-run/grimoire/server/socket"
	"github.com/grimoire-run/grimoire/server/spells"
	"github.com/grimoire-run/grimoire/services"
	"github.com/grimoire-run/grimoire/services/localembed"
	"github.com/grimoire-run/grimoire/services/vectorindex"
)

var (
	secret      = []byte("server-test-secret-0123456789abcdef")
	wrongSecret = []byte("another-secret-0123456789abcdefghij")
)

const wait = 15 * time.Second

// env is a whole Grimoire server as `grimoire serve` wires it: the embedded
// event store in a temporary directory, the in-process bus, the run
// executor, the spells read model, HS256 tokens, on a loopback listener.
type env struct {
	t     testing.TB
	URL   string
	Srv   *server.Server
	Store events.Store
	Exec  *runs.Executor
	LLM   *fakeLLM
	Bus   *bus.Bus
	// Runner is the graph runner the executor uses.
	Runner *graph.Runner
	// Proj feeds the read models (the spells and cache models, and with
	// envOptions.Analysts the runs and usage models).
	Proj *projections.Runner
	// Knowledge holds the services of envOptions.Knowledge (nil without).
	Knowledge *nodes.Services

	shutdown func() error
	serveErr error
}

// Shutdown stops serving, as `grimoire serve` does on SIGTERM, and returns
// what Serve returned.
func (e *env) Shutdown() error { return e.shutdown() }

type envOptions struct {
	Limits server.Limits
	Socket socket.Options
	// MaxRuns is the executor's limit (default its own).
	MaxRuns int
	// Cache gives the executor the node-output cache, as `grimoire serve`
	// does (without it every node runs).
	Cache bool
	// Analysts wires the analyst API to read models fed from the store.
	Analysts bool
	// Inference exports an inference pool's metrics.
	Inference server.InferenceStats
	// Knowledge gives the node types and the server's search_knowledge
	// tool the embedded defaults: the local embedder and a vector index
	// in a temporary directory (env.Knowledge).
	Knowledge bool
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	store, err := embedded.Open(embedded.Options{Dir: t.TempDir(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	b, err := bus.New(context.Background(), bus.Options{Logger: log, Buffer: 4096})
	if err != nil {
		t.Fatal(err)
	}
	llm := &fakeLLM{}
	svcs := nodes.Services{Completion: llm, DefaultModel: "fake"}
	if o.Knowledge {
		emb, err := localembed.New(localembed.Options{})
		if err != nil {
			t.Fatal(err)
		}
		ix, err := vectorindex.Open(vectorindex.Options{Dir: t.TempDir(), NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ix.Close() })
		svcs.Embedder, svcs.Vectors = emb, ix
	}
	runner := &graph.Runner{Catalog: nodes.NewRegistry(svcs)}
	lib := &spells.Library{Store: store}
	runner.Spells = lib
	cm, err := cache.Open(cache.Options{NodeTypes: cache.FromCatalog(runner.Catalog)})
	if err != nil {
		t.Fatal(err)
	}
	// Linger as `grimoire serve` sets it (cmd/grimoire/serve.go), so that
	// the figures measure what a deployment does.
	execOpts := runs.Options{Store: store, Bus: b, Runner: runner, Library: lib, Logger: log, MaxRuns: o.MaxRuns, Linger: 2 * time.Millisecond}
	if o.Cache {
		execOpts.Cache = cm
	}
	exec, err := runs.New(execOpts)
	if err != nil {
		t.Fatal(err)
	}
	model := spellsmodel.New()
	models := []projections.Projection{model, cm}
	var analysts server.Analysts
	if o.Analysts {
		rm, err := runsmodel.Open(runsmodel.Options{})
		if err != nil {
			t.Fatal(err)
		}
		um, err := usage.Open(usage.Options{Prices: map[string]usage.Price{"fake": {PromptPerMTok: 1, CompletionPerMTok: 2}}})
		if err != nil {
			t.Fatal(err)
		}
		models = append(models, rm, um)
		analysts = server.Analysts{Runs: rm, Usage: um, Cache: cm}
	}
	proj, err := projections.NewRunner(projections.Options{Store: store, Logger: log, RetryDelay: 10 * time.Millisecond}, models...)
	if err != nil {
		t.Fatal(err)
	}
	if err := proj.Start(); err != nil {
		t.Fatal(err)
	}
	if o.Analysts {
		analysts.Projections = proj
	}
	v, err := auth.NewVerifier(auth.VerifierOptions{HS256Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	srvOpts := server.Options{
		Store: store, Bus: b, Library: lib, Spells: model, Executor: exec, Runner: runner,
		Verifier: v, Socket: o.Socket, Limits: o.Limits, Logger: log, DemoSpell: demoSpell(t),
		Analysts: analysts, Inference: o.Inference,
	}
	if o.Knowledge {
		srvOpts.Knowledge = &svcs
	}
	srv, err := server.New(srvOpts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	e := &env{t: t, URL: "http://" + ln.Addr().String(), Srv: srv, Store: store, Exec: exec, LLM: llm, Bus: b, Runner: runner, Proj: proj}
	if o.Knowledge {
		e.Knowledge = &svcs
	}
	var once sync.Once
	e.shutdown = func() error {
		once.Do(func() {
			cancel()
			e.serveErr = <-served
		})
		return e.serveErr
	}
	t.Cleanup(func() {
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := e.shutdown(); err != nil {
				t.Errorf("Serve: %v", err)
			}
			srv.Close()
			// Runs still going (hanging test spells) are interrupted.
			closeCtx, stop := context.WithTimeout(context.Background(), time.Second)
			exec.Close(closeCtx)
			stop()
			proj.Close()
			b.Close()
			store.Close()
		}()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Errorf("server did not shut down within 30s")
		}
	})
	return e
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// token signs a token for user with the server's secret.
func token(t testing.TB, user string, roles ...string) string {
	t.Helper()
	tok, err := auth.Issue(secret, user, roles, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func expiredToken(t testing.TB, user string) string {
	t.Helper()
	tok, err := auth.IssueAt(secret, user, nil, time.Now().Add(-2*time.Hour), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func wrongKeyToken(t testing.TB, user string) string {
	t.Helper()
	tok, err := auth.Issue(wrongSecret, user, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// algNoneToken is an unsigned token ("alg": "none") that claims user.
func algNoneToken(user string) string {
	enc := base64.RawURLEncoding.EncodeToString
	h := enc([]byte(`{"alg":"none","typ":"JWT"}`))
	c := enc([]byte(fmt.Sprintf(`{"sub":%q,"exp":%d}`, user, time.Now().Add(time.Hour).Unix())))
	return h + "." + c + "."
}

// fakeLLM is the completion service of the tests: it streams the prompt's
// words back as tokens. A prompt starting with "slow" waits 20 ms before
// each token; one starting with "hang" waits until cancelled.
type fakeLLM struct{}

func (*fakeLLM) Complete(ctx context.Context, req services.CompletionRequest, onToken func(string)) (services.CompletionResponse, error) {
	words := strings.Fields(req.Prompt)
	if len(words) > 0 && words[0] == "hang" {
		<-ctx.Done()
		return services.CompletionResponse{}, ctx.Err()
	}
	var text strings.Builder
	for i, w := range words {
		if words[0] == "slow" {
			select {
			case <-time.After(20 * time.Millisecond):
			case <-ctx.Done():
				return services.CompletionResponse{}, ctx.Err()
			}
		}
		tok := w
		if i > 0 {
			tok = " " + w
		}
		text.WriteString(tok)
		if onToken != nil {
			onToken(tok)
		}
	}
	n := len(words)
	return services.CompletionResponse{Text: text.String(), FinishReason: "stop",
		Usage: services.Usage{PromptTokens: n, CompletionTokens: n, TotalTokens: 2 * n}}, nil
}

// demoSpell is a spell anyone may run: greet the input name.
func demoSpell(t testing.TB) *graph.Spell {
	t.Helper()
	s, _, err := graph.ParseSpell([]byte(`{
  "format": "grimoire/spell@1", "id": "demo", "name": "Demo",
  "nodes": [
    {"id": "start", "type": "Module Trigger In", "config": {"name": "start"}},
    {"id": "name", "type": "Input", "config": {"name": "name", "default": "world"}},
    {"id": "greet", "type": "Text Template", "config": {"template": "Hello, {{name}}!"},
     "inputs": [{"key": "name", "kind": "data", "type": "string"}]},
    {"id": "greeting", "type": "Output", "config": {"name": "greeting"}}
  ],
  "edges": [
    {"from": "start.trigger", "to": "greet.trigger"},
    {"from": "name.output", "to": "greet.name"},
    {"from": "greet.trigger", "to": "greeting.trigger"},
    {"from": "greet.output", "to": "greeting.input"}
  ]}`))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// storySpell is a spell document with a streaming node: a template, then a
// completion that streams one chunk per word of its prompt. prefix starts
// the prompt ("slow", "hang" or "").
func storySpell(id, prefix string) json.RawMessage {
	prompt := "{{text}}"
	if prefix != "" {
		prompt = prefix + " {{text}}"
	}
	doc := map[string]any{
		"format": "grimoire/spell@1", "id": id, "name": "Story " + id,
		"nodes": []any{
			map[string]any{"id": "start", "type": "Module Trigger In", "config": map[string]any{"name": "start"}},
			map[string]any{"id": "name", "type": "Input", "config": map[string]any{"name": "name", "default": "world"}},
			map[string]any{"id": "greet", "type": "Text Template", "config": map[string]any{"template": "Once upon a time {{name}} woke up"},
				"inputs": []any{map[string]any{"key": "name", "kind": "data", "type": "string"}}},
			map[string]any{"id": "tell", "type": "Generator", "config": map[string]any{"fewshot": prompt, "maxTokens": 64},
				"inputs": []any{map[string]any{"key": "text", "kind": "data"}}},
			map[string]any{"id": "story", "type": "Output", "config": map[string]any{"name": "story"}},
		},
		"edges": []any{
			map[string]any{"from": "start.trigger", "to": "greet.trigger"},
			map[string]any{"from": "name.output", "to": "greet.name"},
			map[string]any{"from": "greet.trigger", "to": "tell.trigger"},
			map[string]any{"from": "greet.output", "to": "tell.text"},
			map[string]any{"from": "tell.trigger", "to": "story.trigger"},
			map[string]any{"from": "tell.result", "to": "story.input"},
		},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	return b
}

// do sends an HTTP request with tok (none when empty) and returns the
// response with its body read.
func (e *env) do(method, path, tok string, body string, header ...string) (*http.Response, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	cl := &http.Client{Timeout: wait}
	resp, err := cl.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp, b
}

// errorCode reads {"error":{"code"}} from a body or an ack.
func errorCode(raw []byte) string {
	var b struct {
		Error *struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(raw, &b) != nil || b.Error == nil {
		return ""
	}
	return b.Error.Code
}
