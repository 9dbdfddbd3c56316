package nodes

import "github.com/grimoire-run/grimoire/graph"

func init() {
	Register("Destructure", func(*Services) *graph.NodeType {
		return objectValuesType("Destructure", "utility", "Magick's nodes/utility/Destructure.ts")
	})
}
