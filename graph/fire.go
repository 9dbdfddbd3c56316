package graph

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
)

// firing holds the nodes whose worker is inside Fire, so that a trigger
// loop from downstream back into such a node fails instead of waiting
// forever on the node's own exec lock.
var firing sync.Map // *nodeState -> struct{}

// Fire runs, before this activation returns, everything that its trigger
// output port reaches, with outputs as the node's outputs meanwhile (a
// ForEach's element). The reached activations run one after another in the
// calling goroutine, which already holds the run's concurrency slot; Fire
// returns when they have finished, or with the run's error when it failed
// or was cancelled. Each fires the same way its node would from a normal
// activation, with activation numbers counting on. A worker that fires a
// port per item closes that port in its Result, so that it does not fire
// once more when the worker returns.
//
// Data-only nodes downstream of this node's data are evaluated once per
// Fire, so they see each item.
func (a *Activation) Fire(port string, outputs Outputs) error {
	st := a.run
	pn := st.prog.nodes[a.Node.ID]
	if pn == nil || pn.node != a.Node {
		return fmt.Errorf("fire %q: the activation does not belong to this run's top-level program", port)
	}
	var out *triggerOut
	for i := range pn.triggerOuts {
		if pn.triggerOuts[i].port == port {
			out = &pn.triggerOuts[i]
		}
	}
	if out == nil {
		return fmt.Errorf("fire %q: node type %s has no trigger output %q", port, a.Type.Name, port)
	}
	if !pn.triggered {
		return fmt.Errorf("fire %q: connect the node's trigger input; a node evaluated only for its data cannot fire per item", port)
	}
	ns := st.nodes[a.Node.ID]
	firing.Store(ns, struct{}{})
	defer firing.Delete(ns)

	key := ""
	if st.req.Cache != nil {
		b, _ := json.Marshal(outputs)
		sum := sha256.Sum256(append([]byte(pn.configKey+"\x00"+port+"\x00"), b...))
		key = hex.EncodeToString(sum[:16])
	}
	st.mu.Lock()
	ns.outputs, ns.hasOutputs, ns.key = outputs, true, key
	st.mu.Unlock()
	st.forgetDataDependents(pn)

	queue := make([]pendingActivation, 0, len(out.targets))
	for _, t := range slices.Backward(out.targets) {
		queue = append(queue, pendingActivation{pn: st.prog.nodes[t.Node], trigger: t.Port, from: pn.node.ID})
	}
	for len(queue) > 0 {
		if st.ctx.Err() != nil {
			break
		}
		next := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		if _, busy := firing.Load(st.nodes[next.pn.node.ID]); busy {
			err := &NodeError{Path: st.path, NodeID: next.pn.node.ID, NodeType: next.pn.typ.Name,
				Err: fmt.Errorf("a trigger loop leads back into node %s while it fires per item; loop through another node's trigger instead", next.pn.node.ID)}
			st.fail(err)
			return err
		}
		targets := st.activate(next.pn, next.trigger, next.from, true)
		for _, t := range slices.Backward(targets) {
			queue = append(queue, t)
		}
	}
	if st.ctx.Err() != nil {
		if cause := context.Cause(st.ctx); cause != nil {
			return cause
		}
		return st.ctx.Err()
	}
	return nil
}

// forgetDataDependents drops the memoised result of every data-only node
// that reads pn's data, directly or through other data-only nodes, so the
// next pull evaluates it again. A node still being evaluated is left as it
// is.
func (st *runState) forgetDataDependents(pn *programNode) {
	seen := map[string]bool{}
	frontier := []string{pn.node.ID}
	for len(frontier) > 0 {
		id := frontier[len(frontier)-1]
		frontier = frontier[:len(frontier)-1]
		for _, dep := range st.prog.order {
			if dep.triggered || seen[dep.node.ID] {
				continue
			}
			reads := false
			for _, di := range dep.dataInputs {
				for _, src := range di.sources {
					if src.Node == id {
						reads = true
					}
				}
			}
			if !reads {
				continue
			}
			seen[dep.node.ID] = true
			frontier = append(frontier, dep.node.ID)
			ns := st.nodes[dep.node.ID]
			st.mu.Lock()
			if ns.pulled != nil {
				select {
				case <-ns.pulled:
					ns.pulled, ns.pullErr, ns.closed = nil, nil, nil
					ns.hasOutputs = false
				default:
				}
			}
			st.mu.Unlock()
		}
	}
}
