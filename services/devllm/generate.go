package devllm

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

var nextID atomic.Int64

// generation is a parsed chat or text completion request.
type generation struct {
	Model         string `json:"model"`
	Stream        bool   `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	MaxTokens           int             `json:"max_tokens"`
	MaxCompletionTokens int             `json:"max_completion_tokens"`
	Stop                json.RawMessage `json:"stop"`
	Prompt              json.RawMessage `json:"prompt"`
	Messages            []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	Tools []struct {
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	} `json:"tools"`
}

func (g generation) stops() []string {
	var one string
	if json.Unmarshal(g.Stop, &one) == nil && one != "" {
		return []string{one}
	}
	var many []string
	_ = json.Unmarshal(g.Stop, &many)
	return many
}

func text(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return strings.Join(list, "\n")
	}
	var parts []struct {
		Text string `json:"text"`
	}
	_ = json.Unmarshal(raw, &parts)
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Text)
	}
	return b.String()
}

// promptText is everything the model reads, for counting prompt tokens.
func (g generation) promptText() string {
	if len(g.Messages) == 0 {
		return text(g.Prompt)
	}
	var b strings.Builder
	for _, m := range g.Messages {
		b.WriteString(text(m.Content))
		b.WriteByte(' ')
	}
	return b.String()
}

// defaultReply echoes the last user message (chat) or the prompt. A user
// message of lines "call NAME ARGS" asks for those tool calls when the
// request offers tools.
func (g generation) defaultReply() Reply {
	if len(g.Messages) == 0 {
		return Reply{Chunks: words(text(g.Prompt))}
	}
	var last string
	for _, m := range g.Messages {
		if m.Role == "user" || m.Role == "tool" {
			last = text(m.Content)
		}
	}
	if len(g.Tools) > 0 && strings.HasPrefix(last, "call ") {
		var calls []ToolCall
		for i, line := range strings.Split(last, "\n") {
			name, args, _ := strings.Cut(strings.TrimPrefix(line, "call "), " ")
			calls = append(calls, ToolCall{ID: fmt.Sprintf("call_%d_%d", nextID.Add(1), i), Name: name, Arguments: args})
		}
		return Reply{ToolCalls: calls}
	}
	return Reply{Chunks: words(last)}
}

// finish applies stop sequences and the token limit (one chunk, one token)
// and fills in the defaults.
func (g generation) finish(r Reply) Reply {
	out := r
	out.Chunks = nil
	full := strings.Join(r.Chunks, "")
	cut := -1
	for _, stop := range g.stops() {
		if i := strings.Index(full, stop); i >= 0 && (cut < 0 || i < cut) {
			cut = i
		}
	}
	limit := max(g.MaxTokens, g.MaxCompletionTokens)
	stopped := false
	pos := 0
	for _, c := range r.Chunks {
		if limit > 0 && len(out.Chunks) >= limit {
			out.FinishReason = cmpOr(r.FinishReason, "length")
			stopped = true
			break
		}
		if cut >= 0 && pos+len(c) > cut {
			if cut > pos {
				out.Chunks = append(out.Chunks, c[:cut-pos])
			}
			out.FinishReason = cmpOr(r.FinishReason, "stop")
			stopped = true
			break
		}
		out.Chunks = append(out.Chunks, c)
		pos += len(c)
	}
	if stopped {
		out.ToolCalls = nil
	}
	if out.FinishReason == "" {
		out.FinishReason = "stop"
		if len(out.ToolCalls) > 0 {
			out.FinishReason = "tool_calls"
		}
	}
	if out.Usage == nil {
		prompt := len(strings.Fields(g.promptText()))
		completion := len(out.Chunks)
		for _, tc := range out.ToolCalls {
			completion += len(strings.Fields(tc.Arguments)) + 1
		}
		out.Usage = &Usage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion}
	}
	return out
}

func (s *Server) reply(req Request, g generation, step Step) Reply {
	switch {
	case step.Reply != nil:
		return g.finish(*step.Reply)
	case s.opts.Reply != nil:
		return g.finish(s.opts.Reply(req))
	default:
		return g.finish(g.defaultReply())
	}
}

func (s *Server) serveChat(w http.ResponseWriter, r *http.Request, req Request, step Step, finish func()) {
	s.serveGeneration(w, r, req, step, finish, true)
}

func (s *Server) serveCompletion(w http.ResponseWriter, r *http.Request, req Request, step Step, finish func()) {
	s.serveGeneration(w, r, req, step, finish, false)
}

func (s *Server) serveGeneration(w http.ResponseWriter, r *http.Request, req Request, step Step, finish func(), chat bool) {
	var g generation
	if err := json.Unmarshal(req.Body, &g); err != nil {
		writeAPIError(w, http.StatusBadRequest, "invalid_request_error", err.Error())
		return
	}
	if chat && len(g.Messages) == 0 {
		writeAPIError(w, http.StatusBadRequest, "invalid_request_error", "messages: field required")
		return
	}
	model := cmpOr(g.Model, s.opts.Model)
	reply := s.reply(req, g, step)
	id := fmt.Sprintf("cmpl-%d", nextID.Add(1))
	created := time.Now().Unix()

	if !g.Stream {
		if step.Fault == Malformed {
			w.Header().Set("Content-Type", "application/json")
			_, _ = fmt.Fprintf(w, `{"id":%q,"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"half an ans`, id)
			return
		}
		full := strings.Join(reply.Chunks, "")
		var choice map[string]any
		if chat {
			msg := map[string]any{"role": "assistant", "content": full}
			if len(reply.ToolCalls) > 0 {
				var calls []map[string]any
				for _, tc := range reply.ToolCalls {
					calls = append(calls, map[string]any{"id": tc.ID, "type": "function",
						"function": map[string]any{"name": tc.Name, "arguments": tc.Arguments}})
				}
				msg["tool_calls"] = calls
				if full == "" {
					msg["content"] = nil
				}
			}
			choice = map[string]any{"index": 0, "message": msg, "logprobs": nil, "finish_reason": reply.FinishReason}
		} else {
			choice = map[string]any{"index": 0, "text": full, "logprobs": nil, "finish_reason": reply.FinishReason}
		}
		object := "text_completion"
		if chat {
			object = "chat.completion"
		}
		w.Header().Set("Content-Type", "application/json")
		finish()
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id": id, "object": object, "created": created, "model": model,
			"choices": []any{choice}, "usage": reply.Usage,
		})
		return
	}

	includeUsage := g.StreamOptions != nil && g.StreamOptions.IncludeUsage
	object := "text_completion"
	if chat {
		object = "chat.completion.chunk"
	}
	chunk := func(choice map[string]any) map[string]any {
		m := map[string]any{"id": id, "object": object, "created": created, "model": model, "choices": []any{choice}}
		if includeUsage {
			m["usage"] = nil // as OpenAI does: null on every chunk but the last
		}
		return m
	}
	content := func(piece string) map[string]any {
		if chat {
			return chunk(map[string]any{"index": 0, "delta": map[string]any{"content": piece}, "logprobs": nil, "finish_reason": nil})
		}
		return chunk(map[string]any{"index": 0, "text": piece, "logprobs": nil, "finish_reason": nil})
	}

	out := newSSE(w)
	if chat {
		if out.event(chunk(map[string]any{"index": 0, "delta": map[string]any{"role": "assistant", "content": ""}, "logprobs": nil, "finish_reason": nil})) != nil {
			return
		}
	}
	// events are the content chunks, then the tool-call pieces.
	type event struct {
		body  map[string]any
		piece string
	}
	var events []event
	for _, c := range reply.Chunks {
		events = append(events, event{content(c), c})
	}
	for i, tc := range reply.ToolCalls {
		events = append(events, event{body: chunk(map[string]any{"index": 0, "delta": map[string]any{"tool_calls": []any{map[string]any{
			"index": i, "id": tc.ID, "type": "function", "function": map[string]any{"name": tc.Name, "arguments": ""},
		}}}, "finish_reason": nil})})
		for _, p := range split(tc.Arguments, cmpOr(tc.ArgPieces, 3)) {
			events = append(events, event{body: chunk(map[string]any{"index": 0, "delta": map[string]any{"tool_calls": []any{map[string]any{
				"index": i, "function": map[string]any{"arguments": p},
			}}}, "finish_reason": nil})})
		}
	}

	// fault plays the scripted misbehaviour, if any, and reports whether
	// the stream ends here.
	fault := func() bool {
		switch step.Fault {
		case Stall:
			select {
			case <-r.Context().Done():
			case <-s.done:
			}
		case Cut:
			cutConnection(w)
		case Malformed:
			_ = out.event(`{"id":"` + id + `","choices":[{"index":0,"delta":{"content":"x"`)
		case StreamError:
			_ = out.event(map[string]any{"error": map[string]any{
				"object": "error", "message": cmpOr(step.Message, "generation failed"), "type": "InternalServerError", "param": nil, "code": 500,
			}})
		default:
			return false
		}
		return true
	}
	for i, ev := range events {
		if i == step.After && fault() {
			return
		}
		if i > 0 && !s.wait(r.Context(), s.opts.TokenInterval) {
			return
		}
		if ev.piece != "" && s.opts.BeforeSend != nil {
			s.opts.BeforeSend(ev.piece)
		}
		if out.event(ev.body) != nil {
			return
		}
	}
	if step.After >= len(events) && fault() {
		return
	}
	final := map[string]any{"index": 0, "delta": map[string]any{}, "logprobs": nil, "finish_reason": reply.FinishReason}
	if !chat {
		final = map[string]any{"index": 0, "text": "", "logprobs": nil, "finish_reason": reply.FinishReason}
	}
	if out.event(chunk(final)) != nil {
		return
	}
	if includeUsage {
		if out.event(map[string]any{"id": id, "object": object, "created": created, "model": model, "choices": []any{}, "usage": reply.Usage}) != nil {
			return
		}
	}
	finish()
	_ = out.event("[DONE]")
}

// split cuts s into at most n pieces of about equal length.
func split(s string, n int) []string {
	if s == "" {
		return nil
	}
	n = min(n, len(s))
	var out []string
	size := (len(s) + n - 1) / n
	for len(s) > 0 {
		k := min(size, len(s))
		out = append(out, s[:k])
		s = s[k:]
	}
	return out
}
