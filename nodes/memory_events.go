package nodes

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/services"
)

func init() {
	Register("Event Destructure", newEventDestructure)
	Register("Store Event", newStoreEvent)
	Register("Event Recall", newEventRecall)
	Register("Events to Conversation", newEventsToConversation)
}

// errNoMemory is what memory nodes fail with when the runtime wired none.
var errNoMemory = errors.New("no event memory configured: the runtime keeps memory in its event store (events/memory); wire nodes.Services.Memory")

// eventFields are the fields of Magick's event object, in its order; Event
// Destructure has one output per field.
var eventFields = []string{"content", "sender", "observer", "client", "channel", "channelType", "connector", "agentId", "projectId", "entities", "rawData"}

func newEventDestructure(*Services) *graph.NodeType {
	outs := []graph.Port{triggerOut}
	for _, f := range eventFields {
		typ := "string"
		switch f {
		case "entities":
			typ = "array"
		case "rawData":
			typ = "any"
		}
		outs = append(outs, dataOut(f, typ, "the event's "+f))
	}
	return &graph.NodeType{
		Name:    "Event Destructure",
		Family:  "memory",
		Doc:     "Splits an event (content, sender, observer, channel, …) into one output per field.",
		Inputs:  []graph.Port{triggerIn, dataIn("event", "event", "the event, as Magick's Input node yields it")},
		Outputs: outs,
		New: func(n *graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				v, _ := a.Input("event")
				ev, err := eventMap(v)
				if err != nil {
					return graph.Result{}, fmt.Errorf(`input "event": %w`, err)
				}
				out := graph.Outputs{}
				for _, f := range eventFields {
					out[f] = ev[f]
				}
				return graph.Result{Outputs: out}, nil
			}), nil
		},
	}
}

// eventMap reads an event value: an object, or a bare string (its content).
func eventMap(v any) (map[string]any, error) {
	switch x := v.(type) {
	case nil:
		return map[string]any{}, nil
	case map[string]any:
		return x, nil
	case string:
		return map[string]any{"content": x}, nil
	}
	return nil, fmt.Errorf("want an event object {content, sender, observer, channel, …}, got %T", v)
}

func str(m map[string]any, k string) string {
	if v, ok := m[k]; ok && v != nil {
		return text(v)
	}
	return ""
}

// memoryType is Magick's type field: lower-cased and trimmed, "none" when
// empty, on both store and recall, so that the two agree.
func memoryType(n *graph.Node) string {
	t := strings.ToLower(strings.TrimSpace(configString(n, "type")))
	if t == "" {
		return "none"
	}
	return t
}

func newStoreEvent(svcs *Services) *graph.NodeType {
	return &graph.NodeType{
		Name:   "Store Event",
		Family: "memory",
		// It writes to memory: a cached output must not stand in for it.
		Nondeterministic: true,
		Doc:              "Remembers an event (with optional content, sender and embedding overrides) in the agent's memory.",
		Inputs: []graph.Port{
			triggerIn,
			dataIn("event", "event", "the event to remember"),
			dataIn("content", "string", "content to store instead of the event's"),
			dataIn("sender", "string", "sender to store instead of the event's"),
			dataIn("embedding", "embedding", "a vector to remember with the event, for recall by meaning"),
			dataIn("type", "string", "the memory type (overrides config type)"),
		},
		Outputs: []graph.Port{triggerOut},
		Config: []graph.ConfigField{
			{Name: "type", Type: "string", Doc: "memory type, e.g. conversation (Magick's default: none)"},
			{Name: "name", Type: "string", Doc: "label shown in the editor"},
		},
		New: func(n *graph.Node) (graph.Worker, error) {
			typ := memoryType(n)
			return graph.WorkerFunc(func(ctx context.Context, a *graph.Activation) (graph.Result, error) {
				if svcs.Memory == nil {
					return graph.Result{}, errNoMemory
				}
				v, _ := a.Input("event")
				ev, err := eventMap(v)
				if err != nil {
					return graph.Result{}, fmt.Errorf(`input "event": %w`, err)
				}
				me := memoryEvent(ev)
				me.Type = typ
				if t, ok := a.Input("type"); ok && text(t) != "" {
					me.Type = strings.ToLower(strings.TrimSpace(text(t)))
				}
				if c, ok := a.Input("content"); ok && text(c) != "" {
					me.Content = text(c)
				}
				if s, ok := a.Input("sender"); ok && text(s) != "" {
					me.Sender = text(s)
				}
				if e, ok := a.Input("embedding"); ok && e != nil {
					if me.Embedding, err = toVector(e); err != nil {
						return graph.Result{}, fmt.Errorf(`input "embedding": %w`, err)
					}
				}
				if me.Content == "" {
					return graph.Result{}, errors.New(`nothing to store: the event has no content and input "content" is empty`)
				}
				if _, err := svcs.Memory.Remember(ctx, tenant(a), me); err != nil {
					return graph.Result{}, fmt.Errorf("store event: %w", err)
				}
				return graph.Result{}, nil
			}), nil
		},
	}
}

