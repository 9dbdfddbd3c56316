package graph

import (
	"context"
	"fmt"
)

// Activation is one execution of one node, as its worker sees it.
type Activation struct {
	Node *Node
	Type *NodeType
	// Number counts this node's activations in the run, from 1.
	Number int
	// Trigger is the trigger input port that fired this activation; empty
	// when the node starts the run or was pulled for its data.
	Trigger string
	// Inputs are the data inputs, one value per connection that has a value.
	Inputs Inputs
	// State persists across this node's activations within one run (Wait
	// For All counts its triggers here). Activations of one node never run
	// at the same time, so State needs no locking.
	State map[string]any

	run   *runState
	usage *Usage
}

// Input returns the first value of a data input.
func (a *Activation) Input(port string) (any, bool) {
	vs := a.Inputs[port]
	if len(vs) == 0 {
		return nil, false
	}
	return vs[0], true
}

// Emit streams a piece of partial output (tokens) to the run's observer.
func (a *Activation) Emit(chunk string) {
	if chunk == "" {
		return
	}
	a.run.observe(NodeEvent{Kind: NodeChunk, NodeID: a.Node.ID, NodeType: a.Type.Name, Activation: a.Number, Chunk: chunk})
}

// ReportUsage adds model usage to this activation's NodeCompleted event.
func (a *Activation) ReportUsage(u Usage) {
	if a.usage == nil {
		a.usage = &Usage{}
	}
	a.usage.Add(u)
}

// RunID is the id of the run this activation belongs to.
func (a *Activation) RunID() string { return a.run.req.RunID }

// User is the user the run belongs to.
func (a *Activation) User() string { return a.run.req.User }

// Path is the chain of Spell nodes leading to this sub-spell; empty at top level.
func (a *Activation) Path() []string { return a.run.path }

// RunInput returns the run input with the given name (an Input node's name).
func (a *Activation) RunInput(name string) (any, bool) {
	v, ok := a.run.req.Inputs[name]
	return v, ok
}

// SetRunOutput sets the run output with the given name (an Output node's name).
func (a *Activation) SetRunOutput(name string, v any) {
	r := a.run
	r.mu.Lock()
	r.runOutputs[name] = v
	r.mu.Unlock()
}

// FireRunTrigger records that the trigger output with the given name (a
// Module Trigger Out node's name or socket key) fired; a calling Spell node
// fires its matching trigger output.
func (a *Activation) FireRunTrigger(name string) {
	r := a.run
	r.mu.Lock()
	r.fired = append(r.fired, name)
	r.mu.Unlock()
}

// LoadSpell finds another spell (for Spell nodes and tools) by id or
// name, among those the run's user may run.
func (a *Activation) LoadSpell(ctx context.Context, ref string) (*Spell, error) {
	if a.run.runner.Spells == nil {
		return nil, fmt.Errorf("spell %q: no spell source configured for sub-spells", ref)
	}
	return a.run.runner.Spells.LoadSpell(ctx, a.run.req.User, ref)
}

// SubRun asks for another spell to run inside this one.
type SubRun struct {
	Spell *Spell
	// Inputs are keyed by the sub-spell's Input names.
	Inputs map[string]any
	// Entry names the Trigger In to start at (node id, name or socket key);
	// empty picks as for a top-level run.
	Entry string
}

// RunSpell runs a sub-spell to completion under this run: same run id,
// observer and limits, its nodes reported with this node added to Path.
// Recursion (a spell calling itself, directly or not) is an error.
func (a *Activation) RunSpell(ctx context.Context, sub SubRun) (*RunResult, error) {
	r := a.run
	if len(r.stack) >= r.runner.maxDepth() {
		return nil, fmt.Errorf("%w: sub-spells nested deeper than %d", ErrRecursion, r.runner.maxDepth())
	}
	for _, id := range r.stack {
		if id == sub.Spell.ID {
			chain := ""
			for _, s := range r.stack {
				chain += s + " → "
			}
			return nil, fmt.Errorf("%w: %s%s", ErrRecursion, chain, sub.Spell.ID)
		}
	}
	prog, err := r.runner.Compile(sub.Spell)
	if err != nil {
		return nil, fmt.Errorf("sub-spell %q: %w", sub.Spell.ID, err)
	}
	// While this node waits on its sub-spell, its global concurrency slot
	// goes to the sub-spell's nodes; taking it back ignores cancellation so
	// that the worker's release stays balanced.
	if l := r.runner.Limiter; l != nil {
		l.release()
		defer func() { l.slots <- struct{}{} }()
	}
	child := newRunState(ctx, r.runner, prog, RunRequest{
		RunID:       r.req.RunID,
		User:        r.req.User,
		Inputs:      sub.Inputs,
		Entry:       sub.Entry,
		Recorded:    r.req.Recorded,
		Cache:       r.req.Cache,
		CacheScope:  r.req.CacheScope,
		State:       r.spellState(),
		NodeContext: r.req.NodeContext,
	})
	child.path = append(append([]string(nil), r.path...), a.Node.ID)
	child.stack = append(append([]string(nil), r.stack...), prog.Spell.ID)
	child.obs = r.obs
	child.total = r.total
	return child.execute()
}
