package nodes_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/nodes"
)

func TestAskConfigurationErrorsSayWhatToWrite(t *testing.T) {
	reg := nodes.NewRegistry(nodes.Services{})
	typ, ok := reg.Lookup("Ask")
	if !ok {
		t.Fatal("no Ask type")
	}
	for _, tc := range []struct {
		cfg  map[string]any
		want string
	}{
		{map[string]any{}, `"prompt" is empty`},
		{map[string]any{"prompt": "{{#if}}"}, `"prompt"`},
		{map[string]any{"prompt": "ok?", "schema": "boolean"}, `"schema" is a string`},
		{map[string]any{"prompt": "ok?", "schema": map[string]any{"type": "nosuch"}}, `"schema"`},
		{map[string]any{"prompt": "ok?", "deadline": "tomorrow"}, `"deadline" "tomorrow"`},
		{map[string]any{"prompt": "ok?", "deadline": "-1h"}, `positive duration`},
		{map[string]any{"prompt": "ok?", "onDeadline": "retry"}, `"fail" or "timeout"`},
		{map[string]any{"prompt": "ok?", "answeredBy": []any{"ada", 3}}, `"answeredBy"`},
		{map[string]any{"prompt": "ok?", "answeredBy": 3.0}, `"answeredBy" is a float64`},
	} {
		_, err := typ.New(&graph.Node{ID: "ask", Type: "Ask", Config: tc.cfg})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("config %v: error %v, want it to say %s", tc.cfg, err, tc.want)
		}
	}
}

// The worker never completes: it returns the question, prompt rendered,
// answeredBy defaulting to the run's user.
func TestAskAsksTheRunsUserByDefault(t *testing.T) {
	reg := nodes.NewRegistry(nodes.Services{})
	s := &graph.Spell{ID: "ask", Nodes: []graph.Node{
		{ID: "start", Type: "Module Trigger In"},
		{ID: "in", Type: "Input", Config: map[string]any{"name": "draft"}},
		{ID: "ask", Type: "Ask", Config: map[string]any{"prompt": "Send {{context}}?", "answeredBy": "ada, bob", "deadline": "1h", "onDeadline": "timeout", "timeoutValue": false}},
		{ID: "ask2", Type: "Ask", Config: map[string]any{"prompt": "Sure?"}},
	}, Edges: []graph.Edge{
		{From: graph.PortRef{Node: "start", Port: "trigger"}, To: graph.PortRef{Node: "ask", Port: "trigger"}},
		{From: graph.PortRef{Node: "start", Port: "trigger"}, To: graph.PortRef{Node: "ask2", Port: "trigger"}},
		{From: graph.PortRef{Node: "in", Port: "output"}, To: graph.PortRef{Node: "ask", Port: "context"}},
	}}
	questions := map[string]*graph.Question{}
	_, err := (&graph.Runner{Catalog: reg}).Run(context.Background(), s, graph.RunRequest{User: "cy", Inputs: map[string]any{"draft": "the post"},
		Observer: graph.ObserverFunc(func(e graph.NodeEvent) {
			if e.Kind == graph.NodeWaiting {
				questions[e.NodeID] = e.Question
			}
		})})
	if !errors.Is(err, graph.ErrWaiting) {
		t.Fatalf("run: %v, want ErrWaiting", err)
	}
	q := questions["ask"]
	if q == nil || q.Prompt != "Send the post?" || strings.Join(q.AnsweredBy, ",") != "ada,bob" || q.Deadline.IsZero() || q.OnDeadline != "timeout" || q.TimeoutValue != false {
		t.Fatalf("ask asked %+v", q)
	}
	if q := questions["ask2"]; q == nil || strings.Join(q.AnsweredBy, ",") != "cy" || !q.Deadline.IsZero() || q.OnDeadline != "fail" {
		t.Fatalf("ask2 asked %+v", q)
	}
}
