// Package openai connects Grimoire to any OpenAI-compatible inference server
// (vLLM, llama.cpp server, Ollama, OpenAI): a [Client] per endpoint that
// implements services.Completion (chat completions, streamed or not, and the
// legacy text completions endpoint for a raw prompt) and services.Embedder
// (float-encoded embeddings), and a [Router] that dispatches to several named
// endpoints configured by environment variables ([FromEnv]) or a JSON file
// ([LoadConfig]).
//
// Every call runs under the endpoint's concurrency limit and a per-attempt
// timeout, and is retried with exponential backoff and jitter on 429, 5xx,
// connection resets and timeouts, honouring Retry-After — but never once a
// streamed token has reached the caller. A stream that sends nothing for
// StreamIdleTimeout fails with [ErrStreamStalled]. Failures are [*Error]
// values naming the endpoint, the HTTP status and the server's message,
// whichever of the two error body shapes the server used.
//
// A Router's endpoints form pools (several endpoints serving one model):
// each attempt goes to the least busy endpoint whose circuit breaker admits
// it, and a failed attempt fails over to another endpoint of the pool at
// once, within the same retry policy and under the same rule about streamed
// tokens. Health is passive (request outcomes) unless the endpoints file
// asks for periodic GET /models checks, which [Router.Close] stops.
// [Router.EndpointStats] reports each endpoint's load, outcomes and breaker
// for metrics (this package does not import Prometheus).
//
// This is the only package of Grimoire that imports
// github.com/sashabaranov/go-openai; nothing outside it may. It imports
// services and the standard library otherwise, and never graph, nodes,
// server or events.
package openai
