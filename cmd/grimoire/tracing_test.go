package main

import (
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"

	"github.com/grimoire-run/grimoire/services/devllm"
)

// otlpReceiver is an OTLP/HTTP trace endpoint that keeps what it gets.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []span
}

type span struct {
	name, trace, id, parent string
	attrs                   map[string]string
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	var req collectortrace.ExportTraceServiceRequest
	if err != nil || r.URL.Path != "/v1/traces" || proto.Unmarshal(body, &req) != nil {
		http.Error(w, "bad export", http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				attrs := map[string]string{}
				for _, kv := range s.Attributes {
					attrs[kv.Key] = kv.Value.GetStringValue()
				}
				o.spans = append(o.spans, span{s.Name, hex.EncodeToString(s.TraceId), hex.EncodeToString(s.SpanId), hex.EncodeToString(s.ParentSpanId), attrs})
			}
		}
	}
	o.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	w.Write(out)
}

func (o *otlpReceiver) find(name string) []span {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []span
	for _, s := range o.spans {
		if s.name == name {
			out = append(out, s)
		}
	}
	return out
}

// A run started over REST with a traceparent is one trace exported over
// OTLP: the request's server span, the run's span under it, a span per
// node activation under the run's, and the model call under its node, with
// the traceparent sent on to the inference server.
func TestRunIsOneTraceFromRequestToInferenceServer(t *testing.T) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	llm := devllm.New(t, devllm.Options{})
	target, _ := url.Parse(llm.URL)
	target.Path = ""
	var parentsMu sync.Mutex
	var sentOn []string
	proxy := httputil.NewSingleHostReverseProxy(target)
	inference := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/chat/completions") {
			parentsMu.Lock()
			sentOn = append(sentOn, r.Header.Get("traceparent"))
			parentsMu.Unlock()
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(inference.Close)
	rcv := &otlpReceiver{}
	collector := httptest.NewServer(rcv)
	t.Cleanup(collector.Close)

	data := filepath.Join(t.TempDir(), "data")
	base, stop := startServe(t, repo, data, []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + collector.URL, "OTEL_BSP_SCHEDULE_DELAY=50",
		"GRIMOIRE_OPENAI_BASE_URL=" + inference.URL + "/v1", "GRIMOIRE_OPENAI_MODEL=test-model",
	})
	cli := func(args ...string) string {
		t.Helper()
		out, err := cliProcess(repo, data, args...).Output()
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	tok := cli("token", "create", "--user", "alice")
	cli("spells", "put", "examples/chat.json", "--token", tok)

	const traceID, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	req, _ := http.NewRequest("POST", base+"/v1/spells/chat/runs?mode=sync", strings.NewReader(`{"inputs":{"question":"What is a trace?"}}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("traceparent", "00-"+traceID+"-"+callerSpan+"-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"completed"`) {
		t.Fatalf("run: %d %s", resp.StatusCode, body)
	}
	stop() // flushes the exporter

	deadline := time.Now().Add(10 * time.Second)
	for len(rcv.find("run chat")) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	runs := rcv.find("run chat")
	if len(runs) != 1 {
		t.Fatalf("run spans %+v, want one", runs)
	}
	run := runs[0]
	if run.trace != traceID || run.attrs["grimoire.spell.id"] != "chat" || run.attrs["grimoire.run.status"] != "completed" {
		t.Errorf("run span %+v: want trace %s, spell chat, completed", run, traceID)
	}
	var server *span
	for _, s := range rcv.find("POST /v1/spells/chat/runs") {
		if s.id == run.parent {
			server = &s
		}
	}
	if server == nil || server.parent != callerSpan {
		t.Errorf("the run's parent %s is not the request's server span under the caller's %s: %+v", run.parent, callerSpan, server)
	}
	nodes := rcv.find("node Chat Completion")
	if len(nodes) != 1 || nodes[0].parent != run.id || nodes[0].trace != traceID || nodes[0].attrs["grimoire.node.id"] != "llm" {
		t.Fatalf("Chat Completion spans %+v, want one under the run span %s", nodes, run.id)
	}
	parentsMu.Lock()
	defer parentsMu.Unlock()
	if len(sentOn) != 1 || !strings.HasPrefix(sentOn[0], "00-"+traceID+"-") {
		t.Fatalf("the inference server got traceparent %q, want one in trace %s", sentOn, traceID)
	}
	callID := strings.Split(sentOn[0], "-")[2]
	var call *span
	rcv.mu.Lock()
	for _, s := range rcv.spans {
		if s.id == callID {
			call = &s
		}
	}
	rcv.mu.Unlock()
	if call == nil || call.parent != nodes[0].id {
		t.Errorf("the model call's span %+v is not under the node's %s", call, nodes[0].id)
	}
}
