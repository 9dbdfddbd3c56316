package graph

import (
	"fmt"
	"slices"
)

// IsRete reports whether s was imported from a Thoth/Magick (Rete.js)
// export: parseRete records its dialect or engine id in Meta.
func (s *Spell) IsRete() bool {
	if s == nil {
		return false
	}
	_, dialect := s.Meta[MetaDialect]
	_, engine := s.Meta[MetaEngine]
	return dialect || engine
}

// resolvePorts gives the sockets of a Thoth/Magick spell the shape the
// editor gave them. Rete's engine works on the saved JSON: a node's worker
// sees whatever sockets its connections name, so older exports list a
// dynamic socket (a Code node's "input") only in the connections. The saved
// data.inputs / data.outputs come first (parseRete reads them into
// Node.Inputs / Outputs); then each connection whose port neither the type
// nor the node declares becomes an implicit port of that node, of the kind
// and type of the port at the connection's other end. A connection is
// refused only when neither end declares its port.
//
// s itself is never changed (spells are shared between runs): when ports
// were added, the result is a copy with its own node slice. Native spells
// are returned as they are: their edges must name declared ports.
func resolvePorts(s *Spell, c Catalog) (*Spell, []Problem) {
	if c == nil || !s.IsRete() {
		return s, nil
	}
	byID := make(map[string]int, len(s.Nodes))
	for i := range s.Nodes {
		if _, dup := byID[s.Nodes[i].ID]; !dup {
			byID[s.Nodes[i].ID] = i
		}
	}
	portOf := func(nodes []Node, ref PortRef, output bool) (*Port, *NodeType, bool) {
		i, ok := byID[ref.Node]
		if !ok {
			return nil, nil, false
		}
		t, ok := c.Lookup(nodes[i].Type)
		if !ok || t == nil {
			return nil, nil, false
		}
		ports := t.InputPorts(&nodes[i])
		if output {
			ports = t.OutputPorts(&nodes[i])
		}
		return findPort(ports, ref.Port), t, true
	}

	var nodes []Node // copy on first write
	var problems []Problem
	cur := func() []Node {
		if nodes != nil {
			return nodes
		}
		return s.Nodes
	}
	for _, e := range s.Edges {
		from, fromType, fromKnown := portOf(cur(), e.From, true)
		to, toType, toKnown := portOf(cur(), e.To, false)
		if !fromKnown || !toKnown || (from != nil && to != nil) {
			continue // Validate reports missing nodes and unknown types
		}
		if from == nil && to == nil {
			// A port the other side knows as the opposite direction is a
			// reversed edge, which Validate explains better.
			if p, _, _ := portOf(cur(), e.From, false); p != nil {
				continue
			}
			if p, _, _ := portOf(cur(), e.To, true); p != nil {
				continue
			}
			problems = append(problems, Problem{NodeID: e.To.Node, Port: e.To.Port, Field: "edges", Message: fmt.Sprintf(
				"connection %s -> %s: neither %s (outputs: %s) nor %s (inputs: %s) declares its port; declare the socket in the node's data.outputs / data.inputs or remove the connection",
				e.From, e.To, fromType.Name, portNames(fromType.OutputPorts(&cur()[byID[e.From.Node]])),
				toType.Name, portNames(toType.InputPorts(&cur()[byID[e.To.Node]])))})
			continue
		}
		if nodes == nil {
			nodes = slices.Clone(s.Nodes)
		}
		if from == nil {
			n := &nodes[byID[e.From.Node]]
			n.Outputs = append(slices.Clip(n.Outputs), implicitDecl(e.From.Port, *to))
		} else {
			n := &nodes[byID[e.To.Node]]
			n.Inputs = append(slices.Clip(n.Inputs), implicitDecl(e.To.Port, *from))
		}
	}
	if nodes == nil {
		return s, problems
	}
	cp := *s
	cp.Nodes = nodes
	return &cp, problems
}

// implicitDecl declares key with the kind and value type of the port at the
// connection's other end.
func implicitDecl(key string, other Port) PortDecl {
	d := PortDecl{Key: key, Kind: other.Kind}
	if other.Kind == Data {
		d.Type = other.Type
		if d.Type == "" {
			d.Type = "any"
		}
	}
	return d
}
