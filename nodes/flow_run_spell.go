package nodes

import (
	"context"
	"errors"
	"fmt"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Run Spell", newRunSpell) }

// Run Spell (Magick magick/runSpell.ts) runs the spell given on its spell
// input (a spell object, whose id is used, or its id or name as text) with
// the inputs object, and outputs what the spell manager returned: all of the
// sub-spell's outputs, keyed by Output name. Magick read both inputs
// unguarded, so a missing spell threw; here it fails with an error that says
// which input is missing. A missing inputs object runs the spell with none.
func newRunSpell(svcs *Services) *graph.NodeType {
	return &graph.NodeType{
		Name:             "Run Spell",
		Family:           "flow",
		Nondeterministic: true, // which spell runs is decided by data
		Doc:              "Runs the spell on its spell input with an object of inputs; outputs all of its outputs as an object.",
		Inputs: []graph.Port{
			triggerIn,
			dataIn("spell", "object", "the spell to run: an object with an id, or its id or name"),
			dataIn("inputs", "object", "the spell's inputs, keyed by Input name"),
		},
		Outputs: []graph.Port{triggerOut, dataOut("output", "object", "the spell's outputs, keyed by Output name")},
		New: func(*graph.Node) (graph.Worker, error) {
			return &runSpellWorker{sub: spellWorker{svcs: svcs}}, nil
		},
	}
}

type runSpellWorker struct{ sub spellWorker }

func (w *runSpellWorker) Work(ctx context.Context, a *graph.Activation) (graph.Result, error) {
	v, _ := a.Input("spell")
	ref := ""
	switch x := v.(type) {
	case map[string]any:
		ref = text(x["id"])
		if ref == "" {
			return graph.Result{}, errors.New(`input "spell": the spell object has no "id"`)
		}
	case string:
		ref = x
	case nil:
	default:
		return graph.Result{}, fmt.Errorf(`input "spell": want a spell object or its id, got %T`, v)
	}
	if ref == "" {
		return graph.Result{}, errors.New(`input "spell" has no value; connect the spell to run`)
	}
	sub, err := a.LoadSpell(ctx, ref)
	if err != nil {
		return graph.Result{}, fmt.Errorf("spell %q not found: %w", ref, err)
	}
	call := graph.SubRun{Spell: sub, Inputs: map[string]any{}}
	if in, ok := a.Input("inputs"); ok && in != nil {
		m, ok := in.(map[string]any)
		if !ok {
			return graph.Result{}, fmt.Errorf(`input "inputs": want an object of inputs keyed by Input name, got %T`, in)
		}
		for k, e := range m {
			call.Inputs[k] = e
		}
	}
	res, err := a.RunSpell(ctx, call)
	if err != nil {
		return graph.Result{}, fmt.Errorf("sub-spell %q: %w", sub.ID, err)
	}
	out := make(map[string]any, len(res.Outputs))
	for k, e := range res.Outputs {
		out[k] = e
	}
	return graph.Result{Outputs: graph.Outputs{"output": out}}, nil
}
