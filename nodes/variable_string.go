package nodes

import "github.com/grimoire-run/grimoire/graph"

func init() {
	Register("String", func(*Services) *graph.NodeType {
		return variableType("String", "String Variable", "string", "A fixed string, evaluated when a node pulls it.", asString)
	})
}
