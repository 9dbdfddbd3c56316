package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync/atomic"

	goopenai "github.com/sashabaranov/go-openai"

	"github.com/grimoire-run/grimoire/services"
	"github.com/grimoire-run/grimoire/services/tracing"
)

// Client is one OpenAI-compatible endpoint. It is safe for concurrent use.
type Client struct {
	opts Options
	api  *goopenai.Client
	http *http.Client
	sem  chan struct{}

	// health is the endpoint's circuit breaker when a Router built it
	// (nil, admitting everything, for a Client used on its own).
	health     *breaker
	inFlight   atomic.Int64
	counts     [len(outcomeNames)]atomic.Uint64 // attempts by outcome
	checks     [len(outcomeNames)]atomic.Uint64 // health checks by outcome
	failedOver atomic.Uint64
}

var (
	_ services.Completion = (*Client)(nil)
	_ services.Embedder   = (*Client)(nil)
)

// New returns a client for one endpoint. An empty BaseURL is an error
// wrapping services.ErrNoCompletionEndpoint.
func New(opts Options) (*Client, error) {
	opts = opts.withDefaults()
	if opts.BaseURL == "" {
		return nil, fmt.Errorf("openai endpoint %q: %w", opts.Name, services.ErrNoCompletionEndpoint)
	}
	u, err := url.Parse(opts.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("openai endpoint %q: base URL %q: want http(s)://host[:port]/v1", opts.Name, opts.BaseURL)
	}
	opts.BaseURL = strings.TrimRight(opts.BaseURL, "/")
	httpClient := opts.HTTPClient
	if httpClient == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		// Keep a warm connection per concurrent call instead of the default
		// two, so bursts do not pay a TCP handshake each.
		tr.MaxIdleConnsPerHost = max(opts.MaxConcurrent, 64)
		httpClient = &http.Client{Transport: tracing.Transport(tr)}
	}
	cfg := goopenai.DefaultConfig(opts.APIKey)
	cfg.BaseURL = opts.BaseURL
	cfg.HTTPClient = &watchingDoer{client: httpClient, idle: opts.StreamIdleTimeout}
	c := &Client{opts: opts, api: goopenai.NewClientWithConfig(cfg), http: httpClient}
	if opts.MaxConcurrent > 0 {
		c.sem = make(chan struct{}, opts.MaxConcurrent)
	}
	return c, nil
}

// Name is the endpoint's name.
func (c *Client) Name() string { return c.opts.Name }

// Model resolves a model name or alias as a request would ("" is the
// endpoint's default chat model).
func (c *Client) Model(name string) string { return c.opts.resolve(name, c.opts.Model) }

// Complete runs a chat completion, or a text completion of req.Prompt when
// req.Messages is empty. With onToken it streams: each piece of text goes to
// onToken, in order, on the calling goroutine, before Complete returns.
func (c *Client) Complete(ctx context.Context, req services.CompletionRequest, onToken func(string)) (services.CompletionResponse, error) {
	return complete(ctx, c, req, onToken)
}

// noModelHint completes ErrNoModel for completions.
const noModelHint = ": name one in the node or set " + EnvModel

// complete runs a completion on the endpoints rt picks, each resolving
// req.Model with its own aliases and default.
func complete(ctx context.Context, rt route, req services.CompletionRequest, onToken func(string)) (services.CompletionResponse, error) {
	modelOf := func(c *Client) string { return c.Model(req.Model) }
	if len(req.Messages) == 0 {
		return completeText(ctx, rt, modelOf, req, onToken)
	}
	var out services.CompletionResponse
	if onToken == nil {
		err := call(ctx, rt, callSpec{op: "chat completion", model: modelOf, hint: noModelHint, try: func(ctx context.Context, c *Client, model string) error {
			resp, err := c.api.CreateChatCompletion(ctx, chatRequest(model, req))
			if err != nil {
				return err
			}
			if len(resp.Choices) == 0 {
				return fmt.Errorf("%w: no choices", ErrMalformedResponse)
			}
			ch := resp.Choices[0]
			out = services.CompletionResponse{
				Text:         ch.Message.Content,
				FinishReason: string(ch.FinishReason),
				Usage:        usage(cmp(resp.Model, model), &resp.Usage),
			}
			for _, tc := range ch.Message.ToolCalls {
				out.ToolCalls = append(out.ToolCalls, services.ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: tc.Function.Arguments})
			}
			return nil
		}})
		return out, err
	}

	delivered := false
	emit := func(s string) {
		delivered = true
		onToken(s)
	}
	err := call(ctx, rt, callSpec{op: "chat completion", model: modelOf, hint: noModelHint, delivered: func() bool { return delivered }, try: func(ctx context.Context, c *Client, model string) error {
		creq := chatRequest(model, req)
		if !c.opts.NoStreamUsage {
			creq.StreamOptions = &goopenai.StreamOptions{IncludeUsage: true}
		}
		stream, err := c.api.CreateChatCompletionStream(ctx, creq)
		if err != nil {
			return err
		}
		defer stream.Close()
		acc := chatAccumulator{model: model}
		for {
			chunk, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			acc.add(chunk, emit)
		}
		if !attemptFrom(ctx).sawDone.Load() && acc.finish == "" {
			return ErrStreamTruncated
		}
		out = acc.response()
		return nil
	}})
	return out, err
}

