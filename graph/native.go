package graph

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// The native document, field for field. Struct field order is the key order
// of the written document; encoding/json sorts map keys (config, meta).
type nativeDoc struct {
	Format string         `json:"format"`
	ID     string         `json:"id"`
	Name   string         `json:"name,omitempty"`
	Nodes  []nativeNode   `json:"nodes"`
	Edges  []nativeEdge   `json:"edges"`
	Meta   map[string]any `json:"meta,omitempty"`
}

type nativeNode struct {
	ID       string         `json:"id"`
	Type     string         `json:"type"`
	Config   map[string]any `json:"config,omitempty"`
	Inputs   []PortDecl     `json:"inputs,omitempty"`
	Outputs  []PortDecl     `json:"outputs,omitempty"`
	Position *Position      `json:"position,omitempty"`
}

type nativeEdge struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// MarshalSpell writes s as a native document in canonical form: the "format"
// marker first, keys in a fixed order (map keys sorted), nodes sorted by id
// (numeric ids in numeric order, then the others byte-wise), edges sorted by
// source then target, indented by two spaces, with a trailing newline. Equal
// spells give equal bytes, so versions diff line by line.
//
// It fails when an edge end cannot be written as "node.port" (an empty node
// or port, or a node id containing '.') or a config value has no JSON form.
func MarshalSpell(s *Spell) ([]byte, error) {
	if s == nil {
		return nil, errors.New("marshal spell: nil spell")
	}
	for i, e := range s.Edges {
		for _, end := range [...]struct {
			name string
			ref  PortRef
		}{{"from", e.From}, {"to", e.To}} {
			if err := checkWritableRef(end.ref); err != nil {
				return nil, fmt.Errorf("marshal spell %q: edges[%d].%s: %w", s.ID, i, end.name, err)
			}
		}
	}
	b, err := encodeNative(toNativeDoc(s, false), true)
	if err != nil {
		return nil, fmt.Errorf("marshal spell %q: %w", s.ID, err)
	}
	return b, nil
}

func checkWritableRef(r PortRef) error {
	switch {
	case r.Node == "":
		return fmt.Errorf("port reference %q has no node id", r.String())
	case r.Port == "":
		return fmt.Errorf("port reference %q has no port", r.String())
	case strings.Contains(r.Node, "."):
		return fmt.Errorf("node id %q contains '.', which cannot be written as node.port; rename the node", r.Node)
	}
	return nil
}

// toNativeDoc builds the canonical document. forHash drops what the content
// hash ignores: positions and editor state in config.
func toNativeDoc(s *Spell, forHash bool) nativeDoc {
	d := nativeDoc{
		Format: NativeFormatVersion,
		ID:     s.ID,
		Name:   s.Name,
		Nodes:  make([]nativeNode, 0, len(s.Nodes)),
		Edges:  make([]nativeEdge, 0, len(s.Edges)),
	}
	if len(s.Meta) > 0 {
		d.Meta = s.Meta
	}
	nodes := slices.Clone(s.Nodes)
	slices.SortStableFunc(nodes, func(a, b Node) int { return compareNodeIDs(a.ID, b.ID) })
	for _, n := range nodes {
		nn := nativeNode{ID: n.ID, Type: n.Type, Inputs: n.Inputs, Outputs: n.Outputs, Position: n.Position}
		if len(nn.Inputs) == 0 {
			nn.Inputs = nil
		}
		if len(nn.Outputs) == 0 {
			nn.Outputs = nil
		}
		cfg := n.Config
		if forHash {
			nn.Position = nil
			cfg = contentConfig(cfg)
		}
		if len(cfg) > 0 {
			nn.Config = cfg
		}
		d.Nodes = append(d.Nodes, nn)
	}
	edges := slices.Clone(s.Edges)
	slices.SortStableFunc(edges, compareEdges)
	for _, e := range edges {
		d.Edges = append(d.Edges, nativeEdge{From: e.From.String(), To: e.To.String()})
	}
	return d
}

func encodeNative(d nativeDoc, indent bool) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // prompts and code are full of < > &; keep them readable
	if indent {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(d); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func compareEdges(a, b Edge) int {
	if c := compareNodeIDs(a.From.Node, b.From.Node); c != 0 {
		return c
	}
	if c := strings.Compare(a.From.Port, b.From.Port); c != 0 {
		return c
	}
	if c := compareNodeIDs(a.To.Node, b.To.Node); c != 0 {
		return c
	}
	return strings.Compare(a.To.Port, b.To.Port)
}

// compareNodeIDs orders node ids: ids made only of digits (Thoth and Magick
// number their nodes) come first in numeric order, then all others byte-wise.
// It is a total order, so sorting is deterministic.
func compareNodeIDs(a, b string) int {
	da, db := isDigits(a), isDigits(b)
	switch {
	case da && db:
		ta, tb := strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
		if len(ta) != len(tb) {
			if len(ta) < len(tb) {
				return -1
			}
			return 1
		}
		if c := strings.Compare(ta, tb); c != 0 {
			return c
		}
	case da:
		return -1
	case db:
		return 1
	}
	return strings.Compare(a, b)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseNative reads a document already known to carry the native marker.
func parseNative(data []byte) (*Spell, error) {
	var d nativeDoc
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return nil, &ParseError{Format: FormatNative, Err: fmt.Errorf(
				"unknown field %s: see schema/spell.schema.json (put your own document fields under \"meta\")", field)}
		}
		return nil, jsonError(FormatNative, "", data, err)
	}
	s := &Spell{
		ID:    d.ID,
		Name:  d.Name,
		Nodes: make([]Node, 0, len(d.Nodes)),
		Edges: make([]Edge, 0, len(d.Edges)),
	}
	if len(d.Meta) > 0 {
		s.Meta = d.Meta
	}
	for _, n := range d.Nodes {
		node := Node{ID: n.ID, Type: n.Type, Position: n.Position}
		if len(n.Config) > 0 {
			node.Config = n.Config
		}
		if len(n.Inputs) > 0 {
			node.Inputs = n.Inputs
		}
		if len(n.Outputs) > 0 {
			node.Outputs = n.Outputs
		}
		s.Nodes = append(s.Nodes, node)
	}
	for i, e := range d.Edges {
		from, err := ParsePortRef(e.From)
		if err != nil {
			return nil, &ParseError{Format: FormatNative, Path: fmt.Sprintf("edges[%d].from", i), Err: err}
		}
		to, err := ParsePortRef(e.To)
		if err != nil {
			return nil, &ParseError{Format: FormatNative, Path: fmt.Sprintf("edges[%d].to", i), Err: err}
		}
		s.Edges = append(s.Edges, Edge{From: from, To: to})
	}
	return s, nil
}
