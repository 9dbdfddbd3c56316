package nodes

import (
	"context"
	"errors"
	"strings"

	"github.com/grimoire-run/grimoire/graph"
)

func init() { Register("Text Template", newTextTemplate) }

func newTextTemplate(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:   "Text Template",
		Family: "text",
		Doc:    "Renders a Handlebars template; each declared input is a template variable.",
		Inputs: []graph.Port{triggerIn},
		Outputs: []graph.Port{
			dataOut("output", "string", "the rendered text"),
			dataOut("prompt", "string", "the rendered text, under the name Magick's Text Template gives it"),
			triggerOut,
		},
		DynamicPorts: true,
		Config: []graph.ConfigField{
			{Name: "template", Type: "string", Doc: "required: Handlebars template, e.g. \"Hello {{name}}\" (Thoth: fewshot or text)"},
		},
		New: func(n *graph.Node) (graph.Worker, error) {
			// Magick turns the template's first "\r\n" into "\n" (a
			// JavaScript string replace changes the first match only).
			src := strings.Replace(configString(n, "template", "fewshot", "text"), "\r\n", "\n", 1)
			if src == "" {
				return nil, errors.New(`config "template" is empty; write a Handlebars template such as "Hello {{name}}"`)
			}
			tpl, err := parseHandlebars(src)
			if err != nil {
				return nil, err
			}
			return graph.WorkerFunc(func(_ context.Context, a *graph.Activation) (graph.Result, error) {
				out, err := tpl.render(namedInputs(a))
				if err != nil {
					return graph.Result{}, err
				}
				return graph.Result{Outputs: graph.Outputs{"output": out, "prompt": out}}, nil
			}), nil
		},
	}
}
