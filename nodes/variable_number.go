package nodes

import "github.com/grimoire-run/grimoire/graph"

func init() {
	Register("Number", func(*Services) *graph.NodeType {
		return variableType("Number", "Number Variable", "number", "A fixed number, evaluated when a node pulls it.",
			func(v any) (any, error) { return toNumber(v) })
	})
}
