// Package devllm is a development stand-in for a GPU inference server: an
// HTTP server that speaks the OpenAI-compatible wire protocol that vLLM,
// llama.cpp server, Ollama and OpenAI itself speak. `grimoire dev-llm` and
// `grimoire serve --dev-llm` run it so that a newcomer can try completion
// and embedding nodes without a GPU, and the tests use it (with [New]) to
// check the completion and embedding clients, since no GPU server can run
// where they run. Its answers are not a model's: by default it echoes the
// last user message (chat) or the prompt, word by word.
//
// It answers /v1/chat/completions (JSON, or server-sent events: `data: {…}`
// lines ending with `data: [DONE]`, tool-call deltas split across chunks, an
// optional usage chunk), /v1/completions, /v1/embeddings (deterministic
// vectors, float or base64 encoding) and GET /v1/models. Faults are scripted
// per endpoint with [Server.Queue], or on a running server with
// POST /dev/faults ({"fault":"stall","count":2}): both error body shapes
// (OpenAI's `{"error":{…}}` and a raw body as vLLM or a proxy sends it), 429
// with Retry-After, a stream that stalls, a stream cut mid-way, a connection
// reset, malformed JSON and an error event inside a stream. Latency is a
// fixed cost plus a per-item cost with a bounded number of slots, the shape
// of a GPU embedding server; TokenInterval sets the streaming rate.
//
// It imports nothing of Grimoire's and must never import an OpenAI client
// library: it writes the wire format by hand so that it checks the client,
// not itself.
package devllm
