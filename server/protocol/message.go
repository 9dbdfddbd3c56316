package protocol

import (
	"fmt"
	"time"

	"github.com/grimoire-run/grimoire/events"
)

// Message types, also the Socket.IO event names.
const (
	RunStart     = "run:start"
	RunResumed   = "run:resumed"
	NodeStart    = "node:start"
	NodeChunk    = "node:chunk"
	NodeEnd      = "node:end"
	NodeError    = "node:error"
	NodeSkip     = "node:skip"
	RunCompleted = "run:completed"
	RunFailed    = "run:failed"
	RunCancelled = "run:cancelled"
	// NodeWaiting: an Ask node waits for an answer (RunWaiting).
	NodeWaiting = "node:waiting"
	// NodeAnswered: a waiting node got its answer or timed out (RunAnswered).
	NodeAnswered = "node:answered"
	// RunWaiting: the run has nothing left to do but wait (RunPaused).
	RunWaiting = "run:waiting"
)

// Message is one run event as clients see it.
type Message struct {
	Type       string         `json:"type"`
	RunID      string         `json:"runId"`
	Seq        uint64         `json:"seq"`
	SpellID    string         `json:"spellId,omitempty"`
	SpellHash  string         `json:"spellHash,omitempty"`
	NodeID     string         `json:"nodeId,omitempty"`
	NodeType   string         `json:"nodeType,omitempty"`
	Activation int            `json:"activation,omitempty"`
	Path       []string       `json:"path,omitempty"`
	Trigger    string         `json:"trigger,omitempty"`
	Inputs     any            `json:"inputs,omitempty"`
	Index      *int           `json:"index,omitempty"`
	Text       string         `json:"text,omitempty"`
	Outputs    map[string]any `json:"outputs,omitempty"`
	Fired      []string       `json:"fired,omitempty"`
	DurationMs *float64       `json:"durationMs,omitempty"`
	Usage      *events.Usage  `json:"usage,omitempty"`
	Cached     *bool          `json:"cached,omitempty"`
	Source     string         `json:"source,omitempty"`
	Error      string         `json:"error,omitempty"`
	Reason     string         `json:"reason,omitempty"`
	User       string         `json:"user,omitempty"`
	ParentRun  string         `json:"parentRunId,omitempty"`
	AfterSeq   uint64         `json:"afterSeq,omitempty"`
	Nodes      []NodeResult   `json:"nodes,omitempty"`
	// Prompt, Schema, AnsweredBy, Deadline and OnDeadline describe the
	// question of node:waiting; Value, TimedOut and User (who answered)
	// the answer of node:answered; Waiting the questions of run:waiting.
	Prompt     string           `json:"prompt,omitempty"`
	Schema     map[string]any   `json:"schema,omitempty"`
	AnsweredBy []string         `json:"answeredBy,omitempty"`
	Deadline   *time.Time       `json:"deadline,omitempty"`
	OnDeadline string           `json:"onDeadline,omitempty"`
	Value      any              `json:"value,omitempty"`
	TimedOut   bool             `json:"timedOut,omitempty"`
	Waiting    []events.NodeRef `json:"waiting,omitempty"`
	Time       time.Time        `json:"time"`
}

// Terminal reports whether the message ends its run.
func (m Message) Terminal() bool {
	return m.Type == RunCompleted || m.Type == RunFailed || m.Type == RunCancelled
}

// NodeResult is one activation in run:completed's node-output cache.
type NodeResult struct {
	NodeID     string           `json:"nodeId"`
	NodeType   string           `json:"nodeType,omitempty"`
	Path       []string         `json:"path,omitempty"`
	Activation int              `json:"activation"`
	Trigger    string           `json:"trigger,omitempty"`
	Inputs     map[string][]any `json:"inputs,omitempty"`
	Outputs    map[string]any   `json:"outputs,omitempty"`
	Fired      []string         `json:"fired,omitempty"`
	Cached     bool             `json:"cached"`
}

func ms(d time.Duration) *float64 {
	v := float64(d.Microseconds()) / 1000
	return &v
}

func header(m *Message, h events.RunHeader) {
	m.RunID, m.Seq, m.SpellID, m.SpellHash, m.Time = h.RunID, h.Seq, h.SpellID, h.SpellHash, h.Time
}

func node(m *Message, n events.NodeRef) {
	m.NodeID, m.NodeType, m.Activation, m.Path = n.NodeID, n.NodeType, n.Activation, n.Path
}

