package graph

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Spell is one version of a node graph.
type Spell struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	// Nodes are sorted by ID in the native format.
	Nodes []Node `json:"nodes"`
	// Edges are sorted by (From, To) in the native format.
	Edges []Edge `json:"edges"`
	// Meta keeps document-level fields that the runner does not use
	// (descriptions, tags, imported editor fields). It is part of the hash.
	Meta map[string]any `json:"meta,omitempty"`
}

// Node is one node of a spell.
type Node struct {
	ID string `json:"id"`
	// Type names a registered node type, by its name or an alias.
	Type string `json:"type"`
	// Config is the node's configuration. Imported Thoth/Magick nodes keep
	// their whole data object here, unknown editor keys included.
	Config map[string]any `json:"config,omitempty"`
	// Inputs and Outputs declare ports that the user added to this node
	// (types whose ports are dynamic: Spell, Code, Text Template, …).
	Inputs  []PortDecl `json:"inputs,omitempty"`
	Outputs []PortDecl `json:"outputs,omitempty"`
	// Position is editor layout; it is not part of the content hash.
	Position *Position `json:"position,omitempty"`
}

// PortDecl declares a port on one node.
type PortDecl struct {
	// Key identifies the port in edges (a Thoth socketKey, or the name).
	Key string `json:"key"`
	// Name is the human name (for Input/Output-like ports, the run's key).
	Name string   `json:"name,omitempty"`
	Kind PortKind `json:"kind"`
	Type string   `json:"type,omitempty"`
}

// Position is a node's place in the editor.
type Position struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

// Edge joins an output port to an input port.
type Edge struct {
	From PortRef `json:"from"`
	To   PortRef `json:"to"`
}

// PortRef names one port of one node. In JSON it is the string "node.port";
// node ids never contain '.', port keys may.
type PortRef struct {
	Node string
	Port string
}

func (p PortRef) String() string { return p.Node + "." + p.Port }

// ParsePortRef reads "node.port".
func ParsePortRef(s string) (PortRef, error) {
	node, port, ok := strings.Cut(s, ".")
	if !ok || node == "" || port == "" {
		return PortRef{}, fmt.Errorf("port reference %q: want \"node.port\"", s)
	}
	return PortRef{Node: node, Port: port}, nil
}

func (p PortRef) MarshalJSON() ([]byte, error) { return json.Marshal(p.String()) }

func (p *PortRef) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("port reference: want a string \"node.port\": %w", err)
	}
	r, err := ParsePortRef(s)
	if err != nil {
		return err
	}
	*p = r
	return nil
}

// Node returns the node with the given id, or nil.
func (s *Spell) Node(id string) *Node {
	for i := range s.Nodes {
		if s.Nodes[i].ID == id {
			return &s.Nodes[i]
		}
	}
	return nil
}

// ConfigString returns a string configuration field, or "".
func (n *Node) ConfigString(key string) string {
	if v, ok := n.Config[key].(string); ok {
		return v
	}
	return ""
}
