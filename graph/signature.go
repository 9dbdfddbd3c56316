package graph

import (
	"cmp"
	"slices"
	"strings"
)

// SignaturePort is one entry of a spell's signature: a node that takes a run
// input, yields a run output, starts a run or reports a fired trigger.
type SignaturePort struct {
	NodeID string `json:"nodeId"`
	// Name is the node's config "name": the key of the run's inputs or
	// outputs map.
	Name string `json:"name"`
	// SocketKey is the node's config "socketKey" (the node id when it has
	// none): the port key of a Spell node that calls this spell.
	SocketKey string `json:"socketKey"`
	// Type is the value type: for an input, that of the node's first data
	// output; for an output, that of its first data input; "any" when the
	// port does not say. Empty for triggers.
	Type string `json:"type,omitempty"`
}

// Signature is what a spell offers to whoever runs it, or calls it from a
// Spell node.
type Signature struct {
	Inputs      []SignaturePort `json:"inputs"`
	Outputs     []SignaturePort `json:"outputs"`
	TriggerIns  []SignaturePort `json:"triggerIns"`
	TriggerOuts []SignaturePort `json:"triggerOuts"`
}

// Signature lists the spell's input, output, trigger-in and trigger-out
// nodes (by their type's Role in c; nodes of unknown types are left out).
// Trigger-ins are ordered top-most first (smallest y, a node without a
// position counting as y = 0, then by id), since Thoth starts a run at the
// top-most one; the other lists are ordered by name, then node id.
func (s *Spell) Signature(c Catalog) Signature {
	sig := Signature{Inputs: []SignaturePort{}, Outputs: []SignaturePort{}, TriggerIns: []SignaturePort{}, TriggerOuts: []SignaturePort{}}
	if s == nil || c == nil {
		return sig
	}
	y := map[string]float64{} // a node without a position counts as y = 0, as in the runner
	for i := range s.Nodes {
		n := &s.Nodes[i]
		t, ok := c.Lookup(n.Type)
		if !ok || t == nil || t.Role == RoleNone {
			continue
		}
		p := SignaturePort{NodeID: n.ID, Name: t.PortName(n), SocketKey: n.ConfigString("socketKey")}
		if p.SocketKey == "" {
			p.SocketKey = n.ID
		}
		switch t.Role {
		case RoleInput:
			p.Type = firstDataType(t.OutputPorts(n))
			sig.Inputs = append(sig.Inputs, p)
		case RoleOutput:
			p.Type = firstDataType(t.InputPorts(n))
			sig.Outputs = append(sig.Outputs, p)
		case RoleTriggerIn:
			if n.Position != nil {
				y[n.ID] = n.Position.Y
			}
			sig.TriggerIns = append(sig.TriggerIns, p)
		case RoleTriggerOut:
			sig.TriggerOuts = append(sig.TriggerOuts, p)
		}
	}
	byName := func(a, b SignaturePort) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return compareNodeIDs(a.NodeID, b.NodeID)
	}
	slices.SortFunc(sig.Inputs, byName)
	slices.SortFunc(sig.Outputs, byName)
	slices.SortFunc(sig.TriggerOuts, byName)
	slices.SortFunc(sig.TriggerIns, func(a, b SignaturePort) int {
		if c := cmp.Compare(y[a.NodeID], y[b.NodeID]); c != 0 {
			return c
		}
		return compareNodeIDs(a.NodeID, b.NodeID)
	})
	return sig
}

func firstDataType(ports []Port) string {
	for _, p := range ports {
		if p.Kind == Data {
			if p.Type == "" {
				return "any"
			}
			return p.Type
		}
	}
	return "any"
}
