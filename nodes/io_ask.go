package nodes

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/internal/jsonschema"
)

func init() { Register("Ask", newAsk) }

// AnswerFromAnyone is the answeredBy entry that lets anyone who may see the
// run answer.
const AnswerFromAnyone = "*"

func newAsk(*Services) *graph.NodeType {
	return &graph.NodeType{
		Name:   "Ask",
		Family: "io",
		Doc:    "Pauses the run until a person answers a question (socket run:answer, REST POST /v1/runs/{id}/answers); the run holds nothing while it waits.",
		Inputs: []graph.Port{dataIn("context", "any", "a value the prompt may show as {{context}} (declared inputs are template variables too)"), triggerIn},
		Outputs: []graph.Port{
			dataOut("answer", "any", "the answer, valid against the schema (on a timeout: timeoutValue)"),
			{Name: "trigger", Kind: graph.Trigger, Doc: "fires when the question is answered"},
			{Name: "timeout", Kind: graph.Trigger, Doc: "fires when the deadline passes unanswered (onDeadline \"timeout\")"},
		},
		// Each activation is a fresh question: never served from the
		// cache, replayed only from its run's recorded answer.
		Nondeterministic: true,
		Config: []graph.ConfigField{
			{Name: "prompt", Type: "string", Required: true, Doc: "the question, a Handlebars template over the node's inputs, e.g. \"Send {{draft}}?\""},
			{Name: "schema", Type: "object", Doc: "JSON Schema the answer must satisfy (default: any value)"},
			{Name: "answeredBy", Type: "string or array", Doc: "who may answer: the run's user (default), \"*\" for anyone who may see the run, or a list of users"},
			{Name: "deadline", Type: "string", Doc: "how long to wait, a Go duration such as \"48h\" (default: no deadline)"},
			{Name: "onDeadline", Type: "string", Default: "fail", Doc: "when the deadline passes: \"fail\" fails the node, \"timeout\" fires the timeout output with timeoutValue"},
			{Name: "timeoutValue", Type: "any", Doc: "the answer output when the deadline passes (onDeadline \"timeout\")"},
		},
		New: newAskWorker,
	}
}

type askWorker struct {
	prompt       *handlebars
	schema       map[string]any
	answeredBy   []string
	deadline     time.Duration
	onDeadline   string
	timeoutValue any
}

func newAskWorker(n *graph.Node) (graph.Worker, error) {
	src := configString(n, "prompt")
	if src == "" {
		return nil, errors.New(`config "prompt" is empty; write the question, e.g. "Approve {{draft}}?"`)
	}
	tpl, err := parseHandlebars(src)
	if err != nil {
		return nil, fmt.Errorf("config \"prompt\": %w", err)
	}
	w := &askWorker{prompt: tpl, onDeadline: "fail"}
	if v, ok := configValue(n, "schema"); ok {
		schema, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf(`config "schema" is a %T; give a JSON Schema object such as {"type":"boolean"}`, v)
		}
		if _, err := jsonschema.Compile(schema); err != nil {
			return nil, fmt.Errorf(`config "schema": %w`, err)
		}
		w.schema = schema
	}
	switch v := n.Config["answeredBy"].(type) {
	case nil:
	case string:
		for _, u := range strings.Split(v, ",") {
			if u = strings.TrimSpace(u); u != "" {
				w.answeredBy = append(w.answeredBy, u)
			}
		}
	case []any:
		for _, u := range v {
			s, ok := u.(string)
			if !ok || s == "" {
				return nil, fmt.Errorf(`config "answeredBy" holds %v; list users by name (JWT subject), or write "*"`, u)
			}
			w.answeredBy = append(w.answeredBy, s)
		}
	default:
		return nil, fmt.Errorf(`config "answeredBy" is a %T; write a user, "*", or a list of users`, v)
	}
	if s := configString(n, "deadline"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf(`config "deadline" %q: write a positive duration such as "30m" or "48h"`, s)
		}
		w.deadline = d
	}
	switch s := configString(n, "onDeadline"); s {
	case "", "fail":
	case "timeout":
		w.onDeadline = s
	default:
		return nil, fmt.Errorf(`config "onDeadline" %q: write "fail" or "timeout"`, s)
	}
	w.timeoutValue = n.Config["timeoutValue"]
	return w, nil
}

// Work never completes the activation: it asks, and the run resumes with
// the answer (recorded as RunAnswered) as this activation's result.
func (w *askWorker) Work(_ context.Context, a *graph.Activation) (graph.Result, error) {
	prompt, err := w.prompt.render(namedInputs(a))
	if err != nil {
		return graph.Result{}, fmt.Errorf("prompt: %w", err)
	}
	q := graph.Question{Prompt: prompt, Schema: w.schema, AnsweredBy: w.answeredBy, OnDeadline: w.onDeadline, TimeoutValue: w.timeoutValue}
	if len(q.AnsweredBy) == 0 {
		q.AnsweredBy = []string{a.User()}
	}
	if w.deadline > 0 {
		q.Deadline = time.Now().Add(w.deadline)
	}
	return graph.Result{}, &graph.Waiting{Question: q}
}
