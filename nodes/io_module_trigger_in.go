package nodes

import (
	"context"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Module Trigger In", newModuleTriggerIn) }

func newModuleTriggerIn(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:    "Module Trigger In",
		Aliases: []string{"Trigger In"},
		Family:  "io",
		Doc:     "Starts the spell's trigger flow: a run (or a Spell node calling this spell) begins here.",
		Role:    graph.RoleTriggerIn,
		Outputs: []graph.Port{{Name: "trigger", Kind: graph.Trigger, Doc: "fires when the run starts here"}},
		Config:  []graph.ConfigField{nameField, keyField},
		New: func(*graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(context.Context, *graph.Activation) (graph.Result, error) {
				return graph.Result{}, nil
			}), nil
		},
	}
}
