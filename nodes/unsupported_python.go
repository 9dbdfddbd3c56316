package nodes

import (
	"errors"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Python", newPython) }

// Magick's Python node (code/Python.ts) ran code in a Python interpreter.
// Grimoire's sandbox runs JavaScript only, so a Python node fails when the
// spell is validated (or loaded to run), not halfway through a run.
func newPython(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:         "Python",
		Family:       "unsupported",
		Doc:          "Unsupported: Magick's Python code node; a spell using it fails validation until it is ported to a Code node.",
		Inputs:       []graph.Port{triggerIn},
		Outputs:      []graph.Port{triggerOut},
		DynamicPorts: true,
		Config:       []graph.ConfigField{{Name: "code", Type: "string", Doc: "the Python code (not run)"}},
		New: func(*graph.Node) (graph.Worker, error) {
			return nil, errors.New("unsupported: Python code node; port it to JavaScript (a Code node)")
		},
	}
}
