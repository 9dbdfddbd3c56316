package graph

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Meta keys set when importing a Thoth/Magick export.
const (
	// MetaDialect is "thoth" (the graph was under "chain") or "magick" (under
	// "graph"); absent for a bare Rete graph.
	MetaDialect = "dialect"
	// MetaEngine is the Rete engine id of the graph, such as "demo@0.1.0".
	MetaEngine = "engine"
)

// Top-level fields of an export that change on every save or name an owner
// rather than the graph; keeping them would change the content hash of an
// unchanged spell.
var reteVolatileFields = map[string]bool{
	"id": true, "name": true, "chain": true, "graph": true,
	"hash": true, "createdAt": true, "updatedAt": true, "created_at": true, "updated_at": true,
	"deletedAt": true, "deleted_at": true, "projectId": true, "project_id": true, "userId": true, "user_id": true,
}

// parseRete imports a Thoth/Magick export (or a bare Rete graph).
//
// Mapping: the node's "name" is Node.Type verbatim (the Catalog resolves
// Thoth/Magick names); "data" is kept whole as Node.Config; the user-added
// ports in data.inputs / data.outputs become Node.Inputs / Node.Outputs;
// "position" [x, y] becomes Position; connections from both ends become
// edges (union, duplicates dropped, a connection's own "data" ignored).
func parseRete(data []byte) (*Spell, error) {
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, jsonError(FormatRete, "", data, err)
	}
	s := &Spell{Nodes: []Node{}, Edges: []Edge{}}
	meta := map[string]any{}

	var g any
	var gpath string
	switch {
	case doc["chain"] != nil:
		g, gpath = doc["chain"], "chain"
		meta[MetaDialect] = "thoth"
	case doc["graph"] != nil:
		g, gpath = doc["graph"], "graph"
		meta[MetaDialect] = "magick"
	default:
		g = doc // a bare graph: {"id": "demo@0.1.0", "nodes": {…}}
	}
	if gpath != "" {
		id, err := reteID(doc["id"])
		if err != nil {
			return nil, reteErr("id", err)
		}
		s.ID = id
		if name, ok := doc["name"].(string); ok {
			s.Name = name
		}
		if s.ID == "" {
			s.ID = s.Name // Thoth keyed spells by name
		}
		for k, v := range doc {
			if !reteVolatileFields[k] {
				meta[k] = v
			}
		}
	}
	if str, ok := g.(string); ok {
		in := fmt.Sprintf("the %q string", gpath)
		if err := json.Unmarshal([]byte(str), &g); err != nil {
			return nil, jsonError(FormatRete, in, []byte(str), err)
		}
	}
	gm, ok := g.(map[string]any)
	if !ok {
		return nil, reteErr(gpath, fmt.Errorf("want a Rete graph object {\"id\", \"nodes\"}, got %s", jsonKind(g)))
	}
	if engine, ok := gm["id"].(string); ok && engine != "" {
		meta[MetaEngine] = engine
	}
	if len(meta) > 0 {
		s.Meta = meta
	}
	nodesPath := joinPath(gpath, "nodes")
	nodes, ok := gm["nodes"].(map[string]any)
	if !ok {
		if gm["nodes"] == nil {
			return nil, reteErr(nodesPath, errors.New("missing: a Rete graph lists its nodes in an object keyed by node id"))
		}
		return nil, reteErr(nodesPath, fmt.Errorf("want an object keyed by node id, got %s", jsonKind(gm["nodes"])))
	}

	keys := make([]string, 0, len(nodes))
	for k := range nodes {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareNodeIDs)
	seen := map[Edge]bool{}
	addEdge := func(e Edge) {
		if !seen[e] {
			seen[e] = true
			s.Edges = append(s.Edges, e)
		}
	}
	for _, key := range keys {
		path := fmt.Sprintf("%s[%q]", nodesPath, key)
		nm, ok := nodes[key].(map[string]any)
		if !ok {
			return nil, reteErr(path, fmt.Errorf("want a node object, got %s", jsonKind(nodes[key])))
		}
		n, err := reteNode(key, nm, path)
		if err != nil {
			return nil, err
		}
		s.Nodes = append(s.Nodes, n)

		ins, err := reteConnections(nm, "inputs", "output", path)
		if err != nil {
			return nil, err
		}
		for _, c := range ins {
			addEdge(Edge{From: PortRef{Node: c.node, Port: c.port}, To: PortRef{Node: n.ID, Port: c.local}})
		}
		outs, err := reteConnections(nm, "outputs", "input", path)
		if err != nil {
			return nil, err
		}
		for _, c := range outs {
			addEdge(Edge{From: PortRef{Node: n.ID, Port: c.local}, To: PortRef{Node: c.node, Port: c.port}})
		}
	}
	slices.SortStableFunc(s.Edges, compareEdges)
	return s, nil
}

func reteNode(key string, nm map[string]any, path string) (Node, error) {
	id := key
	if v, ok := nm["id"]; ok && v != nil {
		got, err := reteID(v)
		if err != nil {
			return Node{}, reteErr(path+".id", err)
		}
		if got != "" {
			id = got
		}
	}
	n := Node{ID: id}
	if name, ok := nm["name"].(string); ok {
		n.Type = name
	} else if nm["name"] != nil {
		return Node{}, reteErr(path+".name", fmt.Errorf("want the node type name as a string, got %s", jsonKind(nm["name"])))
	}
	switch d := nm["data"].(type) {
	case nil:
	case map[string]any:
		if len(d) > 0 {
			n.Config = d
		}
		n.Inputs = reteDeclaredPorts(d["inputs"])
		n.Outputs = reteDeclaredPorts(d["outputs"])
	default:
		return Node{}, reteErr(path+".data", fmt.Errorf("want an object, got %s", jsonKind(d)))
	}
	if p, ok := nm["position"].([]any); ok && len(p) >= 2 {
		x, okx := p[0].(float64)
		y, oky := p[1].(float64)
		if okx && oky {
			n.Position = &Position{X: x, Y: y}
		}
	}
	return n, nil
}

