// Package inferencetest is a test double for a GPU inference server: an
// in-process HTTP server (net/http/httptest) that speaks the
// OpenAI-compatible wire protocol that vLLM, llama.cpp server, Ollama and
// OpenAI itself speak, so that the completion and embedding clients can be
// tested here, where no GPU server can run.
//
// It answers /v1/chat/completions (JSON, or server-sent events: `data: {…}`
// lines ending with `data: [DONE]`, tool-call deltas split across chunks, an
// optional usage chunk), /v1/completions and /v1/embeddings (deterministic
// vectors, float or base64 encoding). Faults are scripted per endpoint with
// [Server.Queue]: both error body shapes (OpenAI's `{"error":{…}}` and a raw
// body as vLLM or a proxy sends it), 429 with Retry-After, a stream that
// stalls, a stream cut mid-way, a connection reset, malformed JSON and an
// error event inside a stream. Latency is a fixed cost plus a per-item cost
// with a bounded number of slots, the shape of a GPU embedding server.
//
// It is for tests and benchmarks only. It imports nothing of Grimoire's and
// must never import an OpenAI client library: it writes the wire format by
// hand so that it checks the client, not itself.
package inferencetest
