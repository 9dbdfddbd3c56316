package nodes_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/nodes"
	"github.com/grimoire-run/grimoire/services/jsvm"
)

// FuzzNodeTypes gives every registered node type arbitrary configuration
// and arbitrary values on every data input, and fails if any of them
// panics, in checking its configuration or in running. An error is fine:
// bad input must get one, never a crash.
func FuzzNodeTypes(f *testing.F) {
	for _, seed := range []struct{ cfg, value string }{
		{`{}`, `null`},
		{`{}`, `""`},
		{`{"name":"x","code":"function worker(){return {}}"}`, `"hello world"`},
		{`{"_var":"[1,2","fewshot":"{{#each x}}","template":"{{"}`, `[]`},
		{`{"index":-1,"start":"9e999","end":null,"separator":7}`, `[[1,"a"],{"b":null},true]`},
		{`{"inputs":[{"name":7}],"outputs":"x","outputType":"Default"}`, `{"content":5,"sender":[]}`},
		{`{"model":"","maxTokens":"lots","temperature":"hot","stop":[1]}`, `1.7976931348623157e308`},
		{`{"keys":["a","b"],"path":"a.b.c","regex":"(a+)+$","replace":"$1"}`, `"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"`},
		{`{"value":{"deep":{"deeper":[]}}}`, `-0`},
		{`{"count":1e9,"size":-5,"k":"many"}`, `{"embedding":[1,"x",null]}`},
	} {
		f.Add(seed.cfg, seed.value)
	}
	sb := jsvm.New(jsvm.Options{})
	f.Cleanup(func() { sb.Close() })
	reg := nodes.NewRegistry(nodes.Services{Sandbox: sb})
	valueType := &graph.NodeType{
		Name: "Fuzz Value", Outputs: []graph.Port{{Name: "output", Kind: graph.Data, Type: "any"}},
		New: func(n *graph.Node) (graph.Worker, error) {
			return graph.WorkerFunc(func(context.Context, *graph.Activation) (graph.Result, error) {
				return graph.Result{Outputs: graph.Outputs{"output": n.Config["value"]}}, nil
			}), nil
		},
	}
	cat := &testCatalog{reg: reg, extra: map[string]*graph.NodeType{"Fuzz Value": valueType}}
	runner := &graph.Runner{Catalog: cat, NodeTimeout: 2 * time.Second, MaxActivations: 200}

	f.Fuzz(func(t *testing.T, cfgJSON, valueJSON string) {
		var cfg map[string]any
		if json.Unmarshal([]byte(cfgJSON), &cfg) != nil {
			cfg = map[string]any{"value": cfgJSON}
		}
		var value any
		if json.Unmarshal([]byte(valueJSON), &value) != nil {
			value = valueJSON
		}
		for _, typ := range reg.Types() {
			s := newSpell("fuzz").node("v", "Fuzz Value", map[string]any{"value": value}).node("n", typ.Name, cfg)
			hasTrigger := false
			for _, p := range typ.Inputs {
				switch p.Kind {
				case graph.Data:
					s.edge("v.output>n." + p.Name)
				case graph.Trigger:
					hasTrigger = true
				}
			}
			if hasTrigger {
				s.node("start", "Module Trigger In", nil).edge("start.trigger>n.trigger")
			}
			spell := s.build()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err := runner.Run(ctx, spell, graph.RunRequest{RunID: "fuzz", Inputs: map[string]any{"Input - Default": value}})
			cancel()
			if err != nil && (strings.Contains(err.Error(), "panic:") || strings.Contains(err.Error(), "a bug in the node type")) {
				t.Fatalf("node type %s, config %s, input %s: %v", typ.Name, cfgJSON, valueJSON, err)
			}
		}
	})
}
