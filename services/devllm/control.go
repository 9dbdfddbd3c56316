package devllm

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// faultNames are the names of the faults on the command line and in
// POST /dev/faults.
var faultNames = map[string]Fault{
	"error":        APIError,
	"raw-error":    RawError,
	"rate-limit":   RateLimited,
	"reset":        Reset,
	"malformed":    Malformed,
	"stall":        Stall,
	"cut":          Cut,
	"stream-error": StreamError,
}

// FaultNames lists the names ParseFault accepts, sorted.
func FaultNames() []string {
	names := make([]string, 0, len(faultNames))
	for n := range faultNames {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ParseFault reads a fault name: error, raw-error, rate-limit, reset,
// malformed, stall, cut or stream-error.
func ParseFault(name string) (Fault, error) {
	if f, ok := faultNames[strings.ToLower(strings.TrimSpace(name))]; ok {
		return f, nil
	}
	return NoFault, fmt.Errorf("unknown fault %q (one of %s)", name, strings.Join(FaultNames(), ", "))
}

// ParseEndpoint reads an endpoint name: chat, completions or embeddings.
func ParseEndpoint(name string) (Endpoint, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "chat", "":
		return Chat, nil
	case "completions":
		return Completions, nil
	case "embeddings":
		return Embeddings, nil
	}
	return "", fmt.Errorf("unknown endpoint %q (one of chat, completions, embeddings)", name)
}

// FaultRequest is the body of POST /dev/faults: the next Count requests
// (default 1) of Endpoint (default chat) misbehave as Fault says.
type FaultRequest struct {
	Endpoint string `json:"endpoint"`
	Fault    string `json:"fault"`
	Count    int    `json:"count"`
	// After is the number of stream chunks sent before a stream fault.
	After   int    `json:"after"`
	Status  int    `json:"status"`
	Message string `json:"message"`
}

// Steps turns the request into the steps to queue.
func (fr FaultRequest) Steps() (Endpoint, []Step, error) {
	ep, err := ParseEndpoint(fr.Endpoint)
	if err != nil {
		return "", nil, err
	}
	f, err := ParseFault(fr.Fault)
	if err != nil {
		return "", nil, err
	}
	n := fr.Count
	if n <= 0 {
		n = 1
	}
	if n > 10000 {
		return "", nil, fmt.Errorf("count %d is more than 10000", n)
	}
	steps := make([]Step, n)
	for i := range steps {
		steps[i] = Step{Fault: f, After: fr.After, Status: fr.Status, Message: fr.Message}
	}
	return ep, steps, nil
}

// serveQueueFaults scripts faults on a running server, so that a person
// can watch a spell retry against it.
func (s *Server) serveQueueFaults(w http.ResponseWriter, r *http.Request) {
	var fr FaultRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fr); err != nil {
		writeAPIError(w, http.StatusBadRequest, "invalid_request_error", "fault request: "+err.Error())
		return
	}
	ep, steps, err := fr.Steps()
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "invalid_request_error", err.Error())
		return
	}
	s.Queue(ep, steps...)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"endpoint": string(ep), "queued": len(steps)})
}

// serveModels answers GET /v1/models with the one model the server
// reports, as vLLM and llama.cpp do.
func (s *Server) serveModels(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"object": "list",
		"data": []any{map[string]any{
			"id": s.opts.Model, "object": "model", "created": 0, "owned_by": "grimoire-dev-llm",
		}},
	})
}
