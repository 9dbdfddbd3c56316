package nodes

import "github.com/grimoire-run/grimoire/graph"

func init() {
	Register("JSON To Array", func(*Services) *graph.NodeType {
		return jsonToValueType("JSON To Array", "array", "Magick's nodes/array/JSONToArray.ts")
	})
}
