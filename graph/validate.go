package graph

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Problem is one thing wrong with a spell, located as precisely as possible.
type Problem struct {
	// NodeID is the node to change; "" for spell-level problems.
	NodeID string `json:"nodeId,omitempty"`
	// Port is the port concerned, when there is one.
	Port string `json:"port,omitempty"`
	// Field is the node's field to change, written as a path inside the
	// node ("id", "type", "config.fewshot", "inputs[0].kind"), or "edges"
	// for an edge.
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	var where []string
	if p.NodeID != "" {
		where = append(where, fmt.Sprintf("node %q", p.NodeID))
	}
	if p.Port != "" {
		where = append(where, fmt.Sprintf("port %q", p.Port))
	}
	if p.Field != "" && p.Field != "edges" {
		where = append(where, p.Field)
	}
	if len(where) == 0 {
		return p.Message
	}
	return strings.Join(where, ", ") + ": " + p.Message
}

// ValidationError lists every problem Validate found, in a stable order
// (by node id, then message).
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	if len(e.Problems) == 1 {
		b.WriteString("invalid spell: 1 problem:")
	} else {
		fmt.Fprintf(&b, "invalid spell: %d problems:", len(e.Problems))
	}
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Validate checks s against the node types of c and returns nil or a
// *ValidationError listing every problem at once:
//
//   - node ids: empty, duplicate, or containing '.';
//   - node types unknown to c, declared ports without a key or kind;
//   - edges: a missing node, a port the node's type does not have, an edge
//     starting at an input or ending at an output, a trigger joined to a data
//     port, data ports of different concrete types ("any" matches all),
//     the same edge twice;
//   - cycles made only of data edges (data is pulled, so such a cycle can
//     never resolve; trigger edges may loop, the runner bounds loops);
//   - required config fields that are missing or empty, and config values
//     with no JSON form.
//
// Then it builds the worker of each node that passed with NodeType.New and
// reports the errors (bad configuration) as problems of those nodes.
//
// With a nil Catalog only the checks that need no node types run.
func Validate(s *Spell, c Catalog) error {
	_, err := validate(s, c)
	return err
}

// validate is Validate returning the spell as it runs: for a Thoth/Magick
// spell, a copy with the sockets its connections imply (resolvePorts).
func validate(s *Spell, c Catalog) (*Spell, error) {
	if s == nil {
		return nil, &ValidationError{Problems: []Problem{{Message: "no spell"}}}
	}
	s, implicit := resolvePorts(s, c)
	v := validation{spell: s, catalog: c, byID: map[string]*Node{}, types: map[string]*NodeType{}, problems: implicit}
	v.checkNodes()
	v.checkEdges()
	v.checkDataCycles()
	if c != nil {
		v.buildWorkers()
	}
	if len(v.problems) == 0 {
		return s, nil
	}
	slices.SortStableFunc(v.problems, func(a, b Problem) int {
		if c := compareNodeIDs(a.NodeID, b.NodeID); c != 0 {
			return c
		}
		if c := strings.Compare(a.Message, b.Message); c != 0 {
			return c
		}
		if c := strings.Compare(a.Port, b.Port); c != 0 {
			return c
		}
		return strings.Compare(a.Field, b.Field)
	})
	return nil, &ValidationError{Problems: slices.Compact(v.problems)}
}

type validation struct {
	spell    *Spell
	catalog  Catalog
	byID     map[string]*Node
	types    map[string]*NodeType // by node id, for nodes whose type is known
	dataAdj  map[string][]string  // data edges, by source node id
	problems []Problem
}

func (v *validation) add(nodeID, port, field, format string, args ...any) {
	v.problems = append(v.problems, Problem{NodeID: nodeID, Port: port, Field: field, Message: fmt.Sprintf(format, args...)})
}

func (v *validation) checkNodes() {
	for i := range v.spell.Nodes {
		n := &v.spell.Nodes[i]
		switch {
		case n.ID == "":
			v.add("", "", "id", "nodes[%d] (type %q) has no id; give it an id unique in the spell", i, n.Type)
			continue
		case v.byID[n.ID] != nil:
			v.add(n.ID, "", "id", "node id %q is used by more than one node; give each node its own id", n.ID)
			continue
		case strings.Contains(n.ID, "."):
			v.add(n.ID, "", "id", "node id contains '.', but edges write ports as node.port; rename the node without '.'")
		}
		v.byID[n.ID] = n
		v.checkDeclaredPorts(n, "inputs", n.Inputs)
		v.checkDeclaredPorts(n, "outputs", n.Outputs)
		for k, val := range n.Config {
			if _, err := json.Marshal(val); err != nil {
				v.add(n.ID, "", "config."+k, "value cannot be written as JSON (%v); use a string, number, boolean, array or object", err)
			}
		}
		if v.catalog == nil {
			continue
		}
		if n.Type == "" {
			v.add(n.ID, "", "type", "node has no type; set \"type\" to a node type (run `grimoire nodes` to list types)")
			continue
		}
		t, ok := v.catalog.Lookup(n.Type)
		if !ok || t == nil {
			if near := nearestType(v.catalog, n.Type); near != "" {
				v.add(n.ID, "", "type", "unknown node type %q; did you mean %q? (run `grimoire nodes` to list types)", n.Type, near)
			} else {
				v.add(n.ID, "", "type", "unknown node type %q; run `grimoire nodes` to list types", n.Type)
			}
			continue
		}
		v.types[n.ID] = t
		for _, f := range t.Config {
			if f.Required && f.Default == nil && isEmptyConfig(n.Config[f.Name]) {
				v.add(n.ID, "", "config."+f.Name, "required config field %q of %s is %s; set it%s",
					f.Name, t.Name, missingOrEmpty(n.Config, f.Name), fieldHint(f))
			}
		}
	}
}

