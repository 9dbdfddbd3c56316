package services

import (
	"context"
	"time"
)

// MemoryEvent is one remembered event, as Magick's event nodes read and
// write it: who said what (Content, Sender) to whom (Observer), where
// (Client, Channel, ChannelType, Connector) and for which agent and project.
type MemoryEvent struct {
	ID          string    `json:"id,omitempty"`
	Type        string    `json:"type,omitempty"` // "conversation" by default
	Content     string    `json:"content"`
	Sender      string    `json:"sender,omitempty"`
	Observer    string    `json:"observer,omitempty"`
	Client      string    `json:"client,omitempty"`
	Channel     string    `json:"channel,omitempty"`
	ChannelType string    `json:"channelType,omitempty"`
	Connector   string    `json:"connector,omitempty"`
	AgentID     string    `json:"agentId,omitempty"`
	ProjectID   string    `json:"projectId,omitempty"`
	Entities    []any     `json:"entities,omitempty"`
	RawData     any       `json:"rawData,omitempty"`
	Embedding   []float32 `json:"embedding,omitempty"`
	Date        time.Time `json:"date"`
}

// MemoryQuery selects remembered events. Empty fields match anything.
type MemoryQuery struct {
	Type      string
	Observer  string
	Client    string
	Channel   string
	ProjectID string
	AgentID   string
	// Limit is the most events returned (default 10).
	Limit int
	// Embedding, when set, returns the events nearest to it (cosine, among
	// those that have an embedding) instead of the most recent.
	Embedding []float32
}

// EventMemory is the agent memory behind Store Event and Event Recall, kept
// per tenant (the run's user).
type EventMemory interface {
	// Remember stores e (Date defaults to now) and returns it as stored.
	Remember(ctx context.Context, tenant string, e MemoryEvent) (MemoryEvent, error)
	// Recall returns the matching events: without q.Embedding the most
	// recent, in the order they happened (oldest first, as a conversation
	// reads); with it the nearest, best first.
	Recall(ctx context.Context, tenant string, q MemoryQuery) ([]MemoryEvent, error)
}

// EventForgetter is the part of an EventMemory that can delete what it
// remembered (Magick's Event Delete). It is separate so that a memory that
// only appends still satisfies EventMemory; Event Delete fails with a clear
// error on one that does not implement it.
type EventForgetter interface {
	// Forget deletes the event with the given id (MemoryEvent.ID as
	// Remember or Recall returned it); later recalls no longer return it.
	// Forgetting an id that was never remembered, or twice, is not an error.
	Forget(ctx context.Context, tenant, id string) error
}
