package nodes

import "github.com/grimoire-run/grimoire/graph"

func init() {
	Register("Text", func(*Services) *graph.NodeType {
		return variableType("Text", "Text Variable", "string", "A fixed multi-line text, evaluated when a node pulls it.", asString)
	})
}