func completeText(ctx context.Context, rt route, modelOf func(*Client) string, req services.CompletionRequest, onToken func(string)) (services.CompletionResponse, error) {
	textRequest := func(model string) goopenai.CompletionRequest {
		return goopenai.CompletionRequest{
			Model:            model,
			Prompt:           req.Prompt,
			MaxTokens:        req.MaxTokens,
			Temperature:      temperature(req.Temperature),
			TopP:             deref(req.TopP),
			FrequencyPenalty: deref(req.FrequencyPenalty),
			PresencePenalty:  deref(req.PresencePenalty),
			Stop:             req.Stop,
			Seed:             req.Seed,
		}
	}
	var out services.CompletionResponse
	if onToken == nil {
		err := call(ctx, rt, callSpec{op: "text completion", model: modelOf, hint: noModelHint, try: func(ctx context.Context, c *Client, model string) error {
			resp, err := c.api.CreateCompletion(ctx, textRequest(model))
			if err != nil {
				return err
			}
			if len(resp.Choices) == 0 {
				return fmt.Errorf("%w: no choices", ErrMalformedResponse)
			}
			out = services.CompletionResponse{
				Text:         resp.Choices[0].Text,
				FinishReason: resp.Choices[0].FinishReason,
				Usage:        usage(cmp(resp.Model, model), resp.Usage),
			}
			return nil
		}})
		return out, err
	}

	delivered := false
	err := call(ctx, rt, callSpec{op: "text completion", model: modelOf, hint: noModelHint, delivered: func() bool { return delivered }, try: func(ctx context.Context, c *Client, model string) error {
		creq := textRequest(model)
		if !c.opts.NoStreamUsage {
			creq.StreamOptions = &goopenai.StreamOptions{IncludeUsage: true}
		}
		stream, err := c.api.CreateCompletionStream(ctx, creq)
		if err != nil {
			return err
		}
		defer stream.Close()
		var text strings.Builder
		resp := services.CompletionResponse{Usage: services.Usage{Model: model}}
		for {
			chunk, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			if chunk.Model != "" {
				resp.Usage.Model = chunk.Model
			}
			if chunk.Usage != nil {
				resp.Usage = usage(resp.Usage.Model, chunk.Usage)
			}
			for _, ch := range chunk.Choices {
				if ch.Index != 0 {
					continue
				}
				if ch.Text != "" {
					text.WriteString(ch.Text)
					delivered = true
					onToken(ch.Text)
				}
				if ch.FinishReason != "" {
					resp.FinishReason = ch.FinishReason
				}
			}
		}
		if !attemptFrom(ctx).sawDone.Load() && resp.FinishReason == "" {
			return ErrStreamTruncated
		}
		resp.Text = text.String()
		out = resp
		return nil
	}})
	return out, err
}

// Embed returns one float vector per text, in order. It asks for float
// encoding explicitly: several local servers ignore base64.
func (c *Client) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	return embed(ctx, c, texts)
}

func embed(ctx context.Context, rt route, texts []string) ([][]float32, error) {
	if len(texts) == 0 {
		return [][]float32{}, nil
	}
	modelOf := func(c *Client) string { return c.opts.resolve(c.opts.EmbeddingModel, "") }
	hint := " for embeddings: set " + EnvEmbeddingModel + " or the endpoint's embeddingModel"
	var out [][]float32
	err := call(ctx, rt, callSpec{op: "embeddings", model: modelOf, hint: hint, try: func(ctx context.Context, c *Client, model string) error {
		resp, err := c.api.CreateEmbeddings(ctx, goopenai.EmbeddingRequestStrings{
			Input:          texts,
			Model:          goopenai.EmbeddingModel(model),
			EncodingFormat: goopenai.EmbeddingEncodingFormatFloat,
		})
		if err != nil {
			return err
		}
		if len(resp.Data) != len(texts) {
			return fmt.Errorf("%w: %d vectors for %d texts", ErrMalformedResponse, len(resp.Data), len(texts))
		}
		vecs := make([][]float32, len(texts))
		for _, d := range resp.Data {
			if d.Index < 0 || d.Index >= len(texts) || vecs[d.Index] != nil {
				return fmt.Errorf("%w: vector index %d out of range or repeated", ErrMalformedResponse, d.Index)
			}
			if len(d.Embedding) == 0 || (vecs[0] != nil && len(d.Embedding) != len(vecs[0])) {
				return fmt.Errorf("%w: vector %d has %d dimensions", ErrMalformedResponse, d.Index, len(d.Embedding))
			}
			vecs[d.Index] = d.Embedding
		}
		out = vecs
		return nil
	}})
	return out, err
}

