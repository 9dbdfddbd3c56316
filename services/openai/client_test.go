package openai_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/services"
	"github.com/grimoire-run/grimoire/services/devllm"
	"github.com/grimoire-run/grimoire/services/openai"
)

func ptr[T any](v T) *T { return &v }

func TestRequestsCarryWhatTheNodeAskedFor(t *testing.T) {
	t.Parallel()
	c, srv := newClient(t, devllm.Options{APIKey: "sk-secret"}, func(o *openai.Options) {
		o.APIKey = "sk-secret"
		o.Aliases = map[string]string{"fast": "llama-3.1-8b", "davinci": "llama-3.1-70b"}
	})
	req := services.CompletionRequest{
		Model: "fast", MaxTokens: 7, Temperature: ptr[float32](0), TopP: ptr[float32](0.9),
		FrequencyPenalty: ptr[float32](0.5), PresencePenalty: ptr[float32](-0.5), Stop: []string{"\n", "END"}, Seed: ptr(42),
		Messages: []services.Message{{Role: "system", Content: "be brief"}, {Role: "user", Content: "hi there"}},
	}
	if _, err := c.Complete(t.Context(), req, func(string) {}); err != nil {
		t.Fatal(err)
	}
	got := srv.RequestsTo(devllm.Chat)[0]
	if got.Header.Get("Authorization") != "Bearer sk-secret" {
		t.Errorf("Authorization %q", got.Header.Get("Authorization"))
	}
	b := got.JSON
	temp, _ := b["temperature"].(float64)
	if b["model"] != "llama-3.1-8b" || b["max_tokens"] != 7.0 || b["top_p"] != 0.9 ||
		b["frequency_penalty"] != 0.5 || b["presence_penalty"] != -0.5 || b["seed"] != 42.0 || b["stream"] != true ||
		!reflect.DeepEqual(b["stop"], []any{"\n", "END"}) || !reflect.DeepEqual(b["stream_options"], map[string]any{"include_usage": true}) {
		t.Errorf("request body %s", got.Body)
	}
	// go-openai drops a zero temperature (omitempty); it must still reach the
	// server as greedy decoding, not vanish into the server's default.
	if _, ok := b["temperature"]; !ok || temp <= 0 || temp > 1e-30 {
		t.Errorf("temperature 0 sent as %v (present %v)", b["temperature"], ok)
	}

	// Raw prompt: the legacy completions endpoint; alias resolved there too.
	if _, err := c.Complete(t.Context(), services.CompletionRequest{Model: "davinci", Prompt: "Once upon", Stop: []string{"\n"}}, nil); err != nil {
		t.Fatal(err)
	}
	legacy := srv.RequestsTo(devllm.Completions)
	if len(legacy) != 1 || legacy[0].JSON["prompt"] != "Once upon" || legacy[0].JSON["model"] != "llama-3.1-70b" {
		t.Errorf("legacy completion requests %v", legacy)
	}

	// Embeddings ask for floats explicitly.
	if _, err := c.Embed(t.Context(), []string{"x"}); err != nil {
		t.Fatal(err)
	}
	emb := srv.RequestsTo(devllm.Embeddings)[0].JSON
	if emb["encoding_format"] != "float" || emb["model"] != "bge-m3" || !reflect.DeepEqual(emb["input"], []any{"x"}) {
		t.Errorf("embeddings request %v", emb)
	}
}

func TestEmbeddingsMatchTheServersVectors(t *testing.T) {
	t.Parallel()
	c, _ := newClient(t, devllm.Options{Dimensions: 32})
	vecs, err := c.Embed(t.Context(), []string{"alpha", "beta"})
	if err != nil {
		t.Fatal(err)
	}
	for i, text := range []string{"alpha", "beta"} {
		if !reflect.DeepEqual(vecs[i], devllm.Vector(text, 32)) {
			t.Fatalf("vector %d differs from the server's", i)
		}
	}
}

