package graph

import (
	"fmt"
	"slices"
)

// InputSchema describes the run inputs a spell takes as a JSON Schema
// object (draft 2020-12), for callers that only see a schema, such as an
// agent calling the spell as a tool: one property per Input node (every
// RoleInput type, by the name it reads, the first node of a name winning as
// in CheckInputs), with
//   - "type" from the node's config "type" (string, number, integer,
//     boolean, object, array), else guessed from its default value, else
//     left open (any JSON value);
//   - "description" from the node's config "description", else a line naming
//     the Input node;
//   - "default" from its config "default" (or Magick's "defaultValue");
//   - "required" listing the inputs whose node says "required": true.
//
// An input type the schema cannot express is left open: CheckInputs, not
// the schema, is what a run's inputs are held to.
func (s *Spell) InputSchema(c Catalog) map[string]any {
	props := map[string]any{}
	var required []string
	for i := range s.Nodes {
		n := &s.Nodes[i]
		t, ok := c.Lookup(n.Type)
		if !ok || t.Role != RoleInput {
			continue
		}
		name := t.PortName(n)
		if _, dup := props[name]; dup {
			continue
		}
		p := map[string]any{}
		def, hasDefault := n.Config["default"]
		if !hasDefault {
			def, hasDefault = n.Config["defaultValue"]
		}
		if typ := schemaType(n.ConfigString("type")); typ != "" {
			p["type"] = typ
		} else if hasDefault {
			if typ := jsonType(def); typ != "" {
				p["type"] = typ
			}
		}
		if d := n.ConfigString("description"); d != "" {
			p["description"] = d
		} else {
			p["description"] = fmt.Sprintf("the run input %q (Input node %q)", name, n.ID)
		}
		if hasDefault && def != nil {
			p["default"] = def
		}
		props[name] = p
		if req, _ := n.Config["required"].(bool); req {
			required = append(required, name)
		}
	}
	slices.Sort(required)
	schema := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		schema["required"] = required
	}
	return schema
}

// schemaType maps an Input node's declared type to a JSON Schema type, ""
// for any value.
func schemaType(t string) string {
	switch t {
	case "string", "text":
		return "string"
	case "number", "float":
		return "number"
	case "integer", "int":
		return "integer"
	case "boolean", "bool":
		return "boolean"
	case "object":
		return "object"
	case "array", "list":
		return "array"
	}
	return ""
}

// jsonType is the JSON Schema type of a decoded JSON value, "" for null.
func jsonType(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case float64, float32, int, int64:
		return "number"
	case bool:
		return "boolean"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	return ""
}
