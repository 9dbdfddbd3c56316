package nodes

import (
	"context"
	"math"
	"strconv"
	"strings"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Event Restructure", newEventRestructure) }

// Event Restructure (Magick events/EventRestructure.ts) is Event
// Destructure's inverse: it builds an event object from the inputs that
// are connected, keyed by port name; unconnected fields are left out, as
// Magick's Object.entries(inputs) left them undefined.
func newEventRestructure(*Services) *graph.NodeType {
	ins := []graph.Port{triggerIn}
	for _, f := range eventFields {
		typ := "string"
		switch f {
		case "entities":
			typ = "array"
		case "rawData":
			typ = "any"
		}
		ins = append(ins, dataIn(f, typ, "the event's "+f))
	}
	return &graph.NodeType{
		Name:    "Event Restructure",
		Family:  "memory",
		Doc:     "Builds an event from its fields (content, sender, observer, channel, …); unconnected fields are left out.",
		Inputs:  ins,
		Outputs: []graph.Port{triggerOut, dataOut("output", "event", "the event")},
		New: func(n *graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				ev := namedInputs(a)
				if v, ok := ev["agentId"]; ok {
					ev["agentId"] = restructureAgentID(v)
				}
				return graph.Result{Outputs: graph.Outputs{"output": ev}}, nil
			}), nil
		},
	}
}

// restructureAgentID follows Magick's parseInt(agentId) where the id is an
// integer (a number, or a string of digits). Magick turned anything else
// into NaN, or a UUID such as "3f2a…" into 3; that loses the id, so a
// non-integer id is kept as it came instead.
func restructureAgentID(v any) any {
	switch x := v.(type) {
	case float64:
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			return math.Trunc(x)
		}
	case string:
		if i, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64); err == nil {
			return float64(i)
		}
	}
	return v
}
