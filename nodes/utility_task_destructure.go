package nodes

import (
	"context"
	"fmt"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Task Destructure", newTaskDestructure) }

// taskFields are the fields Magick's Task Destructure (tasks/TaskDestructure.ts)
// reads from a task, one output each.
var taskFields = []string{"agentId", "content", "client", "channel", "channelType", "entities", "projectId", "observer", "sender", "rawData"}

// Task Destructure splits a task object into its fields. It needs no task
// service: it only reads the object it is given (a missing field yields
// nothing, as JavaScript destructuring gives undefined).
func newTaskDestructure(*Services) *graph.NodeType {
	outs := []graph.Port{triggerOut}
	for _, f := range taskFields {
		typ := "string"
		switch f {
		case "entities":
			typ = "array"
		case "rawData":
			typ = "any"
		}
		outs = append(outs, dataOut(f, typ, "the task's "+f))
	}
	return &graph.NodeType{
		Name:    "Task Destructure",
		Family:  "object",
		Doc:     "Splits a Magick task object (content, sender, observer, channel, …) into one output per field.",
		Inputs:  []graph.Port{triggerIn, dataIn("task", "object", "the task")},
		Outputs: outs,
		New: func(*graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				v, _ := a.Input("task")
				task, ok := v.(map[string]any)
				if !ok {
					// Magick destructured undefined and threw.
					return graph.Result{}, fmt.Errorf(`input "task": want a task object, got %T`, v)
				}
				out := graph.Outputs{}
				for _, f := range taskFields {
					if x, ok := task[f]; ok {
						out[f] = x
					}
				}
				return graph.Result{Outputs: out}, nil
			}), nil
		},
	}
}
