package main

import (
	"fmt"
	"time"

	"encoding/csv"
	"encoding/json"
	"github.com/grimoire-run/grimoire/services/devllm"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// runHello runs examples/hello.json in data and returns the run id.
func runHello(t *testing.T, data, name string) string {
	t.Helper()
	_, errs, code := cli(t, data, "run", "../../examples/hello.json", "--input", "name="+name)
	if code != 0 {
		t.Fatalf("run: exit %d: %s", code, errs)
	}
	m := regexp.MustCompile(`run: (\S+)`).FindStringSubmatch(errs)
	if m == nil {
		t.Fatalf("stderr does not name the run: %q", errs)
	}
	return m[1]
}

func TestReplayPrintsTheTimelineAndVerifies(t *testing.T) {
	data := t.TempDir()
	id := runHello(t, data, "Ada")

	out, errs, code := cli(t, data, "replay", id)
	if code != 0 {
		t.Fatalf("replay: exit %d: %s", code, errs)
	}
	for _, want := range []string{"run " + id, "status completed", "greet", "Text Template", "Hello, Ada!", "DURATION"} {
		if !strings.Contains(out, want) {
			t.Errorf("timeline lacks %q:\n%s", want, out)
		}
	}
	out, _, code = cli(t, data, "replay", id, "--json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var first struct{ Type string }
	if code != 0 || json.Unmarshal([]byte(lines[0]), &first) != nil || first.Type != "RunRequested" || len(lines) < 4 {
		t.Errorf("replay --json: exit %d, %d lines, first %q", code, len(lines), lines[0])
	}
	out, errs, code = cli(t, data, "replay", id, "--verify")
	if code != 0 || !strings.Contains(out, "verified") {
		t.Errorf("replay --verify: exit %d\n%s%s", code, out, errs)
	}
	_, errs, code = cli(t, data, "replay", "no-such-run")
	if code == 0 || !strings.Contains(errs, "not found") {
		t.Errorf("replay of an unknown run: exit %d: %s", code, errs)
	}
}

func TestEventsTailReadsAndFollowsTheLog(t *testing.T) {
	data := t.TempDir()
	runHello(t, data, "Ada")
	out, errs, code := cli(t, data, "events", "tail", "--from", "1", "--no-follow", "--stream-prefix", "run-", "--type", "RunRequested,RunCompleted")
	if code != 0 {
		t.Fatalf("events tail: exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "RunRequested") || !strings.Contains(lines[1], "RunCompleted") {
		t.Errorf("tail of run- RunRequested,RunCompleted:\n%s", out)
	}
	// Following: exits after --limit events.
	out, errs, code = cli(t, data, "events", "tail", "--from", "1", "--limit", "3", "--json")
	if code != 0 || strings.Count(out, "\n") != 3 {
		t.Errorf("events tail --limit 3: exit %d, %q %s", code, out, errs)
	}
}

func TestExportWritesCSVAndJSONLines(t *testing.T) {
	data := t.TempDir()
	runHello(t, data, "Ada")
	runHello(t, data, "Bob")
	out, errs, code := cli(t, data, "export", "--format", "csv", "--what", "nodes", "--since", "24h")
	if code != 0 {
		t.Fatalf("export: exit %d: %s", code, errs)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) < 1+2*4 || rows[0][3] != "nodeId" {
		t.Fatalf("csv: %v %d rows\n%s", err, len(rows), out)
	}
	if !strings.Contains(errs, "exported") {
		t.Errorf("no summary on stderr: %q", errs)
	}
	out, _, _ = cli(t, data, "export", "--spell", "hello")
	jsonl := strings.Count(out, "\n")
	out2, _, _ := cli(t, data, "export", "--spell", "nope")
	if jsonl < 10 || out2 != "" {
		t.Errorf("jsonl export of spell hello: %d lines; of spell nope: %q", jsonl, out2)
	}
	_, _, code = cli(t, data, "export", "--format", "xml")
	if code == 0 {
		t.Error("--format xml was accepted")
	}
}

func TestForkReusesUpstreamAndRecordsItsParent(t *testing.T) {
	data := t.TempDir()
	parent := runHello(t, data, "Ada")
	out, errs, code := cli(t, data, "fork", parent, "--from", "greet", "--input", "name=Bob")
	if code != 0 {
		t.Fatalf("fork: exit %d: %s", code, errs)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil || got["greeting"] != "Hello, Bob!" {
		t.Fatalf("fork outputs %q", out)
	}
	m := regexp.MustCompile(`run: (\S+)`).FindStringSubmatch(errs)
	if m == nil {
		t.Fatalf("fork does not name its run: %q", errs)
	}
	out, _, _ = cli(t, data, "replay", m[1])
	if !strings.Contains(out, "parent "+parent) {
		t.Errorf("the fork's timeline does not name its parent:\n%s", out)
	}
	out, errs, code = cli(t, data, "fork", parent, "--from", "greet")
	if code != 0 || !strings.Contains(out, "Hello, Ada!") {
		t.Errorf("fork with the parent's inputs: exit %d %q %s", code, out, errs)
	}
	_, _, code = cli(t, data, "fork", parent, "--from", "nope")
	if code == 0 {
		t.Error("fork from an unknown node succeeded")
	}
}

func TestProjectionsStatusAndRebuild(t *testing.T) {
	data := t.TempDir()
	runHello(t, data, "Ada")
	out, errs, code := cli(t, data, "projections", "status")
	if code != 0 {
		t.Fatalf("status: exit %d: %s", code, errs)
	}
	for _, name := range []string{"runs", "spells", "usage", "cache"} {
		if !regexp.MustCompile(`(?m)^` + name + `\s`).MatchString(out) {
			t.Errorf("status lacks %s:\n%s", name, out)
		}
	}
	for _, name := range []string{"runs", "usage"} {
		out, errs, code = cli(t, data, "projections", "rebuild", name)
		if code != 0 || !strings.Contains(out, "rebuilt "+name) {
			t.Errorf("rebuild %s: exit %d %q %s", name, code, out, errs)
		}
	}
	out, _, _ = cli(t, data, "projections", "status", "--json")
	if !strings.Contains(out, `"name": "usage"`) || strings.Contains(out, `"checkpoint": 0,`+"\n"+`    "position": 0,`+"\n"+`    "head": 0`) {
		t.Errorf("status --json after rebuilding usage:\n%s", out)
	}
	_, _, code = cli(t, data, "projections", "rebuild", "nope")
	if code == 0 {
		t.Error("rebuild of an unknown projection succeeded")
	}
}

func TestEventsPruneCountsWhatRetentionWouldDrop(t *testing.T) {
	data := t.TempDir()
	runHello(t, data, "Ada")
	out, errs, code := cli(t, data, "events", "prune", "--chunks-older-than", "30d", "--dry-run")
	if code != 0 || !strings.Contains(out, "would drop 0 token-chunk events") {
		t.Errorf("prune --dry-run: exit %d %q %s", code, out, errs)
	}
	_, errs, code = cli(t, data, "events", "prune", "--chunks-older-than", "soon")
	if code != 2 || !strings.Contains(errs, "30d") {
		t.Errorf("prune with a bad age: exit %d %s", code, errs)
	}
}

// TestStreamedRunThenPrune points `grimoire run` at an OpenAI-compatible
// server (the inference test double: no GPU server runs here), records the
// streamed tokens as NodeOutputChunk events, then `events prune` deletes
// exactly those chunks from the embedded store and keeps the node's result.
func TestStreamedRunThenPrune(t *testing.T) {
	srv := devllm.New(t, devllm.Options{
		TokenInterval: 30 * time.Millisecond, // longer than the recorder's chunk interval
		Reply: func(devllm.Request) devllm.Reply {
			return devllm.Reply{Chunks: []string{"once ", "upon ", "a ", "time"}}
		},
	})
	data := t.TempDir()
	vars := map[string]string{envData: data, "GRIMOIRE_OPENAI_BASE_URL": srv.URL, "GRIMOIRE_OPENAI_MODEL": "test-model"}
	spell := writeFile(t, "tell.json", `{"format":"grimoire/spell@1","id":"tell","nodes":[
	  {"id":"q","type":"Input","config":{"name":"q"}},
	  {"id":"gen","type":"Generator","config":{"fewshot":"Tell: {{q}}"},"inputs":[{"key":"q","kind":"data"}]},
	  {"id":"out","type":"Output","config":{"name":"story"}}],
	 "edges":[{"from":"q.trigger","to":"gen.trigger"},{"from":"q.output","to":"gen.q"},{"from":"gen.trigger","to":"out.trigger"},{"from":"gen.result","to":"out.input"}]}`)
	out, errs, code := cliWithEnv(t, vars, "run", spell, "--input", "q=a story")
	if code != 0 || strings.TrimSpace(out) != `{"story":"once upon a time"}` {
		t.Fatalf("run: exit %d, out %q, err %q", code, out, errs)
	}
	runID := regexp.MustCompile(`run: (\S+)`).FindStringSubmatch(errs)[1]
	before := runEvents(t, data, runID)
	chunks := count(before, "NodeOutputChunk", "gen")
	if chunks < 2 || count(before, "NodeCompleted", "gen") != 1 {
		t.Fatalf("the streamed tokens should be recorded as several chunks: %v", before)
	}

	time.Sleep(20 * time.Millisecond)
	out, errs, code = cliWithEnv(t, vars, "events", "prune", "--chunks-older-than", "10ms", "--dry-run")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("would drop %d token-chunk events of 1 runs", chunks)) {
		t.Fatalf("prune --dry-run: exit %d %q %s", code, out, errs)
	}
	if got := runEvents(t, data, runID); len(got) != len(before) {
		t.Fatalf("a dry run deleted events: %d left of %d", len(got), len(before))
	}
	out, errs, code = cliWithEnv(t, vars, "events", "prune", "--chunks-older-than", "10ms")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("dropped %d token-chunk events", chunks)) {
		t.Fatalf("prune: exit %d %q %s", code, out, errs)
	}
	after := runEvents(t, data, runID)
	if count(after, "NodeOutputChunk", "") != 0 || len(after) != len(before)-chunks ||
		count(after, "NodeCompleted", "gen") != 1 || count(after, "RunCompleted", "") != 1 {
		t.Fatalf("after prune: %v", after)
	}
	out, _, code = cliWithEnv(t, vars, "replay", runID)
	if code != 0 || !strings.Contains(out, "once upon a time") {
		t.Errorf("replay after prune: exit %d %q", code, out)
	}
}

// modelSpell is a spell whose model call (a Generator) feeds a Text
// Template, a deterministic node the cache may serve. nodeCache and
// spellCache are JSON fragments: "" or e.g. `"cache":true,`.
func modelSpell(t *testing.T, name, nodeCache, spellMeta string) string {
	t.Helper()
	return writeFile(t, name+".json", `{"format":"grimoire/spell@1","id":"`+name+`","nodes":[
	  {"id":"q","type":"Input","config":{"name":"q"}},
	  {"id":"llm","type":"Generator","config":{`+nodeCache+`"fewshot":"Tell: {{q}}"},"inputs":[{"key":"q","kind":"data"}]},
	  {"id":"wrap","type":"Text Template","config":{"template":"[{{text}}]"},"inputs":[{"key":"text","kind":"data"}]},
	  {"id":"out","type":"Output","config":{"name":"story"}}],
	 "edges":[{"from":"q.trigger","to":"llm.trigger"},{"from":"q.output","to":"llm.q"},
	  {"from":"llm.trigger","to":"wrap.trigger"},{"from":"llm.result","to":"wrap.text"},
	  {"from":"wrap.trigger","to":"out.trigger"},{"from":"wrap.output","to":"out.input"}]`+spellMeta+`}`)
}

// countingModel is a fake completion endpoint whose every answer is a new
// sample ("sample 1", "sample 2", …), and the CLI environment using it.
func countingModel(t *testing.T) (*devllm.Server, map[string]string) {
	t.Helper()
	var mu sync.Mutex
	n := 0
	srv := devllm.New(t, devllm.Options{Reply: func(devllm.Request) devllm.Reply {
		mu.Lock()
		defer mu.Unlock()
		n++
		return devllm.Reply{Chunks: []string{fmt.Sprintf("sample %d", n)}}
	}})
	vars := map[string]string{envData: t.TempDir(), "GRIMOIRE_OPENAI_BASE_URL": srv.URL, "GRIMOIRE_OPENAI_MODEL": "test-model"}
	return srv, vars
}

// runStory runs a model spell and returns its output and run id.
func runStory(t *testing.T, vars map[string]string, args ...string) (string, string) {
	t.Helper()
	out, errs, code := cliWithEnv(t, vars, args...)
	if code != 0 {
		t.Fatalf("%v: exit %d, out %q, err %q", args, code, out, errs)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: outputs %q: %v", args, out, err)
	}
	m := regexp.MustCompile(`run: (\S+)`).FindStringSubmatch(errs)
	if m == nil {
		t.Fatalf("%v: stderr does not name the run: %q", args, errs)
	}
	s, _ := got["story"].(string)
	return s, m[1]
}

// A model call is a fresh sample every run (decision 0007): a second
// identical run calls the model again, and what the model node feeds is
// recomputed from the new answer, unless the node or its spell opts into
// the cache with "cache": true.
func TestModelCallsAreCachedOnlyWhenTheSpellOrNodeOptsIn(t *testing.T) {
	for _, tc := range []struct {
		name, nodeCache, spellMeta string
		cached                     bool
	}{
		{name: "default"},
		{name: "node-opts-in", nodeCache: `"cache":true,`, cached: true},
		{name: "spell-opts-in", spellMeta: `,"meta":{"cache":true}`, cached: true},
		{name: "node-opts-out-of-spell", nodeCache: `"cache":false,`, spellMeta: `,"meta":{"cache":true}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, vars := countingModel(t)
			spell := modelSpell(t, "story-"+tc.name, tc.nodeCache, tc.spellMeta)
			first, _ := runStory(t, vars, "run", spell, "--input", "q=a story")
			second, runID := runStory(t, vars, "run", spell, "--input", "q=a story")
			calls := len(srv.Requests())
			if first != "[sample 1]" {
				t.Fatalf("first run: %q, want [sample 1]", first)
			}
			if tc.cached {
				if calls != 1 || second != first {
					t.Errorf("second run: %d model calls, story %q; want 1 call and the cached %q", calls, second, first)
				}
				if n := count(runEvents(t, vars[envData], runID), "NodeStarted", "llm"); n != 0 {
					t.Errorf("second run started llm %d times, want it served from the cache", n)
				}
			} else if calls != 2 || second != "[sample 2]" {
				t.Errorf("second run: %d model calls, story %q; want 2 calls and [sample 2]", calls, second)
			}
			// --no-cache runs even an opted-in node.
			third, _ := runStory(t, vars, "run", spell, "--input", "q=a story", "--no-cache")
			if want := len(srv.Requests()); want != calls+1 || third != fmt.Sprintf("[sample %d]", want) {
				t.Errorf("run --no-cache: %d model calls (had %d), story %q", want, calls, third)
			}
		})
	}
}

// fork --from the model node calls the model again, even when the node
// opts into the cache, and recomputes what it feeds.
func TestForkFromAModelNodeCallsTheModel(t *testing.T) {
	for name, nodeCache := range map[string]string{"default": "", "node-opts-in": `"cache":true,`} {
		t.Run(name, func(t *testing.T) {
			srv, vars := countingModel(t)
			spell := modelSpell(t, "fork-story", nodeCache, "")
			first, parent := runStory(t, vars, "run", spell, "--input", "q=a story")
			if first != "[sample 1]" || len(srv.Requests()) != 1 {
				t.Fatalf("parent run: %q after %d calls", first, len(srv.Requests()))
			}
			forked, forkID := runStory(t, vars, "fork", parent, "--from", "llm")
			if n := len(srv.Requests()); n != 2 || forked != "[sample 2]" {
				t.Fatalf("fork --from llm: %d model calls, story %q; want 2 calls and [sample 2]", n, forked)
			}
			evs := runEvents(t, vars[envData], forkID)
			if count(evs, "NodeStarted", "llm") != 1 || count(evs, "NodeStarted", "wrap") != 1 {
				t.Errorf("the fork did not execute llm and wrap: %v", evs)
			}
			if count(evs, "NodeStarted", "q") != 0 {
				t.Errorf("the fork executed q, upstream of llm: %v", evs)
			}
			if nodeCache != "" {
				// The fork's fresh answer replaced the cached one.
				next, _ := runStory(t, vars, "run", spell, "--input", "q=a story")
				if n := len(srv.Requests()); n != 2 || next != "[sample 2]" {
					t.Errorf("run after the fork: %d model calls, story %q; want 2 and the fork's [sample 2] from the cache", n, next)
				}
			}
			// Forking from downstream of the model reuses its recorded answer.
			again, _ := runStory(t, vars, "fork", parent, "--from", "wrap", "--no-cache")
			if n := len(srv.Requests()); n != 2 || again != "[sample 1]" {
				t.Errorf("fork --from wrap --no-cache: %d model calls, story %q; want 2 and the parent's [sample 1]", n, again)
			}
		})
	}
}
