package server_test

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/grimoire-run/grimoire/services"
	"github.com/grimoire-run/grimoire/services/devllm"
	"github.com/grimoire-run/grimoire/services/openai"
)

// /metrics shows each inference endpoint of the pool: a dead one's failed
// attempts, its failovers and its open breaker, beside the healthy one's
// successes.
func TestInferencePoolMetrics(t *testing.T) {
	healthy := devllm.New(t, devllm.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + ln.Addr().String() + "/v1"
	ln.Close() // nothing listens there: connection refused
	pool, err := openai.NewRouter(openai.Config{
		Chat:    openai.EndpointNames{"gpu1", "gpu2"},
		Breaker: &openai.BreakerConfig{Failures: 1},
		Endpoints: map[string]openai.EndpointConfig{
			"gpu1": {BaseURL: deadURL, Model: "m", MaxConcurrent: 4},
			"gpu2": {BaseURL: healthy.URL, Model: "m", MaxConcurrent: 4},
		},
	}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pool.Close() })
	pool.SetLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	e := newEnv(t, envOptions{Inference: pool})
	for range 4 {
		if _, err := pool.Complete(t.Context(), services.CompletionRequest{Messages: []services.Message{{Role: "user", Content: "hi"}}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	resp, body := e.do("GET", "/metrics", "", "")
	wantStatus(t, "metrics", resp, body, http.StatusOK, "")
	for _, m := range []string{
		`grimoire_inference_requests_total{endpoint="gpu2",outcome="ok"} 4`,
		`grimoire_inference_requests_total{endpoint="gpu1",outcome="failed"} 1`,
		`grimoire_inference_failovers_total{endpoint="gpu1"} 1`,
		`grimoire_inference_breaker_state{endpoint="gpu1"} 2`,
		`grimoire_inference_breaker_state{endpoint="gpu2"} 0`,
		`grimoire_inference_breaker_opened_total{endpoint="gpu1"} 1`,
		`grimoire_inference_in_flight{endpoint="gpu2"} 0`,
		`grimoire_inference_max_concurrent{endpoint="gpu1"} 4`,
	} {
		if !strings.Contains(string(body), m) {
			t.Errorf("metrics lack %s", m)
		}
	}
}