func TestStreamedToolCallsAreAssembledByIndex(t *testing.T) {
	t.Parallel()
	c, srv := newClient(t, devllm.Options{})
	reply := &devllm.Reply{
		Chunks: []string{"Let me", " check."},
		ToolCalls: []devllm.ToolCall{
			{ID: "call_a", Name: "get_weather", Arguments: `{"city": "Paris", "unit": "celsius"}`, ArgPieces: 5},
			{ID: "call_b", Name: "get_time", Arguments: `{"tz": "Europe/Paris"}`, ArgPieces: 3},
		},
		Usage: &devllm.Usage{PromptTokens: 11, CompletionTokens: 22, TotalTokens: 33},
	}
	req := hello
	req.Tools = []services.Tool{{Name: "get_weather"}, {Name: "get_time"}}
	for _, stream := range []bool{true, false} {
		srv.Queue(devllm.Chat, devllm.Step{Reply: reply})
		var pieces []string
		var onToken func(string)
		if stream {
			onToken = func(s string) { pieces = append(pieces, s) }
		}
		resp, err := c.Complete(t.Context(), req, onToken)
		if err != nil {
			t.Fatal(err)
		}
		want := services.CompletionResponse{
			Text: "Let me check.",
			ToolCalls: []services.ToolCall{
				{ID: "call_a", Name: "get_weather", Arguments: `{"city": "Paris", "unit": "celsius"}`},
				{ID: "call_b", Name: "get_time", Arguments: `{"tz": "Europe/Paris"}`},
			},
			FinishReason: "tool_calls",
			Usage:        services.Usage{Model: "llama-3.1-8b", PromptTokens: 11, CompletionTokens: 22, TotalTokens: 33},
		}
		if !reflect.DeepEqual(resp, want) {
			t.Fatalf("stream %v:\n got %+v\nwant %+v", stream, resp, want)
		}
		if stream && !reflect.DeepEqual(pieces, []string{"Let me", " check."}) {
			t.Fatalf("pieces %q", pieces)
		}
	}
	// Each tool call really was split across chunks on the wire.
	if n := len(srv.RequestsTo(devllm.Chat)); n != 2 {
		t.Fatalf("%d requests", n)
	}
}

