package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// greetState greets the input "name" with the names the spell's state
// already holds (State Read, before), then appends the name (State Write).
const greetState = `{"format": "grimoire/spell@1", "id": "greet-state", "meta": {"gameState": {"names": ["host"]}},
 "nodes": [
  {"id": "c", "type": "Code", "config": {"code": "function worker(inputs){ return { greeting: inputs.name + ' after ' + inputs.seen.join(',') } }"},
   "inputs": [{"key": "seen", "kind": "data"}, {"key": "name", "kind": "data"}], "outputs": [{"key": "greeting", "kind": "data"}]},
  {"id": "in", "type": "Input", "config": {"name": "name"}},
  {"id": "o", "type": "Output", "config": {"name": "greeting"}},
  {"id": "r", "type": "State Read", "outputs": [{"key": "names", "kind": "data"}]},
  {"id": "start", "type": "Module Trigger In"},
  {"id": "w", "type": "State Write", "inputs": [{"key": "names", "kind": "data"}]}
 ],
 "edges": [
  {"from": "c.greeting", "to": "o.input"}, {"from": "c.trigger", "to": "w.trigger"},
  {"from": "in.output", "to": "c.name"}, {"from": "in.output", "to": "w.names"},
  {"from": "r.names", "to": "c.seen"}, {"from": "start.trigger", "to": "c.trigger"},
  {"from": "w.trigger", "to": "o.trigger"}
 ]}`

// The spell state survives between `grimoire run`s (a new process each),
// and replay --verify and fork reproduce what a run read.
func TestSpellStateAcrossRunsReplayAndFork(t *testing.T) {
	data := t.TempDir()
	spell := writeFile(t, "greet-state.json", greetState)
	run := func(name string) (string, string) {
		t.Helper()
		out, errs, code := cli(t, data, "run", spell, "--input", "name="+name)
		if code != 0 {
			t.Fatalf("run %s: exit %d: %s", name, code, errs)
		}
		var got map[string]any
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("run %s: %q", name, out)
		}
		m := regexp.MustCompile(`run: (\S+)`).FindStringSubmatch(errs)
		if m == nil {
			t.Fatalf("stderr does not name the run: %q", errs)
		}
		g, _ := got["greeting"].(string)
		return g, m[1]
	}
	if g, _ := run("ada"); g != "ada after host" {
		t.Fatalf("first run: %q", g)
	}
	g, second := run("bo")
	if g != "bo after host,ada" {
		t.Fatalf("second run read %q: the first run's State Write is not in the state", g)
	}
	if g, _ := run("cy"); g != "cy after host,ada,bo" {
		t.Fatalf("third run: %q", g)
	}
	out, errs, code := cli(t, data, "replay", second, "--verify")
	if code != 0 || !strings.Contains(out, "verified") {
		t.Fatalf("replay --verify of a run that read state: exit %d\n%s%s", code, out, errs)
	}
	// The fork recomputes the greeting with the state the parent read,
	// not the state as it is now.
	out, errs, code = cli(t, data, "fork", second, "--from", "c", "--input", "name=dee")
	if code != 0 || !strings.Contains(out, "dee after host,ada") || strings.Contains(out, "bo") {
		t.Fatalf("fork: exit %d %q %s", code, out, errs)
	}
}