func memoryEvent(ev map[string]any) services.MemoryEvent {
	me := services.MemoryEvent{
		Content: str(ev, "content"), Sender: str(ev, "sender"), Observer: str(ev, "observer"), Client: str(ev, "client"),
		Channel: str(ev, "channel"), ChannelType: str(ev, "channelType"), Connector: str(ev, "connector"),
		AgentID: str(ev, "agentId"), ProjectID: str(ev, "projectId"), RawData: ev["rawData"],
	}
	if ents, ok := ev["entities"].([]any); ok {
		me.Entities = ents
	}
	return me
}

func eventValue(e services.MemoryEvent) map[string]any {
	v := map[string]any{
		"id": e.ID, "type": e.Type, "content": e.Content, "sender": e.Sender, "observer": e.Observer,
		"client": e.Client, "channel": e.Channel, "channelType": e.ChannelType, "connector": e.Connector,
		"agentId": e.AgentID, "projectId": e.ProjectID, "date": e.Date.UTC().Format(time.RFC3339Nano),
	}
	if e.Entities != nil {
		v["entities"] = e.Entities
	}
	if e.RawData != nil {
		v["rawData"] = e.RawData
	}
	return v
}

func newEventRecall(svcs *Services) *graph.NodeType {
	return &graph.NodeType{
		Name:   "Event Recall",
		Family: "memory",
		// Memory changes between runs.
		Nondeterministic: true,
		Doc:              "Recalls events of the same channel and observer: the most recent, or the nearest to an embedding.",
		Inputs: []graph.Port{
			triggerIn,
			dataIn("event", "event", "the current event: its observer, client, channel and project select the memory"),
			dataIn("embedding", "embedding", "when connected, recall the events nearest to it instead of the newest"),
		},
		Outputs: []graph.Port{triggerOut, dataOut("events", "array", "the events, oldest first (nearest first with an embedding)")},
		Config: []graph.ConfigField{
			{Name: "type", Type: "string", Doc: "memory type to recall (Magick's default: none)"},
			{Name: "max_count", Type: "number", Default: 10, Doc: "most events (also maxCount, limit)"},
			{Name: "name", Type: "string", Doc: "label shown in the editor"},
		},
		New: func(n *graph.Node) (graph.Worker, error) {
			typ := memoryType(n)
			limit := 10
			if v, ok, err := configNumber(n, "max_count", "maxCount", "limit"); err != nil {
				return nil, err
			} else if ok && v >= 1 {
				limit = int(v)
			}
			return graph.WorkerFunc(func(ctx context.Context, a *graph.Activation) (graph.Result, error) {
				if svcs.Memory == nil {
					return graph.Result{}, errNoMemory
				}
				v, _ := a.Input("event")
				ev, err := eventMap(v)
				if err != nil {
					return graph.Result{}, fmt.Errorf(`input "event": %w`, err)
				}
				q := services.MemoryQuery{
					Type: typ, Observer: str(ev, "observer"), Client: str(ev, "client"), Channel: str(ev, "channel"),
					ProjectID: str(ev, "projectId"), Limit: limit,
				}
				if e, ok := a.Input("embedding"); ok && e != nil {
					if q.Embedding, err = toVector(e); err != nil {
						return graph.Result{}, fmt.Errorf(`input "embedding": %w`, err)
					}
				}
				got, err := svcs.Memory.Recall(ctx, tenant(a), q)
				if err != nil {
					return graph.Result{}, fmt.Errorf("recall events: %w", err)
				}
				out := make([]any, len(got))
				for i, e := range got {
					out[i] = eventValue(e)
				}
				return graph.Result{Outputs: graph.Outputs{"events": out}}, nil
			}), nil
		},
	}
}

func newEventsToConversation(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:    "Events to Conversation",
		Family:  "memory",
		Doc:     "Renders events as a conversation: one \"sender: content\" line each.",
		Inputs:  []graph.Port{triggerIn, dataIn("events", "array", "the events (Event Recall's output)")},
		Outputs: []graph.Port{triggerOut, dataOut("conversation", "string", "the lines, each ending in a newline")},
		New: func(n *graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				v, _ := a.Input("events")
				var list []any
				switch x := v.(type) {
				case nil:
				case []any:
					list = x
				case map[string]any:
					if rows, ok := x["rows"].([]any); ok { // a database result, as Magick accepted
						list = rows
					} else {
						list = []any{x}
					}
				default:
					return graph.Result{}, fmt.Errorf(`input "events": want a list of events, got %T`, v)
				}
				var b strings.Builder
				for _, e := range list {
					m, ok := e.(map[string]any)
					if !ok {
						continue
					}
					b.WriteString(str(m, "sender") + ": " + str(m, "content") + "\n")
				}
				return graph.Result{Outputs: graph.Outputs{"conversation": b.String()}}, nil
			}), nil
		},
	}
}
