package graph

import (
	"context"
	"time"
)

// PortKind tells trigger ports (push control) from data ports (pulled).
type PortKind string

const (
	Data    PortKind = "data"
	Trigger PortKind = "trigger"
)

// Port describes one port of a node type.
type Port struct {
	Name string   `json:"name"`
	Kind PortKind `json:"kind"`
	// Type is the value type carried by a data port: "any", "string",
	// "number", "boolean", "array", "object", "event", "embedding".
	Type string `json:"type,omitempty"`
	Doc  string `json:"doc,omitempty"`
}

// ConfigField describes one configuration field of a node type.
type ConfigField struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Required bool   `json:"required,omitempty"`
	Default  any    `json:"default,omitempty"`
	Doc      string `json:"doc,omitempty"`
}

// Role marks the node types the runner and the spell's signature care about.
type Role string

const (
	RoleNone       Role = ""
	RoleInput      Role = "input"       // takes a run input by its config "name"
	RoleOutput     Role = "output"      // yields a run output by its config "name"
	RoleTriggerIn  Role = "trigger-in"  // a place a run (or sub-spell call) starts
	RoleTriggerOut Role = "trigger-out" // reports which trigger a sub-spell fired
)

// NodeType is a registered kind of node: its ports, configuration and
// behaviour. Node types live in package nodes; graph only uses them.
type NodeType struct {
	Name    string
	Aliases []string // Thoth/Magick names
	Family  string   // io, flow, text, code, llm, knowledge, memory
	Doc     string   // one line
	Role    Role
	Inputs  []Port
	Outputs []Port
	Config  []ConfigField
	// DynamicPorts: users add ports to this type's nodes (Code, Spell,
	// Text Template…), so editors offer it and the type reads them. A node
	// of any type may declare ports (Thoth and Magick saved sockets in the
	// node's data for fixed types too); they add to the fixed ones.
	DynamicPorts bool
	// Nondeterministic types opt out of output caching and replay checks.
	Nondeterministic bool
	// Cacheable marks a nondeterministic type whose results may be reused
	// for the same configuration and inputs when the node or its spell opts
	// in ("cache": true, see CachesNode): model calls. By default such a
	// node runs every time, since each call is a fresh sample (decision
	// 0007). Replay checks still feed it from the recording.
	Cacheable bool
	// FiresPerItem marks types whose worker fires a trigger output several
	// times through Activation.Fire (ForEach): a cached result would skip
	// the branches they run, so they are never served from the cache.
	FiresPerItem bool
	// Timeout overrides the runner's per-node timeout when not zero.
	Timeout time.Duration
	// DefaultName gives the name of an input or output node (RoleInput,
	// RoleOutput) whose configuration has none; nil means "".
	DefaultName func(n *Node) string
	// New builds the worker for one node, checking its configuration.
	New func(n *Node) (Worker, error)
}

// PortName is the run input an input node reads, or the run output an
// output node sets: its config "name", else the type's default.
func (t *NodeType) PortName(n *Node) string {
	if name := n.ConfigString("name"); name != "" {
		return name
	}
	if t.DefaultName != nil {
		return t.DefaultName(n)
	}
	return ""
}

// Catalog resolves node type names (and aliases) to types.
type Catalog interface {
	Lookup(typeName string) (*NodeType, bool)
}

// TypeLister is a Catalog that can list its types; validation then
// suggests the nearest name for an unknown type.
type TypeLister interface {
	Types() []*NodeType
}

// nearestType is the type name or alias of c nearest to name ("" when c
// cannot list its types or none is close).
func nearestType(c Catalog, name string) string {
	l, ok := c.(TypeLister)
	if !ok {
		return ""
	}
	var names []string
	for _, t := range l.Types() {
		names = append(names, t.Name)
		names = append(names, t.Aliases...)
	}
	return Nearest(name, names)
}

// InputPorts returns the node's input ports: the type's fixed ones and the
// node's declared ones keyed by their Key.
func (t *NodeType) InputPorts(n *Node) []Port { return t.ports(t.Inputs, n.Inputs) }

// OutputPorts is InputPorts for outputs.
func (t *NodeType) OutputPorts(n *Node) []Port { return t.ports(t.Outputs, n.Outputs) }

func (t *NodeType) ports(fixed []Port, declared []PortDecl) []Port {
	if len(declared) == 0 {
		return fixed
	}
	out := make([]Port, 0, len(fixed)+len(declared))
	out = append(out, fixed...)
	for _, d := range declared {
		dup := false
		for _, f := range fixed {
			if f.Name == d.Key {
				dup = true
				break
			}
		}
		if dup {
			continue
		}
		typ := d.Type
		if typ == "" && d.Kind != Trigger {
			typ = "any"
		}
		out = append(out, Port{Name: d.Key, Kind: d.Kind, Type: typ, Doc: d.Name})
	}
	return out
}

// Worker is the behaviour of one node. A worker built by NodeType.New may be
// used by several runs at once: keep per-run state in Activation.State.
type Worker interface {
	Work(ctx context.Context, a *Activation) (Result, error)
}

// WorkerFunc adapts a function to Worker.
type WorkerFunc func(ctx context.Context, a *Activation) (Result, error)

func (f WorkerFunc) Work(ctx context.Context, a *Activation) (Result, error) { return f(ctx, a) }

// Inputs holds a node's data inputs: one value per connection that produced
// a value, in edge order.
type Inputs map[string][]any

// Outputs holds a node's data outputs by port.
type Outputs map[string]any

// Result is what one activation of a node returns.
type Result struct {
	Outputs Outputs
	// Closed lists trigger outputs that must not fire for this activation;
	// every other trigger output fires. Nothing downstream of a closed
	// trigger runs.
	Closed []string
}

// Usage is model usage reported by a node (tokens, calls).
type Usage struct {
	Model            string `json:"model,omitempty"`
	PromptTokens     int    `json:"promptTokens,omitempty"`
	CompletionTokens int    `json:"completionTokens,omitempty"`
	TotalTokens      int    `json:"totalTokens,omitempty"`
	Calls            int    `json:"calls,omitempty"`
}

// Add accumulates u2 into u.
func (u *Usage) Add(u2 Usage) {
	if u.Model == "" {
		u.Model = u2.Model
	}
	u.PromptTokens += u2.PromptTokens
	u.CompletionTokens += u2.CompletionTokens
	u.TotalTokens += u2.TotalTokens
	u.Calls += u2.Calls
}

// Reusable reports whether the node-output cache may hold this type's
// results at all: a deterministic type, or a Cacheable one (whose nodes
// are served from the cache only when they opt in: CachesNode).
func (t *NodeType) Reusable() bool {
	return !t.FiresPerItem && (!t.Nondeterministic || t.Cacheable)
}

// CachesNode reports whether the runner may serve node n of spell s (nil
// for none) from the node-output cache. Deterministic types are cached; a
// Cacheable (model) type only when the node's config has "cache": true, or
// the spell's meta has "cache": true and the node does not say "cache":
// false. Other nondeterministic types never are.
func (t *NodeType) CachesNode(s *Spell, n *Node) bool {
	if !t.Reusable() {
		return false
	}
	if !t.Nondeterministic {
		return true
	}
	if n != nil {
		if v, ok := n.Config["cache"].(bool); ok {
			return v
		}
	}
	if s != nil {
		if v, ok := s.Meta["cache"].(bool); ok {
			return v
		}
	}
	return false
}
