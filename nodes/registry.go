package nodes

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/services"
)

// Services are the outbound capabilities node types may use. A nil field
// makes the types that need it fail when they run (never when a spell is
// loaded or validated), with an error saying what to configure.
type Services struct {
	Completion services.Completion
	Embedder   services.Embedder
	Vectors    services.VectorStore
	Sandbox    services.Sandbox
	// Memory keeps agent memory for Store Event and Event Recall.
	Memory services.EventMemory
	// ToolServers are the external MCP servers whose tools a Chat
	// Completion node may offer (config mcpServers).
	ToolServers services.ToolServers
	// DefaultModel is used by completion nodes whose config names no model.
	DefaultModel string

	// catalog is the registry these services were bound into; Spell nodes
	// use it to find the roles of a sub-spell's nodes.
	catalog graph.Catalog
}

// Constructor builds a node type bound to the given services.
type Constructor func(*Services) *graph.NodeType

var (
	constructorsMu sync.Mutex
	constructors   = map[string]Constructor{}
)

// Register adds a node type constructor under a unique key (the type's
// canonical name). Built-in types call it from init; it panics on a
// duplicate key, like database/sql.Register.
func Register(key string, c Constructor) {
	constructorsMu.Lock()
	defer constructorsMu.Unlock()
	if c == nil {
		panic("nodes: Register constructor is nil for " + key)
	}
	if _, dup := constructors[key]; dup {
		panic("nodes: Register called twice for " + key)
	}
	constructors[key] = c
}

// Registry holds node types bound to one set of services. It implements
// graph.Catalog and is safe for concurrent use once built.
type Registry struct {
	types  []*graph.NodeType          // sorted by name
	byName map[string]*graph.NodeType // names and aliases, exact
	folded map[string]*graph.NodeType // lower-cased names and aliases
}

var _ graph.Catalog = (*Registry)(nil)

// NewRegistry builds every registered node type with svcs. It panics if two
// types claim the same name or alias, a programming error caught by tests.
func NewRegistry(svcs Services) *Registry {
	constructorsMu.Lock()
	ctors := make([]Constructor, 0, len(constructors))
	for _, c := range constructors {
		ctors = append(ctors, c)
	}
	constructorsMu.Unlock()

	s := svcs
	r := &Registry{byName: map[string]*graph.NodeType{}, folded: map[string]*graph.NodeType{}}
	for _, c := range ctors {
		t := c(&s)
		for _, name := range append([]string{t.Name}, t.Aliases...) {
			if prev, dup := r.byName[name]; dup {
				panic(fmt.Sprintf("nodes: %q names both %s and %s", name, prev.Name, t.Name))
			}
			r.byName[name] = t
			r.folded[strings.ToLower(name)] = t
		}
		r.types = append(r.types, t)
	}
	s.catalog = r
	sort.Slice(r.types, func(i, j int) bool { return r.types[i].Name < r.types[j].Name })
	return r
}

// Lookup finds a type by its name or an alias: exactly as written (Thoth and
// Magick match node names exactly), else ignoring case.
func (r *Registry) Lookup(name string) (*graph.NodeType, bool) {
	if t, ok := r.byName[name]; ok {
		return t, true
	}
	t, ok := r.folded[strings.ToLower(name)]
	return t, ok
}

// Types returns every node type, sorted by name.
func (r *Registry) Types() []*graph.NodeType {
	return append([]*graph.NodeType(nil), r.types...)
}
