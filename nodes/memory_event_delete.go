package nodes

import (
	"context"
	"errors"
	"fmt"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/services"
)

func init() { Register("Event Delete", newEventDelete) }

// Event Delete (Magick events/EventDelete.ts) removes the event it is given
// from memory by the event's id, as Event Recall returned it. Magick removed
// it from its events service; here the memory records that it is forgotten.
func newEventDelete(svcs *Services) *graph.NodeType {
	return &graph.NodeType{
		Name:   "Event Delete",
		Family: "memory",
		// It changes memory: a cached output must not stand in for it.
		Nondeterministic: true,
		Doc:              "Deletes an event (one Event Recall returned, by its id) from the agent's memory.",
		Inputs:           []graph.Port{triggerIn, dataIn("event", "event", "the event to delete: an object with the id Event Recall gave it")},
		Outputs:          []graph.Port{triggerOut},
		New: func(n *graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(ctx context.Context, a *graph.Activation) (graph.Result, error) {
				if svcs.Memory == nil {
					return graph.Result{}, errNoMemory
				}
				f, ok := svcs.Memory.(services.EventForgetter)
				if !ok {
					return graph.Result{}, errors.New("the configured event memory cannot delete events: wire a nodes.Services.Memory that implements services.EventForgetter (events/memory does)")
				}
				v, _ := a.Input("event")
				ev, ok := v.(map[string]any)
				if !ok {
					return graph.Result{}, fmt.Errorf(`input "event": want an event object with an id (from Event Recall), got %s`, eventDeleteKind(v))
				}
				id := str(ev, "id")
				if id == "" {
					return graph.Result{}, errors.New(`input "event" has no id: connect an event that Event Recall returned`)
				}
				if err := f.Forget(ctx, tenant(a), id); err != nil {
					return graph.Result{}, fmt.Errorf("delete event %q: %w", id, err)
				}
				return graph.Result{}, nil
			}), nil
		},
	}
}

func eventDeleteKind(v any) string {
	if v == nil {
		return "nothing"
	}
	return fmt.Sprintf("%T", v)
}