// reteDeclaredPorts reads data.inputs / data.outputs: the ports a user added
// to a node ({name, socketKey, taskType, socketType, useSocketName}). As the
// editors built them, a port's key is its name when useSocketName is set,
// else its socketKey, else its name. Entries it cannot use are skipped:
// they are editor state, and the whole list stays in Config.
func reteDeclaredPorts(v any) []PortDecl {
	list, ok := v.([]any)
	if !ok {
		return nil
	}
	var out []PortDecl
	seen := map[string]bool{}
	for _, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			continue
		}
		name, _ := m["name"].(string)
		key, _ := m["socketKey"].(string)
		if byName, _ := m["useSocketName"].(bool); byName || key == "" {
			key = name
		}
		if key == "" || seen[key] {
			continue
		}
		seen[key] = true
		socketType, _ := m["socketType"].(string)
		taskType, _ := m["taskType"].(string)
		d := PortDecl{Key: key, Kind: Data, Type: reteSocketType(socketType)}
		if name != key {
			d.Name = name
		}
		if taskType == "option" || strings.Contains(strings.ToLower(socketType), "trigger") {
			d.Kind, d.Type = Trigger, ""
		}
		out = append(out, d)
	}
	return out
}

// reteSocketType maps a Rete socket name to a port value type. Sockets
// Grimoire has no type for become "any", so an import never fails a type
// check that the editor itself allowed.
func reteSocketType(socket string) string {
	switch strings.TrimSuffix(strings.ToLower(socket), "socket") {
	case "string", "text":
		return "string"
	case "number", "num":
		return "number"
	case "boolean", "bool":
		return "boolean"
	case "array":
		return "array"
	case "object":
		return "object"
	case "event":
		return "event"
	case "embedding":
		return "embedding"
	}
	return "any"
}

type reteConn struct {
	local string // this node's port
	node  string // the other node
	port  string // the other node's port
}

// reteConnections reads node.inputs (other end in "output") or node.outputs
// (other end in "input").
func reteConnections(nm map[string]any, side, otherKey, path string) ([]reteConn, error) {
	ports, ok := nm[side].(map[string]any)
	if !ok {
		if nm[side] == nil {
			return nil, nil
		}
		return nil, reteErr(path+"."+side, fmt.Errorf("want an object keyed by port, got %s", jsonKind(nm[side])))
	}
	locals := make([]string, 0, len(ports))
	for k := range ports {
		locals = append(locals, k)
	}
	slices.Sort(locals)
	var out []reteConn
	for _, local := range locals {
		ppath := fmt.Sprintf("%s.%s[%q]", path, side, local)
		pm, ok := ports[local].(map[string]any)
		if !ok {
			if ports[local] == nil {
				continue
			}
			return nil, reteErr(ppath, fmt.Errorf("want {\"connections\": […]}, got %s", jsonKind(ports[local])))
		}
		conns, ok := pm["connections"].([]any)
		if !ok {
			if pm["connections"] == nil {
				continue
			}
			return nil, reteErr(ppath+".connections", fmt.Errorf("want an array, got %s", jsonKind(pm["connections"])))
		}
		if len(conns) > 0 && local == "" {
			return nil, reteErr(ppath, errors.New("a connected port has an empty name"))
		}
		for i, c := range conns {
			cpath := fmt.Sprintf("%s.connections[%d]", ppath, i)
			cm, ok := c.(map[string]any)
			if !ok {
				return nil, reteErr(cpath, fmt.Errorf("want {\"node\", %q}, got %s", otherKey, jsonKind(c)))
			}
			node, err := reteID(cm["node"])
			if err != nil {
				return nil, reteErr(cpath+".node", err)
			}
			if node == "" {
				return nil, reteErr(cpath+".node", errors.New("missing: a connection names the node at its other end"))
			}
			port, _ := cm[otherKey].(string)
			if port == "" {
				return nil, reteErr(cpath+"."+otherKey, fmt.Errorf("missing: a connection names the port at its other end as a string"))
			}
			out = append(out, reteConn{local: local, node: node, port: port})
		}
	}
	return out, nil
}

// reteID reads a node or spell id: Rete numbers nodes, exports sometimes
// quote them. A missing id gives "".
func reteID(v any) (string, error) {
	switch id := v.(type) {
	case nil:
		return "", nil
	case string:
		return id, nil
	case float64:
		if id != math.Trunc(id) || math.Abs(id) > 1<<53 {
			return "", fmt.Errorf("want an integer id of at most 2^53 (or a string), got %v", id)
		}
		return strconv.FormatInt(int64(id), 10), nil
	}
	return "", fmt.Errorf("want an id (a number or a string), got %s", jsonKind(v))
}

func reteErr(path string, err error) error {
	return &ParseError{Format: FormatRete, Path: path, Err: err}
}

func joinPath(base, field string) string {
	if base == "" {
		return field
	}
	return base + "." + field
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return "another value"
}
