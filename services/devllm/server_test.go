package devllm_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/services/devllm"
)

func post(t *testing.T, url, body string) *http.Response {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// TestStreamSpeaksTheWireFormat reads a stream byte by byte as a client
// without any OpenAI library would.
func TestStreamSpeaksTheWireFormat(t *testing.T) {
	srv := devllm.New(t, devllm.Options{})
	srv.Queue(devllm.Chat, devllm.Step{Reply: &devllm.Reply{
		Chunks:    []string{"Hi"},
		ToolCalls: []devllm.ToolCall{{ID: "call_1", Name: "f", Arguments: `{"a":1}`, ArgPieces: 3}},
	}})
	resp := post(t, srv.URL+"/chat/completions", `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"x"}]}`)
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	var events []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		if !strings.HasPrefix(line, "data: ") {
			t.Fatalf("line %q is not a data line", line)
		}
		events = append(events, strings.TrimPrefix(line, "data: "))
	}
	if events[len(events)-1] != "[DONE]" {
		t.Fatalf("last event %q, want [DONE]", events[len(events)-1])
	}
	var args strings.Builder
	var argPieces int
	var sawUsage bool
	for _, ev := range events[:len(events)-1] {
		var chunk struct {
			Choices []struct {
				Delta struct {
					ToolCalls []struct {
						Index    int
						ID       string
						Function struct{ Name, Arguments string }
					} `json:"tool_calls"`
				}
			}
			Usage *struct {
				TotalTokens int `json:"total_tokens"`
			}
		}
		if err := json.Unmarshal([]byte(ev), &chunk); err != nil {
			t.Fatalf("event %q: %v", ev, err)
		}
		if chunk.Usage != nil {
			sawUsage = len(chunk.Choices) == 0
		}
		for _, ch := range chunk.Choices {
			for _, tc := range ch.Delta.ToolCalls {
				if tc.Function.Arguments != "" {
					argPieces++
				}
				args.WriteString(tc.Function.Arguments)
			}
		}
	}
	if args.String() != `{"a":1}` || argPieces != 3 || !sawUsage {
		t.Fatalf("arguments %q in %d pieces, usage chunk %v", args.String(), argPieces, sawUsage)
	}
}

func TestFaultsOnTheWire(t *testing.T) {
	srv := devllm.New(t, devllm.Options{})
	srv.Queue(devllm.Chat,
		devllm.Step{Fault: devllm.RateLimited, RetryAfter: "7"},
		devllm.Step{Fault: devllm.RawError, Status: 503, Body: "upstream down"},
	)
	body := `{"model":"m","messages":[{"role":"user","content":"x"}]}`
	resp := post(t, srv.URL+"/chat/completions", body)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "7" {
		t.Fatalf("rate limit: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	resp = post(t, srv.URL+"/chat/completions", body)
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != 503 || string(b) != "upstream down" {
		t.Fatalf("raw error: %d %q", resp.StatusCode, b)
	}
}

func TestEmbeddingLatencyIsFixedPlusPerItem(t *testing.T) {
	srv := devllm.New(t, devllm.Options{EmbedLatency: devllm.Latency{Fixed: 20 * time.Millisecond, PerItem: 5 * time.Millisecond}})
	start := time.Now()
	resp := post(t, srv.URL+"/embeddings", `{"model":"e","input":["a","b","c","d"],"encoding_format":"float"}`)
	var out struct {
		Data []struct {
			Index     int
			Embedding []float32
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Fatalf("4 texts took %v, want at least 20ms + 4×5ms", d)
	}
	if len(out.Data) != 4 || len(out.Data[2].Embedding) != 16 || out.Data[2].Index != 2 {
		t.Fatalf("response %+v", out)
	}
}