func TestStreamWithoutUsageChunk(t *testing.T) {
	t.Parallel()
	c, srv := newClient(t, devllm.Options{}, func(o *openai.Options) { o.NoStreamUsage = true })
	resp, err := c.Complete(t.Context(), hello, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	if _, asked := srv.RequestsTo(devllm.Chat)[0].JSON["stream_options"]; asked || resp.Usage.TotalTokens != 0 {
		t.Fatalf("stream_options sent %v, usage %+v", asked, resp.Usage)
	}
}

func TestMissingModelOrEndpointSaysWhatToSet(t *testing.T) {
	t.Parallel()
	if _, err := openai.New(openai.Options{}); !errors.Is(err, services.ErrNoCompletionEndpoint) ||
		!strings.Contains(err.Error(), "set GRIMOIRE_OPENAI_BASE_URL") {
		t.Fatalf("New without base URL: %v", err)
	}
	if _, err := openai.New(openai.Options{BaseURL: "gpu1:8000"}); err == nil {
		t.Fatal("New accepted a base URL without scheme")
	}
	c, _ := newClient(t, devllm.Options{}, func(o *openai.Options) { o.Model, o.EmbeddingModel = "", "" })
	if _, err := c.Complete(t.Context(), hello, nil); !errors.Is(err, openai.ErrNoModel) || !strings.Contains(err.Error(), "GRIMOIRE_OPENAI_MODEL") {
		t.Fatalf("Complete without model: %v", err)
	}
	if _, err := c.Embed(t.Context(), []string{"x"}); !errors.Is(err, openai.ErrNoModel) || !strings.Contains(err.Error(), "GRIMOIRE_OPENAI_EMBEDDING_MODEL") {
		t.Fatalf("Embed without model: %v", err)
	}
}

func TestFromEnv(t *testing.T) {
	srv := devllm.New(t, devllm.Options{APIKey: "sk-env"})
	t.Setenv(openai.EnvConfig, "")
	t.Setenv(openai.EnvBaseURL, "")
	if _, err := openai.FromEnv(); !errors.Is(err, services.ErrNoCompletionEndpoint) {
		t.Fatalf("FromEnv with nothing set: %v", err)
	}
	t.Setenv(openai.EnvBaseURL, srv.URL)
	t.Setenv(openai.EnvAPIKey, "sk-env")
	t.Setenv(openai.EnvModel, "llama-3.1-8b")
	t.Setenv(openai.EnvEmbeddingModel, "bge-m3")
	t.Setenv(openai.EnvModelAliases, "fast=llama-3.1-8b, big=llama-3.1-70b")
	r, err := openai.FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Complete(t.Context(), services.CompletionRequest{Model: "big", Messages: hello.Messages}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Embed(t.Context(), []string{"x"}); err != nil {
		t.Fatal(err)
	}
	reqs := srv.Requests()
	if reqs[0].JSON["model"] != "llama-3.1-70b" || reqs[1].JSON["model"] != "bge-m3" {
		t.Fatalf("models sent: %v, %v", reqs[0].JSON["model"], reqs[1].JSON["model"])
	}
	t.Setenv(openai.EnvModelAliases, "fast")
	if _, err := openai.FromEnv(); err == nil || !strings.Contains(err.Error(), openai.EnvModelAliases) {
		t.Fatalf("bad aliases: %v", err)
	}
}

func TestParseAliases(t *testing.T) {
	tests := []struct {
		in      string
		want    map[string]string
		wantErr bool
	}{
		{"", map[string]string{}, false},
		{"fast=llama-3.1-8b,big=llama-3.1-70b", map[string]string{"fast": "llama-3.1-8b", "big": "llama-3.1-70b"}, false},
		{" fast = a , ,big=b,", map[string]string{"fast": "a", "big": "b"}, false},
		{"fast=a,fast=a", map[string]string{"fast": "a"}, false},
		{"fast=a,fast=b", nil, true},
		{"fast", nil, true},
		{"=a", nil, true},
		{"a=", nil, true},
	}
	for _, tt := range tests {
		got, err := openai.ParseAliases(tt.in)
		if (err != nil) != tt.wantErr || (!tt.wantErr && !reflect.DeepEqual(got, tt.want)) {
			t.Errorf("ParseAliases(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func FuzzParseAliases(f *testing.F) {
	f.Add("fast=llama-3.1-8b,big=llama-3.1-70b")
	f.Add(" a = b ,, c=d=e")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := openai.ParseAliases(s)
		if err != nil {
			return
		}
		again, err := openai.ParseAliases(openai.FormatAliases(m))
		if err != nil || !reflect.DeepEqual(m, again) {
			t.Fatalf("round trip of %q: %v, %v", s, again, err)
		}
	})
}

func TestConfigFileRoutesByModel(t *testing.T) {
	big := devllm.New(t, devllm.Options{APIKey: "sk-big"})
	small := devllm.New(t, devllm.Options{})
	tei := devllm.New(t, devllm.Options{})
	cfg := map[string]any{
		"chat": "big", "embeddings": "tei",
		"endpoints": map[string]any{
			"big":   map[string]any{"baseURL": big.URL, "apiKeyEnv": "BIG_KEY", "model": "llama-3.1-70b", "requestTimeout": "30s", "retry": map[string]any{"maxAttempts": 2, "initialBackoff": "1ms"}},
			"small": map[string]any{"baseURL": small.URL, "models": []string{"llama-3.1-8b"}, "aliases": map[string]string{"fast": "llama-3.1-8b"}},
			"tei":   map[string]any{"baseURL": tei.URL, "embeddingModel": "bge-m3", "streamIdleTimeout": "5s"},
		},
	}
	data, _ := json.Marshal(cfg)
	path := filepath.Join(t.TempDir(), "endpoints.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BIG_KEY", "sk-big")
	r, err := openai.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	for _, model := range []string{"", "llama-3.1-70b", "fast", "llama-3.1-8b"} {
		if _, err := r.Complete(t.Context(), services.CompletionRequest{Model: model, Messages: hello.Messages}, nil); err != nil {
			t.Fatalf("model %q: %v", model, err)
		}
	}
	if _, err := r.Embed(t.Context(), []string{"x"}); err != nil {
		t.Fatal(err)
	}
	if n, m, e := len(big.Requests()), len(small.Requests()), len(tei.Requests()); n != 2 || m != 2 || e != 1 {
		t.Fatalf("requests: big %d, small %d, tei %d; want 2, 2, 1", n, m, e)
	}
	if got := small.Requests()[0].JSON["model"]; got != "llama-3.1-8b" {
		t.Fatalf("alias sent as %v", got)
	}
}

// A model listed by several endpoints is served by all of them, and chat
// may name a list; embeddings default to the chat pool.
func TestModelListedTwiceFormsAPool(t *testing.T) {
	cfg, err := openai.ParseConfig([]byte(`{"chat":["c","a"],"endpoints":{
	  "a":{"baseURL":"http://a/v1","models":["llama-3.1-8b"],"aliases":{"fast":"llama-3.1-8b"}},
	  "b":{"baseURL":"http://b/v1","models":["llama-3.1-8b"]},
	  "c":{"baseURL":"http://c/v1","aliases":{"fast":"qwen-7b"}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	r, err := openai.NewRouter(cfg, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for model, want := range map[string]string{"llama-3.1-8b": "a b", "fast": "a c", "": "c a", "other": "c a"} {
		if got := strings.Join(r.Pool(model), " "); got != want {
			t.Errorf("pool for %q: %s, want %s", model, got, want)
		}
	}
	if d := r.Describe(); !strings.Contains(d, "chat: c, a; embeddings: c, a; pool fast: a, c; pool llama-3.1-8b: a, b; passive health") {
		t.Errorf("Describe() = %q", d)
	}
}

func TestConfigErrorsNameTheProblem(t *testing.T) {
	tests := []struct {
		name, json, want string
	}{
		{"unknown field", `{"endpoints":{"a":{"baseURL":"http://x/v1","modle":"m"}}}`, `unknown field "modle"`},
		{"bad duration", `{"endpoints":{"a":{"baseURL":"http://x/v1","requestTimeout":"soon"}}}`, `duration "soon"`},
		{"number duration", `{"endpoints":{"a":{"baseURL":"http://x/v1","requestTimeout":30}}}`, `want a string such as "30s"`},
		{"no endpoints", `{"endpoints":{}}`, "no endpoints"},
		{"no base URL", `{"endpoints":{"a":{"model":"m"}}}`, `endpoint "a": baseURL is required`},
		{"chat not named", `{"endpoints":{"a":{"baseURL":"http://x/v1"},"b":{"baseURL":"http://y/v1"}}}`, `name the chat endpoint`},
		{"unknown chat", `{"chat":"c","endpoints":{"a":{"baseURL":"http://x/v1"}}}`, `chat endpoint "c" is not among the endpoints (a)`},
		{"chat named twice", `{"chat":["a","a"],"endpoints":{"a":{"baseURL":"http://x/v1"}}}`, `chat: endpoint "a" is named twice`},
		{"chat not a name", `{"chat":3,"endpoints":{"a":{"baseURL":"http://x/v1"}}}`, `want an endpoint name or a list of names, got 3`},
		{"unknown pool member", `{"chat":["a","b"],"endpoints":{"a":{"baseURL":"http://x/v1"}}}`, `chat endpoint "b" is not among the endpoints (a)`},
		{"negative breaker failures", `{"breaker":{"failures":-1},"endpoints":{"a":{"baseURL":"http://x/v1"}}}`, `breaker: failures -1: want a positive count`},
		{"endpoint breaker", `{"endpoints":{"a":{"baseURL":"http://x/v1","breaker":{"failures":-2}}}}`, `endpoint "a": breaker: failures -2`},
		{"unknown breaker field", `{"breaker":{"failure":3},"endpoints":{"a":{"baseURL":"http://x/v1"}}}`, `unknown field "failure"`},
		{"bad health interval", `{"healthCheck":{"interval":"often"},"endpoints":{"a":{"baseURL":"http://x/v1"}}}`, `duration "often"`},
		{"empty key env", `{"endpoints":{"a":{"baseURL":"http://x/v1","apiKeyEnv":"NOPE_UNSET"}}}`, `NOPE_UNSET (apiKeyEnv) is empty`},
		{"trailing", `{"endpoints":{"a":{"baseURL":"http://x/v1"}}} {}`, "trailing data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := openai.ParseConfig([]byte(tt.json))
			if err == nil {
				var r *openai.Router
				if r, err = openai.NewRouter(cfg, func(string) string { return "" }); err == nil {
					_ = r.Close()
				}
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"chat":"a","endpoints":{"a":{"baseURL":"http://x/v1","requestTimeout":"1s","aliases":{"f":"m"}}}}`))
	f.Add([]byte(`{"endpoints":{"a":{"retry":{"maxAttempts":2,"maxBackoff":"3s"}}}}`))
	f.Add([]byte(`{"chat":["a","b"],"breaker":{"failures":2,"coolDown":"1s"},"healthCheck":{"interval":"1h"},"endpoints":{"a":{"baseURL":"http://x/v1","models":["m"]},"b":{"baseURL":"http://y/v1","models":["m"],"breaker":{"failures":1}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := openai.ParseConfig(data)
		if err != nil {
			return
		}
		// A config that parses either builds or fails with an error; it
		// never panics.
		if r, err := openai.NewRouter(cfg, func(string) string { return "k" }); err == nil {
			_ = r.Close()
		}
	})
}

func TestSteadySlowStreamIsNotAStall(t *testing.T) {
	// A slow but steady stream (a token every 25ms, 5 in all: longer than
	// the idle timeout) is not a stall.
	t.Parallel()
	c, _ := newClient(t, devllm.Options{TokenInterval: 25 * time.Millisecond}, func(o *openai.Options) { o.StreamIdleTimeout = 100 * time.Millisecond })
	if _, err := c.Complete(t.Context(), hello, func(string) {}); err != nil {
		t.Fatal(err)
	}
}
