package nodes

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/services"
)

// thothFewshotSpec describes one of Thoth's "AI/ML" helper components
// (Entity Detector, Time Detector, Safety Verifier…): a fixed fewshot
// prompt that the node's input is appended to, one completion with fixed
// sampling, and a parser that turns the completion into outputs. Every such
// type is built by thothFewshotType from its spec, so that each type's file
// holds only its prompt and its parser.
type thothFewshotSpec struct {
	name    string
	aliases []string
	doc     string
	// inputs are the data inputs the prompt reads, in the editor's order;
	// each must be connected and have a value.
	inputs  []graph.Port
	outputs []graph.Port // data outputs; "trigger" is added
	// fewshot is the built-in prompt prefix. When fewshotField is true a
	// non-empty data.fewshot replaces it, as Thoth's FewshotControl edits
	// it in node.data.
	fewshot      string
	fewshotField bool
	// requireText fails on an empty input as well as a missing one (Action
	// Type Classifier throws on a falsy action).
	requireText bool
	// Thoth's request body for this component.
	stop      []string
	maxTokens int
	// prompt builds the prompt from the fewshot and the inputs (by port).
	prompt func(fewshot string, in map[string]string) string
	// parse turns the completion into the data outputs. An output the
	// original leaves undefined is left out of the map.
	parse func(completion string) graph.Outputs
}

// thothFewshotType turns a spec into a registered type's constructor.
func thothFewshotType(spec thothFewshotSpec) Constructor {
	return func(svcs *Services) *graph.NodeType {
		cfg := []graph.ConfigField{}
		if spec.fewshotField {
			cfg = append(cfg, graph.ConfigField{Name: "fewshot", Type: "string",
				Doc: "the fewshot prompt the input is appended to (default: Thoth's built-in one; keep its format, the parser relies on it)"})
		}
		for _, f := range samplingFields {
			switch f.Name {
			case "maxTokens":
				f.Default = spec.maxTokens
			case "temperature":
				f.Default = 0
			case "stop":
				f.Default = strings.Join(spec.stop, ",")
			}
			cfg = append(cfg, f)
		}
		return &graph.NodeType{
			Name:    spec.name,
			Aliases: spec.aliases,
			Family:  "llm",
			Doc:     spec.doc,
			Inputs:  append(append([]graph.Port{}, spec.inputs...), triggerIn),
			Outputs: append([]graph.Port{triggerOut}, spec.outputs...),
			// A model's answer differs from call to call; cached like
			// Generator's, since the call is what the cache saves.
			Nondeterministic: true,
			Cacheable:        true,
			Config:           cfg,
			New: func(n *graph.Node) (graph.Worker, error) {
				c, err := newThothCompleter(svcs, n, spec.stop, spec.maxTokens)
				if err != nil {
					return nil, err
				}
				fewshot := spec.fewshot
				if spec.fewshotField {
					if v, ok := n.Config["fewshot"]; ok && v != nil {
						s, isStr := v.(string)
						if !isStr {
							return nil, fmt.Errorf(`config "fewshot": want the prompt as a string, got %T`, v)
						}
						if s != "" {
							fewshot = s
						}
					}
				}
				return &thothFewshotWorker{spec: spec, fewshot: fewshot, completer: c}, nil
			},
		}
	}
}

type thothFewshotWorker struct {
	spec      thothFewshotSpec
	fewshot   string
	completer *thothCompleter
}

func (w *thothFewshotWorker) Work(ctx context.Context, a *graph.Activation) (graph.Result, error) {
	in := make(map[string]string, len(w.spec.inputs))
	for _, p := range w.spec.inputs {
		v, ok := a.Input(p.Name)
		if !ok || v == nil {
			return graph.Result{}, fmt.Errorf("%s: input %q has no value; connect %s to it", w.spec.name, p.Name, p.Doc)
		}
		s := thothJSString(v)
		if w.spec.requireText && s == "" {
			return graph.Result{}, fmt.Errorf("%s: input %q is empty; it needs %s", w.spec.name, p.Name, p.Doc)
		}
		in[p.Name] = s
	}
	completion, err := w.completer.complete(ctx, a, w.spec.prompt(w.fewshot, in))
	if err != nil {
		return graph.Result{}, fmt.Errorf("%s: %w", w.spec.name, err)
	}
	return graph.Result{Outputs: w.spec.parse(completion)}, nil
}

// thothCompleter sends one prompt to the completion service with a Thoth
// component's sampling: the body the component hard-codes, each field
// overridable by the node's config (Grimoire's addition; Thoth spells never
// set them).
type thothCompleter struct {
	svcs     *Services
	sampling sampling
}

func newThothCompleter(svcs *Services, n *graph.Node, stop []string, maxTokens int) (*thothCompleter, error) {
	s, err := readSampling(n, maxTokens)
	if err != nil {
		return nil, err
	}
	if s.stop == nil {
		s.stop = stop
	}
	if s.temp == nil {
		zero := float32(0) // every component sends temperature 0.0
		s.temp = &zero
	}
	return &thothCompleter{svcs: svcs, sampling: s}, nil
}

// complete returns the completion's text, streaming its tokens to the
// node's partial output and reporting its usage.
func (c *thothCompleter) complete(ctx context.Context, a *graph.Activation, prompt string) (string, error) {
	if c.svcs.Completion == nil {
		return "", services.ErrNoCompletionEndpoint
	}
	req := c.sampling.request(c.svcs)
	// Thoth's client trims the end of every prompt before sending it
	// (client/src/services/game-api/text.ts: prompt.trimEnd()).
	req.Prompt = strings.TrimRightFunc(prompt, thothIsJSSpace)
	resp, err := c.svcs.Completion.Complete(ctx, req, a.Emit)
	if err != nil {
		return "", fmt.Errorf("completion (model %q): %w", req.Model, err)
	}
	reportUsage(a, req.Model, resp.Usage)
	return resp.Text, nil
}

// thothIsJSSpace is the white space JavaScript's trim removes.
func thothIsJSSpace(r rune) bool { return unicode.IsSpace(r) || r == '\uFEFF' }

// thothTrim is JavaScript's String.prototype.trim.
func thothTrim(s string) string { return strings.TrimFunc(s, thothIsJSSpace) }

// thothJSString renders a value as JavaScript's string concatenation does,
// which is how Thoth's components put an input into the prompt: numbers
// and booleans as written, arrays joined with "," (Array.prototype.join).
// Objects, which JavaScript would render as "[object Object]", become JSON
// so that the model sees their content.
func thothJSString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return thothJSNumber(x)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = thothJSString(e)
		}
		return strings.Join(parts, ",")
	}
	return text(v)
}

// thothJSNumber formats a number like JavaScript's Number.prototype.toString
// for the values spells carry (integers and ordinary decimals).
func thothJSNumber(f float64) string {
	if f != f {
		return "NaN"
	}
	if f > 1e308 {
		return "Infinity"
	}
	if f < -1e308 {
		return "-Infinity"
	}
	abs := f
	if abs < 0 {
		abs = -abs
	}
	if abs != 0 && (abs >= 1e21 || abs < 1e-6) {
		s := strconv.FormatFloat(f, 'e', -1, 64)
		// Go writes e+21 / e-07; JavaScript writes e+21 / e-7.
		mant, exp, _ := strings.Cut(s, "e")
		sign := exp[:1]
		exp = strings.TrimLeft(exp[1:], "0")
		return mant + "e" + sign + exp
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}
