package nodes

import (
	"fmt"
	"strings"

	"github.com/grimoire-run/grimoire/graph"
)

func init() {
	Register("Boolean", func(*Services) *graph.NodeType {
		return variableType("Boolean", "Boolean Variable", "boolean", "A fixed true or false, evaluated when a node pulls it.", asBool)
	})
}

func asBool(v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return false, nil
	case bool:
		return x, nil
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true", "1", "yes", "on":
			return true, nil
		case "false", "0", "no", "off", "":
			return false, nil
		}
		return nil, fmt.Errorf("%q is not true or false", x)
	case float64:
		return x != 0, nil
	}
	return nil, fmt.Errorf("want true or false, got %T", v)
}