func chatRequest(model string, req services.CompletionRequest) goopenai.ChatCompletionRequest {
	creq := goopenai.ChatCompletionRequest{
		Model:            model,
		Temperature:      temperature(req.Temperature),
		TopP:             deref(req.TopP),
		FrequencyPenalty: deref(req.FrequencyPenalty),
		PresencePenalty:  deref(req.PresencePenalty),
		Stop:             req.Stop,
		Seed:             req.Seed,
	}
	// OpenAI's reasoning models refuse max_tokens; every other server
	// (vLLM, llama.cpp, Ollama) knows max_tokens best.
	if reasoningModel(model) {
		creq.MaxCompletionTokens = req.MaxTokens
	} else {
		creq.MaxTokens = req.MaxTokens
	}
	for _, m := range req.Messages {
		msg := goopenai.ChatCompletionMessage{Role: m.Role, Content: m.Content, Name: m.Name, ToolCallID: m.ToolCallID}
		for _, tc := range m.ToolCalls {
			msg.ToolCalls = append(msg.ToolCalls, goopenai.ToolCall{
				ID: tc.ID, Type: goopenai.ToolTypeFunction,
				Function: goopenai.FunctionCall{Name: tc.Name, Arguments: tc.Arguments},
			})
		}
		creq.Messages = append(creq.Messages, msg)
	}
	for _, t := range req.Tools {
		params := t.Parameters
		if len(params) == 0 {
			params = json.RawMessage(`{"type":"object","properties":{}}`)
		}
		creq.Tools = append(creq.Tools, goopenai.Tool{
			Type:     goopenai.ToolTypeFunction,
			Function: &goopenai.FunctionDefinition{Name: t.Name, Description: t.Description, Parameters: params},
		})
	}
	return creq
}

func reasoningModel(model string) bool {
	for _, p := range []string{"o1", "o3", "o4", "gpt-5"} {
		if strings.HasPrefix(model, p) {
			return true
		}
	}
	return false
}

// temperature works around go-openai's `omitempty` on a float: a requested
// 0 would vanish and the server would sample at its default (often 1), so 0
// is sent as the smallest positive float, which every server treats as
// greedy decoding.
func temperature(t *float32) float32 {
	if t == nil {
		return 0
	}
	if *t == 0 {
		return math.SmallestNonzeroFloat32
	}
	return *t
}

func deref(f *float32) float32 {
	if f == nil {
		return 0
	}
	return *f
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func usage(model string, u *goopenai.Usage) services.Usage {
	if u == nil {
		return services.Usage{Model: model}
	}
	return services.Usage{Model: model, PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, TotalTokens: u.TotalTokens}
}

// chatAccumulator assembles a streamed chat completion: text in order, tool
// calls keyed by index (id and name arrive in the first piece, arguments
// in any number of pieces), the finish reason and the usage chunk.
type chatAccumulator struct {
	model  string
	text   strings.Builder
	finish string
	usage  *goopenai.Usage
	tools  map[int]*services.ToolCall
	last   int // index of the latest tool call, for servers that omit indexes
}

func (a *chatAccumulator) add(chunk goopenai.ChatCompletionStreamResponse, emit func(string)) {
	if chunk.Model != "" {
		a.model = chunk.Model
	}
	if chunk.Usage != nil {
		a.usage = chunk.Usage
	}
	for _, ch := range chunk.Choices {
		if ch.Index != 0 {
			continue
		}
		if ch.Delta.Content != "" {
			a.text.WriteString(ch.Delta.Content)
			emit(ch.Delta.Content)
		}
		for _, tc := range ch.Delta.ToolCalls {
			if a.tools == nil {
				a.tools = map[int]*services.ToolCall{}
			}
			idx := a.last
			switch {
			case tc.Index != nil:
				idx = *tc.Index
			case tc.ID != "" && a.tools[a.last] != nil && a.tools[a.last].ID != tc.ID:
				idx = a.last + 1
			}
			a.last = idx
			call := a.tools[idx]
			if call == nil {
				call = &services.ToolCall{}
				a.tools[idx] = call
			}
			if tc.ID != "" {
				call.ID = tc.ID
			}
			if tc.Function.Name != "" {
				call.Name = tc.Function.Name
			}
			call.Arguments += tc.Function.Arguments
		}
		if ch.FinishReason != "" {
			a.finish = string(ch.FinishReason)
		}
	}
}

func (a *chatAccumulator) response() services.CompletionResponse {
	out := services.CompletionResponse{Text: a.text.String(), FinishReason: a.finish, Usage: usage(a.model, a.usage)}
	idx := make([]int, 0, len(a.tools))
	for i := range a.tools {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	for _, i := range idx {
		out.ToolCalls = append(out.ToolCalls, *a.tools[i])
	}
	return out
}
