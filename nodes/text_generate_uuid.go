package nodes

import (
	"context"

	"github.com/google/uuid"
	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("UUID Generator", newUUIDGenerator) }

// UUID Generator follows Magick's nodes/text/GenerateUUID.ts (the file is
// named GenerateUUID, the component 'UUID Generator'): a data-only node
// whose "output" is a fresh random (version 4) UUID.
func newUUIDGenerator(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:             "UUID Generator",
		Aliases:          []string{"Generate UUID"},
		Family:           "text",
		Doc:              "Outputs a new random UUID (version 4) as a string.",
		Outputs:          []graph.Port{dataOut("output", "string", "the UUID, e.g. \"3b241101-e2bb-4255-8caf-4136c566a962\"")},
		Nondeterministic: true,
		New: func(*graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(context.Context, *graph.Activation) (graph.Result, error) {
				return graph.Result{Outputs: graph.Outputs{"output": uuid.NewString()}}, nil
			}), nil
		},
	}
}