func (v *validation) checkDeclaredPorts(n *Node, side string, decls []PortDecl) {
	seen := map[string]bool{}
	for i, d := range decls {
		field := fmt.Sprintf("%s[%d]", side, i)
		switch {
		case d.Key == "":
			v.add(n.ID, "", field+".key", "declared port has no key; set \"key\" to the name edges use for it")
			continue
		case seen[d.Key]:
			v.add(n.ID, d.Key, field+".key", "port %q is declared twice in %s; remove one", d.Key, side)
		}
		seen[d.Key] = true
		if d.Kind != Data && d.Kind != Trigger {
			v.add(n.ID, d.Key, field+".kind", "port kind %q is not %q or %q; set \"kind\"", d.Kind, Data, Trigger)
		}
	}
}

func isEmptyConfig(val any) bool {
	switch x := val.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

func missingOrEmpty(cfg map[string]any, key string) string {
	if _, ok := cfg[key]; ok {
		return "empty"
	}
	return "missing"
}

func fieldHint(f ConfigField) string {
	var h []string
	if f.Type != "" {
		h = append(h, f.Type)
	}
	if f.Doc != "" {
		h = append(h, f.Doc)
	}
	if len(h) == 0 {
		return ""
	}
	return " (" + strings.Join(h, ": ") + ")"
}

func (v *validation) checkEdges() {
	v.dataAdj = map[string][]string{}
	seen := map[Edge]bool{}
	for _, e := range v.spell.Edges {
		desc := "edge " + e.From.String() + " -> " + e.To.String()
		if seen[e] {
			v.add(e.From.Node, e.From.Port, "edges", "%s appears twice; remove one", desc)
			continue
		}
		seen[e] = true
		from, okFrom := v.edgeEnd(e.From, desc, true)
		to, okTo := v.edgeEnd(e.To, desc, false)
		if !okFrom || !okTo || from == nil || to == nil {
			continue
		}
		if from.Kind != to.Kind {
			v.add(e.To.Node, e.To.Port, "edges", "%s joins %s output %q to %s input %q; connect triggers to triggers and data to data",
				desc, from.Kind, e.From.Port, to.Kind, e.To.Port)
			continue
		}
		if from.Kind == Data {
			if concreteType(from.Type) && concreteType(to.Type) && from.Type != to.Type {
				v.add(e.To.Node, e.To.Port, "edges", "%s carries %s but input %q takes %s; connect an output of type %s (or any), or convert the value first",
					desc, from.Type, e.To.Port, to.Type, to.Type)
			}
			v.dataAdj[e.From.Node] = append(v.dataAdj[e.From.Node], e.To.Node)
		}
	}
}

func concreteType(t string) bool { return t != "" && t != "any" }

// edgeEnd checks one end of an edge. ok is false when the end is wrong; the
// port is nil (with ok true) when the node's type is unknown, so nothing
// more can be checked.
func (v *validation) edgeEnd(r PortRef, desc string, isFrom bool) (port *Port, ok bool) {
	side, want, other := "to", "input", "output"
	if isFrom {
		side, want, other = "from", "output", "input"
	}
	switch {
	case r.Node == "":
		v.add("", r.Port, "edges", "%s has no node at its %q end; write it as node.port", desc, side)
		return nil, false
	case r.Port == "":
		v.add(r.Node, "", "edges", "%s has no port at its %q end; write it as node.port", desc, side)
		return nil, false
	}
	n := v.byID[r.Node]
	if n == nil {
		v.add(r.Node, r.Port, "edges", "%s: node %q does not exist; add the node or remove the edge", desc, r.Node)
		return nil, false
	}
	t := v.types[r.Node]
	if t == nil {
		return nil, true
	}
	ports, others := t.InputPorts(n), t.OutputPorts(n)
	if isFrom {
		ports, others = others, ports
	}
	if p := findPort(ports, r.Port); p != nil {
		return p, true
	}
	if findPort(others, r.Port) != nil {
		v.add(r.Node, r.Port, "edges", "%s %s at %s %q of %s, but edges run from an output to an input; reverse or remove the edge",
			desc, map[bool]string{true: "starts", false: "ends"}[isFrom], other, r.Port, t.Name)
		return nil, false
	}
	hint := ""
	if t.DynamicPorts {
		hint = fmt.Sprintf(", or declare it in the node's %ss", want)
	}
	v.add(r.Node, r.Port, "edges", "%s: node type %s has no %s %q (%ss: %s); use one of those%s, or remove the edge",
		desc, t.Name, want, r.Port, want, portNames(ports), hint)
	return nil, false
}

func findPort(ports []Port, name string) *Port {
	for i := range ports {
		if ports[i].Name == name {
			return &ports[i]
		}
	}
	return nil
}

func portNames(ports []Port) string {
	if len(ports) == 0 {
		return "none"
	}
	names := make([]string, len(ports))
	for i, p := range ports {
		names[i] = p.Name
	}
	return strings.Join(names, ", ")
}

// checkDataCycles reports each strongly connected component of the data
// edge graph that contains a cycle, once, at its smallest node id.
func (v *validation) checkDataCycles() {
	ids := make([]string, 0, len(v.dataAdj))
	for id, succ := range v.dataAdj {
		ids = append(ids, id)
		slices.SortFunc(succ, compareNodeIDs)
		v.dataAdj[id] = slices.Compact(succ)
	}
	slices.SortFunc(ids, compareNodeIDs)
	for _, comp := range stronglyConnected(ids, v.dataAdj) {
		if len(comp) == 1 && !slices.Contains(v.dataAdj[comp[0]], comp[0]) {
			continue
		}
		slices.SortFunc(comp, compareNodeIDs)
		cycle := cycleThrough(comp[0], comp, v.dataAdj)
		v.add(comp[0], "", "edges", "data edges form a cycle %s; data inputs are read before a node runs, so this cannot resolve: remove an edge or make the loop go through a trigger",
			strings.Join(cycle, " -> "))
	}
}

// stronglyConnected is Tarjan's algorithm, iterative so that a long chain of
// nodes cannot exhaust the stack.
func stronglyConnected(ids []string, adj map[string][]string) [][]string {
	index := map[string]int{}
	low := map[string]int{}
	onStack := map[string]bool{}
	var stack []string
	var comps [][]string
	next := 0
	type frame struct {
		id string
		i  int
	}
	for _, root := range ids {
		if _, done := index[root]; done {
			continue
		}
		work := []frame{{id: root}}
		index[root], low[root] = next, next
		next++
		stack = append(stack, root)
		onStack[root] = true
		for len(work) > 0 {
			f := &work[len(work)-1]
			if f.i < len(adj[f.id]) {
				w := adj[f.id][f.i]
				f.i++
				if _, seen := index[w]; !seen {
					index[w], low[w] = next, next
					next++
					stack = append(stack, w)
					onStack[w] = true
					work = append(work, frame{id: w})
				} else if onStack[w] {
					low[f.id] = min(low[f.id], index[w])
				}
				continue
			}
			id := f.id
			work = work[:len(work)-1]
			if len(work) > 0 {
				parent := work[len(work)-1].id
				low[parent] = min(low[parent], low[id])
			}
			if low[id] == index[id] {
				var comp []string
				for {
					w := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					onStack[w] = false
					comp = append(comp, w)
					if w == id {
						break
					}
				}
				comps = append(comps, comp)
			}
		}
	}
	return comps
}

// cycleThrough returns a shortest cycle start -> … -> start inside comp.
func cycleThrough(start string, comp []string, adj map[string][]string) []string {
	in := map[string]bool{}
	for _, id := range comp {
		in[id] = true
	}
	prev := map[string]string{}
	queue := []string{start}
	visited := map[string]bool{}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		for _, w := range adj[id] {
			if w == start {
				path := []string{start}
				for at := id; at != start; at = prev[at] {
					path = append(path, at)
				}
				slices.Reverse(path[1:])
				return append(path, start)
			}
			if in[w] && !visited[w] {
				visited[w] = true
				prev[w] = id
				queue = append(queue, w)
			}
		}
	}
	return []string{start, start}
}

// buildWorkers runs each node type's own configuration check on the nodes
// that have no problem yet, so that one report lists a typo in one node and
// bad code in another.
func (v *validation) buildWorkers() {
	troubled := map[string]bool{}
	for _, p := range v.problems {
		troubled[p.NodeID] = true
	}
	for i := range v.spell.Nodes {
		n := &v.spell.Nodes[i]
		t := v.types[n.ID]
		if t == nil || t.New == nil || troubled[n.ID] {
			continue
		}
		if err := newWorker(t, n); err != nil {
			v.add(n.ID, "", "config", "%s", err)
		}
	}
}

func newWorker(t *NodeType, n *Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("node type %s failed checking this node's config (a bug in the node type): %v", t.Name, r)
		}
	}()
	if _, err := t.New(n); err != nil {
		return fmt.Errorf("%s: %w", t.Name, err)
	}
	return nil
}
