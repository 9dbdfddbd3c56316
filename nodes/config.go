package nodes

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/grimoire-run/grimoire/graph"
)

// Ports and config fields that many types share.
var (
	triggerIn  = graph.Port{Name: "trigger", Kind: graph.Trigger, Doc: "runs the node"}
	triggerOut = graph.Port{Name: "trigger", Kind: graph.Trigger, Doc: "fires when the node has run"}
	nameField  = graph.ConfigField{Name: "name", Type: "string", Doc: "the name callers use for this port of the spell"}
	keyField   = graph.ConfigField{Name: "socketKey", Type: "string", Doc: "stable key of this port when the spell is used as a sub-spell (Thoth/Magick)"}
)

// fixedName is a graph.NodeType DefaultName that is the same for every node.
func fixedName(name string) func(*graph.Node) string {
	return func(*graph.Node) string { return name }
}

func dataIn(name, typ, doc string) graph.Port {
	return graph.Port{Name: name, Kind: graph.Data, Type: typ, Doc: doc}
}

func dataOut(name, typ, doc string) graph.Port {
	return graph.Port{Name: name, Kind: graph.Data, Type: typ, Doc: doc}
}

// configString returns the first non-empty string among the given keys.
func configString(n *graph.Node, keys ...string) string {
	for _, k := range keys {
		if s, ok := n.Config[k].(string); ok && s != "" {
			return s
		}
	}
	return ""
}

// configValue returns the first present, non-nil value among the keys.
func configValue(n *graph.Node, keys ...string) (any, bool) {
	for _, k := range keys {
		if v, ok := n.Config[k]; ok && v != nil {
			return v, true
		}
	}
	return nil, false
}

// configNumber reads a number written as a JSON number or as a string (the
// Thoth editor saves numeric fields as strings such as "0.7").
func configNumber(n *graph.Node, keys ...string) (float64, bool, error) {
	for _, k := range keys {
		v, ok := n.Config[k]
		if !ok || v == nil {
			continue
		}
		f, err := toNumber(v)
		if err != nil {
			return 0, false, fmt.Errorf("config %q: %w", k, err)
		}
		if s, isStr := v.(string); isStr && strings.TrimSpace(s) == "" {
			continue
		}
		return f, true, nil
	}
	return 0, false, nil
}

func toNumber(v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case float32:
		return float64(x), nil
	case int:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case json.Number:
		return x.Float64()
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case string:
		s := strings.TrimSpace(x)
		if s == "" {
			return 0, nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a number", x)
		}
		return f, nil
	}
	return 0, fmt.Errorf("want a number, got %T", v)
}

// truthy is JavaScript truthiness, which Thoth's gates use.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case float64:
		return x != 0 && x == x
	case float32:
		return x != 0 && x == x
	case int:
		return x != 0
	case int64:
		return x != 0
	}
	return true
}

// text renders a value as a string the way a template or an LLM prompt
// wants it: strings as they are, everything else as JSON.
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// portName is how users refer to a declared port: its name, else its key.
func portName(d graph.PortDecl) string {
	if d.Name != "" {
		return d.Name
	}
	return d.Key
}

// namedInputs maps a node's declared data inputs to their first values,
// keyed by the port's name (and also by its key when that differs), as
// Thoth's workers see inputs.
func namedInputs(a *graph.Activation) map[string]any {
	out := make(map[string]any, len(a.Inputs))
	for _, d := range a.Node.Inputs {
		if d.Kind != graph.Data {
			continue
		}
		v, ok := a.Input(d.Key)
		if !ok {
			continue
		}
		out[portName(d)] = v
		if d.Key != portName(d) {
			out[d.Key] = v
		}
	}
	for port, vs := range a.Inputs { // fixed ports
		if _, done := out[port]; !done && len(vs) > 0 {
			out[port] = vs[0]
		}
	}
	return out
}

// portsLike returns the trigger outputs of the activation's node.
func triggerOutputs(a *graph.Activation) []string {
	var out []string
	for _, p := range a.Type.OutputPorts(a.Node) {
		if p.Kind == graph.Trigger {
			out = append(out, p.Name)
		}
	}
	return out
}

// closeAllBut lists every trigger output except open.
func closeAllBut(a *graph.Activation, open string) []string {
	var closed []string
	for _, p := range triggerOutputs(a) {
		if p != open {
			closed = append(closed, p)
		}
	}
	return closed
}
