package services

import (
	"context"
	"encoding/json"
	"errors"
)

// ErrNoCompletionEndpoint is returned by a completion node when no
// OpenAI-compatible endpoint is configured.
var ErrNoCompletionEndpoint = errors.New("no completion endpoint configured: set GRIMOIRE_OPENAI_BASE_URL")

// Message is one chat message.
type Message struct {
	Role       string     `json:"role"` // system, user, assistant, tool
	Content    string     `json:"content"`
	Name       string     `json:"name,omitempty"`
	ToolCalls  []ToolCall `json:"toolCalls,omitempty"`
	ToolCallID string     `json:"toolCallId,omitempty"`
}

// ToolCall is a model's request to call a tool.
type ToolCall struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Arguments string `json:"arguments"` // JSON text, as the model wrote it
}

// Tool is a function the model may call.
type Tool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"` // JSON Schema
}

// CompletionRequest asks for a chat completion (Messages) or, when Messages
// is empty, a raw text completion of Prompt.
type CompletionRequest struct {
	Model            string
	Prompt           string
	Messages         []Message
	Tools            []Tool
	MaxTokens        int
	Temperature      *float32
	TopP             *float32
	FrequencyPenalty *float32
	PresencePenalty  *float32
	Stop             []string
	Seed             *int
}

// Usage is what one call cost.
type Usage struct {
	Model            string `json:"model,omitempty"`
	PromptTokens     int    `json:"promptTokens"`
	CompletionTokens int    `json:"completionTokens"`
	TotalTokens      int    `json:"totalTokens"`
}

// CompletionResponse is a finished completion.
type CompletionResponse struct {
	Text         string
	ToolCalls    []ToolCall
	FinishReason string
	Usage        Usage
}

// Completion produces text. When onToken is not nil the call streams and
// onToken receives each piece of text as it arrives, in order, from the
// calling goroutine's point of view.
type Completion interface {
	Complete(ctx context.Context, req CompletionRequest, onToken func(string)) (CompletionResponse, error)
}

// ToolServers are the external MCP (Model Context Protocol) servers the
// operator configured, by name: a Chat Completion node offers their tools
// to the model beside its spell tools. services/mcpclient implements it.
type ToolServers interface {
	// ListTools returns the named server's tools; Parameters is each
	// tool's input schema.
	ListTools(ctx context.Context, server string) ([]Tool, error)
	// CallTool calls one with JSON arguments and returns its text. A
	// result the server marks as an error comes back as text with isError
	// set; err is for a call that could not be made.
	CallTool(ctx context.Context, server, tool string, arguments json.RawMessage) (text string, isError bool, err error)
}

// ErrNoToolServer reports an MCP server name the operator did not configure.
var ErrNoToolServer = errors.New("no such MCP server configured (GRIMOIRE_MCP_SERVERS)")
