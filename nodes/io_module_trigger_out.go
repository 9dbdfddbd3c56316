package nodes

import (
	"context"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Module Trigger Out", newModuleTriggerOut) }

func newModuleTriggerOut(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:    "Module Trigger Out",
		Aliases: []string{"Trigger Out"},
		Family:  "io",
		Doc:     "Reports that the spell reached this point: a Spell node calling this spell fires its matching trigger output.",
		Role:    graph.RoleTriggerOut,
		Inputs:  []graph.Port{triggerIn},
		Config:  []graph.ConfigField{nameField, keyField},
		New: func(n *graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				a.FireRunTrigger(triggerOutKey(a.Node))
				return graph.Result{}, nil
			}), nil
		},
	}
}

// triggerOutKey is what a Module Trigger Out reports when it fires: its
// socket key (what a calling Spell node's port is keyed by), else its name,
// else its node id.
func triggerOutKey(n *graph.Node) string {
	if k := configString(n, "socketKey", "name"); k != "" {
		return k
	}
	return n.ID
}
