package grimoire

import (
	"encoding/json"
	"time"
)

// Event types: the `type` of a run event message (docs/protocol.md), also
// the SSE event name.
const (
	EventRunStart     = "run:start"
	EventRunResumed   = "run:resumed"
	EventNodeStart    = "node:start"
	EventNodeChunk    = "node:chunk"
	EventNodeEnd      = "node:end"
	EventNodeError    = "node:error"
	EventNodeSkip     = "node:skip"
	EventRunCompleted = "run:completed"
	EventRunFailed    = "run:failed"
	EventRunCancelled = "run:cancelled"
	// EventNodeWaiting: an Ask node waits for an answer (Prompt, Schema,
	// AnsweredBy, Deadline); answer with Client.Answer.
	EventNodeWaiting = "node:waiting"
	// EventNodeAnswered: a waiting node got its answer (Value, User) or
	// timed out (TimedOut).
	EventNodeAnswered = "node:answered"
	// EventRunWaiting: the run has nothing left to do but wait for
	// answers; it is not terminal.
	EventRunWaiting = "run:waiting"
)

// Run statuses.
const (
	StatusRunning   = "running"
	StatusCompleted = "completed"
	StatusFailed    = "failed"
	StatusCancelled = "cancelled"
	// StatusWaiting: the run waits for answers (see Client.Answer).
	StatusWaiting = "waiting"
)

// Event is one run event message, the same object the server sends over
// SSE, NDJSON and the socket. Which fields are set depends on Type.
type Event struct {
	Type string `json:"type"`
	// RunID and Seq identify the event: Seq numbers a run's events from 1
	// without gaps.
	RunID     string `json:"runId"`
	Seq       uint64 `json:"seq"`
	SpellID   string `json:"spellId,omitempty"`
	SpellHash string `json:"spellHash,omitempty"`

	// Node events.
	NodeID     string   `json:"nodeId,omitempty"`
	NodeType   string   `json:"nodeType,omitempty"`
	Activation int      `json:"activation,omitempty"`
	Path       []string `json:"path,omitempty"`
	Trigger    string   `json:"trigger,omitempty"`
	// Inputs are the run's inputs (run:start) or a node activation's inputs
	// as {port: [value, ...]} (node:start).
	Inputs map[string]any `json:"inputs,omitempty"`
	// Index and Text are a node:chunk's position and streamed text.
	Index *int   `json:"index,omitempty"`
	Text  string `json:"text,omitempty"`
	// Outputs are a node's (node:end) or the run's (run:completed).
	Outputs    map[string]any `json:"outputs,omitempty"`
	Fired      []string       `json:"fired,omitempty"`
	DurationMs *float64       `json:"durationMs,omitempty"`
	Usage      *Usage         `json:"usage,omitempty"`
	// Cached is true on a node:end whose result came from a cache or an
	// earlier recording.
	Cached *bool  `json:"cached,omitempty"`
	Source string `json:"source,omitempty"`
	// Error is a node:error's or run:failed's message; Reason a
	// node:skip's, run:resumed's or run:cancelled's.
	Error     string `json:"error,omitempty"`
	Reason    string `json:"reason,omitempty"`
	User      string `json:"user,omitempty"`
	ParentRun string `json:"parentRunId,omitempty"`
	AfterSeq  uint64 `json:"afterSeq,omitempty"`
	// Nodes is run:completed's node-output cache in execution order. The
	// live stream carries it; the recorded history (Events) does not, and
	// Replay rebuilds it.
	Nodes []NodeResult `json:"nodes,omitempty"`
	// The question of a node:waiting, and the answer of a node:answered.
	Prompt     string         `json:"prompt,omitempty"`
	Schema     map[string]any `json:"schema,omitempty"`
	AnsweredBy []string       `json:"answeredBy,omitempty"`
	Deadline   *time.Time     `json:"deadline,omitempty"`
	OnDeadline string         `json:"onDeadline,omitempty"`
	Value      any            `json:"value,omitempty"`
	TimedOut   bool           `json:"timedOut,omitempty"`
	Time       time.Time      `json:"time"`

	// Raw is the message as received, for fields this version does not know.
	Raw json.RawMessage `json:"-"`
}

// Terminal reports whether the event ends its run.
func (e Event) Terminal() bool {
	return e.Type == EventRunCompleted || e.Type == EventRunFailed || e.Type == EventRunCancelled
}

// runError is the *RunError a run:failed or run:cancelled event stands for,
// or nil.
func (e Event) runError() error {
	switch e.Type {
	case EventRunFailed:
		return &RunError{RunID: e.RunID, Status: StatusFailed, NodeID: e.NodeID, Message: e.Error}
	case EventRunCancelled:
		return &RunError{RunID: e.RunID, Status: StatusCancelled, Message: e.Reason}
	}
	return nil
}

// decodeEvent parses one event message, keeping its raw form.
func decodeEvent(data []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(data, &e); err != nil {
		return Event{}, err
	}
	e.Raw = append(json.RawMessage(nil), data...)
	return e, nil
}

// NodeResult is one node activation's cached result: what an editor needs
// to show the node as if it had run locally.
type NodeResult struct {
	NodeID     string   `json:"nodeId"`
	NodeType   string   `json:"nodeType,omitempty"`
	Path       []string `json:"path,omitempty"`
	Activation int      `json:"activation"`
	Trigger    string   `json:"trigger,omitempty"`
	// Inputs are {port: [value, ...]}, one value per connection. A result
	// that came from a cache has none.
	Inputs  map[string][]any `json:"inputs,omitempty"`
	Outputs map[string]any   `json:"outputs,omitempty"`
	Fired   []string         `json:"fired,omitempty"`
	Cached  bool             `json:"cached"`
}

// Usage is what a node or run consumed from inference services.
type Usage struct {
	Model            string `json:"model,omitempty"`
	PromptTokens     int    `json:"promptTokens,omitempty"`
	CompletionTokens int    `json:"completionTokens,omitempty"`
	TotalTokens      int    `json:"totalTokens,omitempty"`
	Calls            int    `json:"calls,omitempty"`
}
