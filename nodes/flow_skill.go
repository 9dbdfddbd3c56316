package nodes

import (
	"context"
	"errors"
	"fmt"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Skill", newSkill) }

// Skill (Magick io/Skill.ts) runs the spell named by its spellName input
// with the task as the sub-spell's input "Input - Default", and outputs the
// first value of the sub-spell's outputs (Magick's path without an agent,
// which is how a run reaches it here). Magick set the event's content from
// the content input but never passed the event on, so content and event
// are accepted and not used; Magick threw when content came without an
// event, and so does this node, with an error that says so.
func newSkill(svcs *Services) *graph.NodeType {
	return &graph.NodeType{
		Name:             "Skill",
		Family:           "flow",
		Nondeterministic: true, // which spell runs is decided by data
		Doc:              "Runs the spell named by spellName with the task as its \"Input - Default\"; outputs the sub-spell's first output.",
		Inputs: []graph.Port{
			triggerIn,
			dataIn("content", "string", "Magick sets the event's content from it (the event is not passed on)"),
			dataIn("spellName", "string", "the name (or id) of the spell to run"),
			dataIn("event", "event", "kept for Magick spells (not passed on)"),
			dataIn("task", "object", "passed to the sub-spell as its input \"Input - Default\""),
		},
		Outputs: []graph.Port{triggerOut, dataOut("output", "any", "the sub-spell's first output")},
		New: func(*graph.Node) (graph.Worker, error) {
			return &skillWorker{sub: spellWorker{svcs: svcs}}, nil
		},
	}
}

type skillWorker struct{ sub spellWorker }

func (w *skillWorker) Work(ctx context.Context, a *graph.Activation) (graph.Result, error) {
	if c, ok := a.Input("content"); ok && truthy(c) {
		if ev, _ := a.Input("event"); ev == nil {
			return graph.Result{}, errors.New(`input "content" is set but "event" is not: Magick's Skill writes the content into the event; connect one`)
		}
	}
	v, _ := a.Input("spellName")
	name := text(v)
	if name == "" {
		return graph.Result{}, errors.New(`input "spellName" is empty: connect the name of the spell to run`)
	}
	sub, err := a.LoadSpell(ctx, name)
	if err != nil {
		return graph.Result{}, fmt.Errorf("spell %s not found: %w", name, err)
	}
	task, _ := a.Input("task")
	call := graph.SubRun{Spell: sub, Inputs: map[string]any{defaultInputName: task}}
	res, ports, err := w.sub.runStartingAt(ctx, a, call, defaultInputName)
	if err != nil {
		return graph.Result{}, err
	}
	return graph.Result{Outputs: graph.Outputs{"output": firstSubOutput(ports, res)}}, nil
}
