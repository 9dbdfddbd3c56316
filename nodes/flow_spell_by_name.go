package nodes

import (
	"context"
	"errors"
	"fmt"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Spell By Name", newSpellByName) }

// subspellInputName is the run input Magick's Spell By Name passes its
// event under.
const subspellInputName = "Input - Subspell"

// Spell By Name (Magick io/SpellByName.ts) runs a sub-spell chosen at run
// time by name, with the same machinery as the Spell node (loading,
// recursion checks, nested events). Magick called it with inputs
// {"Input - Subspell": event, ...inputs} and output the first value of the
// sub-spell's outputs; here that is the first Output node of the sub-spell,
// in the spell's node order, that produced a value.
func newSpellByName(svcs *Services) *graph.NodeType {
	return &graph.NodeType{
		Name:   "Spell By Name",
		Family: "flow",
		// Which spell runs is decided by data, and that spell may be edited
		// between runs.
		Nondeterministic: true,
		Doc:              "Runs the spell named by its input, with the event and an object of inputs; outputs the sub-spell's first output.",
		Inputs: []graph.Port{
			triggerIn,
			dataIn("spellName", "string", "the name (or id) of the spell to run"),
			dataIn("event", "event", "passed to the sub-spell as its input \"Input - Subspell\""),
			dataIn("inputs", "object", "more sub-spell inputs, keyed by their Input names"),
		},
		Outputs: []graph.Port{triggerOut, dataOut("output", "any", "the sub-spell's first output")},
		Config: []graph.ConfigField{
			{Name: "spellName", Type: "string", Doc: "spell to run when the spellName input is not connected (Grimoire addition)"},
		},
		New: func(n *graph.Node) (graph.Worker, error) {
			return &spellByNameWorker{sub: spellWorker{svcs: svcs}, fallback: configString(n, "spellName")}, nil
		},
	}
}

type spellByNameWorker struct {
	sub      spellWorker // for subPorts: the roles of the sub-spell's nodes
	fallback string
}

func (w *spellByNameWorker) Work(ctx context.Context, a *graph.Activation) (graph.Result, error) {
	name := w.fallback
	if v, ok := a.Input("spellName"); ok && text(v) != "" {
		name = text(v)
	}
	if name == "" {
		return graph.Result{}, errors.New(`input "spellName" is empty: connect the name of the spell to run`)
	}
	sub, err := a.LoadSpell(ctx, name)
	if err != nil {
		return graph.Result{}, fmt.Errorf("spell %q not found: %w", name, err)
	}
	call := graph.SubRun{Spell: sub, Inputs: map[string]any{}}
	if ev, ok := a.Input("event"); ok {
		call.Inputs[subspellInputName] = ev
	}
	if v, ok := a.Input("inputs"); ok && v != nil {
		m, ok := v.(map[string]any)
		if !ok {
			return graph.Result{}, fmt.Errorf(`input "inputs": want an object of sub-spell inputs keyed by Input name, got %T`, v)
		}
		for k, e := range m {
			call.Inputs[k] = e
		}
	}
	res, ports, err := w.sub.runStartingAt(ctx, a, call, subspellInputName)
	if err != nil {
		return graph.Result{}, err
	}
	return graph.Result{Outputs: graph.Outputs{"output": firstSubOutput(ports, res)}}, nil
}

// runStartingAt runs call, starting at the sub-spell's Input named input
// when that Input fires triggers (Magick called sub-spells with that input
// key first, and its runner started at the first key's Input).
func (w spellWorker) runStartingAt(ctx context.Context, a *graph.Activation, call graph.SubRun, input string) (*graph.RunResult, []subPort, error) {
	ports := w.subPorts(call.Spell)
	for _, p := range ports {
		if p.role == graph.RoleInput && p.name == input && spellByNameFires(call.Spell, p.node.ID) {
			call.Entry = p.node.ID
			break
		}
	}
	res, err := a.RunSpell(ctx, call)
	if err != nil {
		return nil, nil, fmt.Errorf("sub-spell %q: %w", call.Spell.ID, err)
	}
	return res, ports, nil
}

// firstSubOutput is Magick's Object.values(outputs)[0]: the value of the
// first Output node of the sub-spell, in the spell's node order, that
// produced one (nil when none did).
func firstSubOutput(ports []subPort, res *graph.RunResult) any {
	for _, p := range ports {
		if p.role != graph.RoleOutput {
			continue
		}
		if v, ok := res.Outputs[p.name]; ok {
			return v
		}
	}
	return nil
}

// spellByNameFires reports whether node id of s has a connected trigger
// output, so that starting a run there runs something.
func spellByNameFires(s *graph.Spell, id string) bool {
	for _, e := range s.Edges {
		if e.From.Node == id && e.From.Port == "trigger" {
			return true
		}
	}
	return false
}