// FromEvent translates a recorded run event. ok is false for events that
// are not run events (spell saves).
func FromEvent(e events.RecordedEvent) (m Message, ok bool, err error) {
	payload, err := events.Decode(e)
	if err != nil {
		return Message{}, false, fmt.Errorf("event %s at %s@%d: %w", e.Type, e.Stream, e.Revision, err)
	}
	switch p := payload.(type) {
	case events.RunRequested:
		m.Type = RunStart
		header(&m, p.RunHeader)
		m.Inputs, m.User, m.ParentRun = p.Inputs, p.User, p.ParentRunID
		if p.Inputs == nil {
			// The log omits empty inputs; clients always get an object.
			m.Inputs = map[string]any{}
		}
	case events.RunResumed:
		m.Type = RunResumed
		header(&m, p.RunHeader)
		m.AfterSeq, m.Reason = p.AfterSeq, p.Reason
	case events.NodeStarted:
		m.Type = NodeStart
		header(&m, p.RunHeader)
		node(&m, p.NodeRef)
		m.Trigger = p.Trigger
		if len(p.Inputs) > 0 {
			m.Inputs = p.Inputs
		}
	case events.NodeOutputChunk:
		m.Type = NodeChunk
		header(&m, p.RunHeader)
		node(&m, p.NodeRef)
		idx := p.Index
		m.Index, m.Text = &idx, p.Text
	case events.NodeCompleted:
		m.Type = NodeEnd
		header(&m, p.RunHeader)
		node(&m, p.NodeRef)
		cached := false
		m.Outputs, m.Fired, m.DurationMs, m.Usage, m.Cached = p.Outputs, p.Fired, ms(p.Duration), p.Usage, &cached
	case events.NodeCacheHit:
		m.Type = NodeEnd
		header(&m, p.RunHeader)
		node(&m, p.NodeRef)
		cached := true
		m.Outputs, m.Fired, m.Cached, m.Source = p.Outputs, p.Fired, &cached, p.Source
	case events.NodeFailed:
		m.Type = NodeError
		header(&m, p.RunHeader)
		node(&m, p.NodeRef)
		m.Error, m.DurationMs = p.Error, ms(p.Duration)
	case events.NodeSkipped:
		m.Type = NodeSkip
		header(&m, p.RunHeader)
		node(&m, p.NodeRef)
		m.Reason = p.Reason
	case events.RunCompleted:
		m.Type = RunCompleted
		header(&m, p.RunHeader)
		m.Outputs, m.DurationMs, m.Usage = p.Outputs, ms(p.Duration), p.Usage
		if m.Outputs == nil {
			m.Outputs = map[string]any{}
		}
	case events.RunFailed:
		m.Type = RunFailed
		header(&m, p.RunHeader)
		m.Error, m.NodeID, m.Path, m.DurationMs = p.Error, p.NodeID, p.Path, ms(p.Duration)
	case events.RunCancelled:
		m.Type = RunCancelled
		header(&m, p.RunHeader)
		m.Reason, m.DurationMs = p.Reason, ms(p.Duration)
	case events.RunWaiting:
		m.Type = NodeWaiting
		header(&m, p.RunHeader)
		node(&m, p.NodeRef)
		m.Prompt, m.Schema, m.AnsweredBy, m.Deadline, m.OnDeadline = p.Prompt, p.Schema, p.AnsweredBy, p.Deadline, p.OnDeadline
	case events.RunAnswered:
		m.Type = NodeAnswered
		header(&m, p.RunHeader)
		node(&m, p.NodeRef)
		m.Value, m.User, m.TimedOut = p.Value, p.By, p.TimedOut
	case events.RunPaused:
		m.Type = RunWaiting
		header(&m, p.RunHeader)
		m.Waiting = p.Waiting
	default:
		return Message{}, false, nil
	}
	return m, true, nil
}

// NodeResults builds run:completed's node-output cache from a run's stream,
// in the order the activations finished.
func NodeResults(stream []events.RecordedEvent) ([]NodeResult, error) {
	type key struct {
		path       string
		node       string
		activation int
	}
	started := map[key]events.NodeStarted{}
	var out []NodeResult
	for _, e := range stream {
		switch e.Type {
		case events.TypeNodeStarted, events.TypeNodeCompleted, events.TypeNodeCacheHit:
		default:
			continue
		}
		payload, err := events.Decode(e)
		if err != nil {
			return nil, err
		}
		switch p := payload.(type) {
		case events.NodeStarted:
			started[key{fmt.Sprint(p.Path), p.NodeID, p.Activation}] = p
		case events.NodeCompleted:
			r := NodeResult{NodeID: p.NodeID, NodeType: p.NodeType, Path: p.Path, Activation: p.Activation, Outputs: p.Outputs, Fired: p.Fired}
			if s, ok := started[key{fmt.Sprint(p.Path), p.NodeID, p.Activation}]; ok {
				r.Trigger, r.Inputs = s.Trigger, s.Inputs
			}
			out = append(out, r)
		case events.NodeCacheHit:
			out = append(out, NodeResult{NodeID: p.NodeID, NodeType: p.NodeType, Path: p.Path, Activation: p.Activation, Outputs: p.Outputs, Fired: p.Fired, Cached: true})
		}
	}
	return out, nil
}
