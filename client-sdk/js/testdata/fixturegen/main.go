// Command fixturegen runs the SDK's fixture spells with the server's own
// runner and node types, and writes each run's node-output cache (what
// run:completed.nodes carries) to test/fixtures/runs/, so that the replay unit
// tests check the TypeScript walker against the Go runner without a server.
//
// It lives under testdata/ so that `go build ./...` and `go vet ./...` skip it.
// Run from the repository root:
//
//	go run ./client-sdk/js/testdata/fixturegen
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/nodes"
	"github.com/grimoire-run/grimoire/services/jsvm"
)

type nodeResult struct {
	NodeID     string        `json:"nodeId"`
	NodeType   string        `json:"nodeType,omitempty"`
	Path       []string      `json:"path,omitempty"`
	Activation int           `json:"activation"`
	Trigger    string        `json:"trigger,omitempty"`
	Inputs     graph.Inputs  `json:"inputs,omitempty"`
	Outputs    graph.Outputs `json:"outputs,omitempty"`
	Fired      []string      `json:"fired,omitempty"`
	Cached     bool          `json:"cached"`
}

type fixture struct {
	Spell      string         `json:"spell"`
	Inputs     map[string]any `json:"inputs"`
	InputOrder []string       `json:"inputOrder"`
	Outputs    map[string]any `json:"outputs"`
	Nodes      []nodeResult   `json:"nodes"`
	Skipped    []string       `json:"skipped"`
}

type recorder struct {
	mu      sync.Mutex
	started map[string]graph.NodeEvent
	nodes   []nodeResult
	skipped []string
}

func key(e graph.NodeEvent) string { return fmt.Sprint(e.Path, e.NodeID, e.Activation) }

func (r *recorder) ObserveNode(e graph.NodeEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch e.Kind {
	case graph.NodeStarted:
		r.started[key(e)] = e
	case graph.NodeCompleted, graph.NodeReplayed:
		nr := nodeResult{NodeID: e.NodeID, NodeType: e.NodeType, Path: e.Path, Activation: e.Activation,
			Outputs: e.Outputs, Fired: e.Fired, Cached: e.Kind == graph.NodeReplayed}
		if s, ok := r.started[key(e)]; ok {
			nr.Trigger, nr.Inputs = s.Trigger, s.Inputs
		}
		r.nodes = append(r.nodes, nr)
	case graph.NodeSkipped:
		if len(e.Path) == 0 {
			r.skipped = append(r.skipped, e.NodeID)
		}
	}
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fixturegen:", err)
		os.Exit(1)
	}
}

func run() error {
	dir := "client-sdk/js/test/fixtures"
	sb := jsvm.New(jsvm.Options{})
	defer sb.Close()
	catalog := nodes.NewRegistry(nodes.Services{Sandbox: sb})
	runner := &graph.Runner{Catalog: catalog, NodeTimeout: 10 * time.Second}
	cases := []struct {
		name, spell string
		inputs      map[string]any
		order       []string
	}{
		{"thoth_long", "thoth_code_gate.json", map[string]any{"Input - Default": "hello there"}, []string{"Input - Default"}},
		{"thoth_short", "thoth_code_gate.json", map[string]any{"Input - Default": "hey"}, []string{"Input - Default"}},
		{"branches_ada", "native_branches.json", map[string]any{"name": "Ada"}, []string{"name"}},
		{"branches_bob", "native_branches.json", map[string]any{"name": "Bob"}, []string{"name"}},
		{"magick_default_yes", "magick_gate.json", map[string]any{"Input - Default": "hi", "Flag": true}, []string{"Input - Default", "Flag"}},
		{"magick_flag_no", "magick_gate.json", map[string]any{"Flag": false, "Input - Default": "hi"}, []string{"Flag", "Input - Default"}},
		{"slow", "native_slow.json", map[string]any{"ms": 1}, []string{"ms"}},
	}
	for _, c := range cases {
		data, err := os.ReadFile(filepath.Join(dir, "spells", c.spell))
		if err != nil {
			return err
		}
		s, _, err := graph.ParseSpell(data)
		if err != nil {
			return fmt.Errorf("%s: %w", c.spell, err)
		}
		rec := &recorder{started: map[string]graph.NodeEvent{}, skipped: []string{}}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		res, err := runner.Run(ctx, s, graph.RunRequest{RunID: "fixture-" + c.name, Inputs: c.inputs, InputOrder: c.order, Observer: rec})
		cancel()
		if err != nil {
			return fmt.Errorf("run %s: %w", c.name, err)
		}
		f := fixture{Spell: c.spell, Inputs: c.inputs, InputOrder: c.order, Outputs: res.Outputs, Nodes: rec.nodes, Skipped: rec.skipped}
		out, err := json.MarshalIndent(f, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "runs", c.name+".json"), append(out, '\n'), 0o644); err != nil {
			return err
		}
		fmt.Printf("%s: %d activations, outputs %v\n", c.name, len(rec.nodes), res.Outputs)
	}
	return nil
}
