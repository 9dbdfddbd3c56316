package nodes

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/services"
)

func init() { Register("Generator", newGenerator) }

// Generator is Thoth's completion node: it renders data.fewshot as a
// Handlebars template over its inputs and completes the prompt.
func newGenerator(svcs *Services) *graph.NodeType {
	return &graph.NodeType{
		Name:         "Generator",
		Family:       "llm",
		Doc:          "Completes a Handlebars prompt (fewshot) with the completion service; streams the tokens.",
		Inputs:       []graph.Port{triggerIn},
		Outputs:      []graph.Port{triggerOut, dataOut("result", "string", "the completion"), dataOut("composed", "string", "the prompt followed by the completion")},
		DynamicPorts: true,
		// A model's answer differs from call to call.
		Nondeterministic: true,
		Cacheable:        true,
		Config: []graph.ConfigField{
			{Name: "fewshot", Type: "string", Required: true, Doc: "the prompt, a Handlebars template over the inputs"},
			{Name: "model", Type: "string", Doc: "model name (default: the server's default model)"},
			{Name: "stop", Type: "string", Doc: "stop sequences: one string such as \"\\n\", or a comma-separated list"},
			{Name: "maxTokens", Type: "number", Default: 50, Doc: "most tokens to generate"},
			{Name: "temp", Type: "number", Default: 0.7, Doc: "sampling temperature (also read from temperature)"},
			{Name: "frequencyPenalty", Type: "number", Default: 0, Doc: "frequency penalty"},
		},
		New: func(n *graph.Node) (graph.Worker, error) {
			src := configString(n, "fewshot")
			if src == "" {
				return nil, errors.New(`config "fewshot" is empty; write the prompt, e.g. "Q: {{question}}\nA:"`)
			}
			tpl, err := parseHandlebars(src)
			if err != nil {
				return nil, err
			}
			w := &generatorWorker{svcs: svcs, tpl: tpl, model: configString(n, "model"), stop: parseStop(n.Config["stop"])}
			w.maxTokens = 50
			if v, ok, err := configNumber(n, "maxTokens", "max_tokens"); err != nil {
				return nil, err
			} else if ok {
				w.maxTokens = int(v)
			}
			if v, ok, err := configNumber(n, "temp", "temperature"); err != nil {
				return nil, err
			} else if ok {
				t := float32(v)
				w.temp = &t
			}
			if v, ok, err := configNumber(n, "frequencyPenalty"); err != nil {
				return nil, err
			} else if ok {
				f := float32(v)
				w.freq = &f
			}
			return w, nil
		},
	}
}

type generatorWorker struct {
	svcs       *Services
	tpl        *handlebars
	model      string
	stop       []string
	maxTokens  int
	temp, freq *float32
}

func (w *generatorWorker) Work(ctx context.Context, a *graph.Activation) (graph.Result, error) {
	if w.svcs.Completion == nil {
		return graph.Result{}, services.ErrNoCompletionEndpoint
	}
	prompt, err := w.tpl.render(namedInputs(a))
	if err != nil {
		return graph.Result{}, err
	}
	model := w.model
	if model == "" {
		model = w.svcs.DefaultModel
	}
	req := services.CompletionRequest{
		Model: model, Prompt: prompt, MaxTokens: w.maxTokens, Temperature: w.temp,
		FrequencyPenalty: w.freq, Stop: w.stop,
	}
	resp, err := w.svcs.Completion.Complete(ctx, req, a.Emit)
	if err != nil {
		return graph.Result{}, fmt.Errorf("completion (model %q): %w", model, err)
	}
	u := resp.Usage
	if u.Model == "" {
		u.Model = model
	}
	a.ReportUsage(graph.Usage{Model: u.Model, PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, TotalTokens: u.TotalTokens, Calls: 1})
	return graph.Result{Outputs: graph.Outputs{"result": resp.Text, "composed": prompt + resp.Text}}, nil
}

// parseStop reads Thoth's stop field: a single sequence ("\n", written
// escaped or not), a comma-separated list, or a JSON array.
func parseStop(v any) []string {
	var parts []string
	switch x := v.(type) {
	case string:
		if x == "" {
			return nil
		}
		if x == "," {
			return []string{","}
		}
		parts = strings.Split(x, ",")
	case []any:
		for _, e := range x {
			if s, ok := e.(string); ok {
				parts = append(parts, s)
			}
		}
	default:
		return nil
	}
	unescape := strings.NewReplacer(`\n`, "\n", `\t`, "\t", `\r`, "\r")
	var out []string
	for _, p := range parts {
		p = unescape.Replace(p)
		if strings.TrimSpace(p) != "" || strings.ContainsAny(p, "\n\t\r") {
			if strings.TrimSpace(p) != "" {
				p = strings.TrimSpace(p)
			}
			out = append(out, p)
		}
	}
	return out
}
