package nodes_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/nodes"
)

// probe wires one node of type typ between a trigger and Outputs named after
// the node's outputs; inputs are run inputs of the same names.
func probe(id, typ string, cfg map[string]any, ins, outs []string) *graph.Spell {
	b := newSpell(id).node("start", "Module Trigger In", nil).node("n", typ, cfg).edge("start.trigger>n.trigger")
	for _, p := range ins {
		b = b.node("in-"+p, "Input", map[string]any{"name": p}).edge("in-" + p + ".output>n." + p)
	}
	for _, p := range outs {
		b = b.node("out-"+p, "Output", map[string]any{"name": p}).edge("n.trigger>out-"+p+".trigger", "n."+p+">out-"+p+".input")
	}
	return b.build()
}

// Magick flow/CommandParser.ts.
func TestCommandParser(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	outs := []string{"command", "args", "isCommand"}
	for _, c := range []struct {
		name string
		cfg  map[string]any
		in   map[string]any
		want map[string]any
	}{
		{"command with args", nil, map[string]any{"command": "/roll 2 d6"},
			map[string]any{"command": "roll", "args": []any{"2", "d6"}, "isCommand": true}},
		{"not a command", nil, map[string]any{"command": "hello there"},
			map[string]any{"command": "", "args": []any{}, "isCommand": false}},
		{"listed", map[string]any{"useCheckList": true}, map[string]any{"command": "/roll", "commandList": []any{"roll", "help"}},
			map[string]any{"command": "roll", "args": []any{}, "isCommand": true}},
		{"not listed", map[string]any{"useCheckList": true}, map[string]any{"command": "/dance now", "commandList": []any{"roll"}},
			map[string]any{"command": "dance", "args": []any{"now"}, "isCommand": false}},
		// substring(1) drops one character whatever the starter's length.
		{"long starter", map[string]any{"commandStarter": "!!"}, map[string]any{"command": "!!go x"},
			map[string]any{"command": "!go", "args": []any{"x"}, "isCommand": true}},
		{"double space", nil, map[string]any{"command": "/a  b"},
			map[string]any{"command": "a", "args": []any{"", "b"}, "isCommand": true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ins := []string{"command"}
			if _, ok := c.in["commandList"]; ok {
				ins = append(ins, "commandList")
			}
			got := h.mustRunBoth(t, probe("cp", "Command Parser", c.cfg, ins, outs), c.in)
			if !equalJSON(got, c.want) {
				t.Fatalf("outputs %v, want %v", got, c.want)
			}
		})
	}
	for _, c := range []struct {
		name string
		cfg  map[string]any
		ins  []string
		in   map[string]any
		want string
	}{
		{"missing text", nil, nil, nil, `input "command" has no value`},
		{"list on, no list", map[string]any{"useCheckList": true}, []string{"command"}, map[string]any{"command": "/x"}, `input "commandList": useCheckList is on`},
		{"text not a string", nil, []string{"command"}, map[string]any{"command": 3.0}, `input "command": want text`},
	} {
		_, _, err := h.run(context.Background(), probe("cp", "Command Parser", c.cfg, c.ins, outs), c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
}

// Thoth logic/WhileLoop.ts, read as written: Loop ("false") fires once with
// element 1 when recursionTimes is 1 or more, then Done ("true").
func TestWhileLoop(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	spell := func(times any) *graph.Spell {
		cfg := map[string]any{}
		if times != nil {
			cfg["recursionTimes"] = times
		}
		return newSpell("wl").
			node("start", "Module Trigger In", nil).
			node("wl", "While Loop", cfg).
			node("loop", "Output", map[string]any{"name": "loop"}).
			node("done", "Code", map[string]any{"code": "function worker(){ return {} }"}).
			node("doneOut", "Output", map[string]any{"name": "done"}).
			edge("start.trigger>wl.act1", "wl.false>loop.trigger", "wl.element>loop.input",
				"wl.true>done.trigger", "done.trigger>doneOut.trigger").build()
	}
	for _, c := range []struct {
		times     any
		wantLoops int
	}{{"3", 1}, {"1", 1}, {5.0, 1}, {"0", 0}, {nil, 0}, {"lots", 0}, {" 2x", 1}} {
		outs, rec := h.mustRun(t, spell(c.times), nil)
		if n := rec.count("loop", graph.NodeCompleted); n != c.wantLoops {
			t.Errorf("recursionTimes %v: Loop branch ran %d times, want %d", c.times, n, c.wantLoops)
		}
		if c.wantLoops == 1 && outs["loop"] != 1.0 {
			t.Errorf("recursionTimes %v: element %v, want 1", c.times, outs["loop"])
		}
		if n := rec.count("done", graph.NodeCompleted); n != 1 {
			t.Errorf("recursionTimes %v: Done fired %d times, want once", c.times, n)
		}
		if c.wantLoops == 1 {
			loopAt, doneAt := -1, -1
			rec.mu.Lock()
			for i, e := range rec.events {
				if e.Kind == graph.NodeCompleted && e.NodeID == "loop" {
					loopAt = i
				}
				if e.Kind == graph.NodeStarted && e.NodeID == "done" && doneAt < 0 {
					doneAt = i
				}
			}
			rec.mu.Unlock()
			if loopAt > doneAt {
				t.Errorf("recursionTimes %v: Done started before the Loop branch finished", c.times)
			}
		}
	}
	h.mustRunBoth(t, spell("2"), nil)
}

// subSpells are the spells the Skill and Run Spell tests call.
func subSpells() spellMap {
	echo := newSpell("echo").
		node("in", "Input", map[string]any{"name": "Input - Default"}).
		node("o", "Output", map[string]any{"name": "echoed"}).
		edge("in.trigger>o.trigger", "in.output>o.input").build()
	greet := newSpell("greet").
		node("start", "Module Trigger In", nil).
		node("who", "Input", map[string]any{"name": "who"}).
		node("tpl", "Text Template", map[string]any{"template": "hi {{w}}"}, named(in("w"), "w")).
		node("o", "Output", map[string]any{"name": "greeting"}).
		node("o2", "Output", map[string]any{"name": "who"}).
		edge("start.trigger>tpl.trigger", "who.output>tpl.w", "tpl.trigger>o.trigger", "tpl.output>o.input",
			"tpl.trigger>o2.trigger", "who.output>o2.input").build()
	return spellMap{"echo": echo, "greet": greet}
}

// Magick io/Skill.ts: the task goes in as "Input - Default", the first output
// comes back.
func TestSkill(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	h.runner.Spells = subSpells()
	s := probe("skill", "Skill", nil, []string{"spellName", "task"}, []string{"output"})
	task := map[string]any{"objective": "count sheep"}
	outs := h.mustRunBoth(t, s, map[string]any{"spellName": "echo", "task": task})
	if !reflect.DeepEqual(outs["output"], task) {
		t.Fatalf("output %v, want the task back", outs["output"])
	}
	for _, c := range []struct {
		ins  []string
		in   map[string]any
		want string
	}{
		{[]string{"spellName"}, map[string]any{"spellName": "nope"}, "spell nope not found"},
		{nil, nil, `input "spellName" is empty`},
		{[]string{"spellName", "content"}, map[string]any{"spellName": "echo", "content": "x"}, `"content" is set but "event" is not`},
	} {
		_, _, err := h.run(context.Background(), probe("skill", "Skill", nil, c.ins, []string{"output"}), c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("inputs %v: err = %v, want %q", c.in, err, c.want)
		}
	}
}

// Magick magick/runSpell.ts: all of the spell's outputs, as an object.
func TestRunSpell(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	h.runner.Spells = subSpells()
	s := probe("rs", "Run Spell", nil, []string{"spell", "inputs"}, []string{"output"})
	want := map[string]any{"greeting": "hi Ada", "who": "Ada"}
	for _, ref := range []any{map[string]any{"id": "greet", "name": "Greeter"}, "greet"} {
		outs := h.mustRunBoth(t, s, map[string]any{"spell": ref, "inputs": map[string]any{"who": "Ada"}})
		if !equalJSON(outs["output"], want) {
			t.Fatalf("spell %v: output %v, want %v", ref, outs["output"], want)
		}
	}
	for _, c := range []struct {
		in   map[string]any
		want string
	}{
		{map[string]any{"spell": map[string]any{"name": "x"}, "inputs": map[string]any{}}, `the spell object has no "id"`},
		{map[string]any{"spell": nil, "inputs": map[string]any{}}, `input "spell" has no value`},
		{map[string]any{"spell": "greet", "inputs": "who=Ada"}, `input "inputs": want an object`},
		{map[string]any{"spell": "missing", "inputs": map[string]any{}}, `spell "missing" not found`},
	} {
		_, _, err := h.run(context.Background(), s, c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("inputs %v: err = %v, want %q", c.in, err, c.want)
		}
	}
}

// Magick io/SocketInput.ts and io/SocketOutput.ts, in a spell called as a
// sub-spell (the Spell node's ports are their names) and run directly.
func TestSocketInputAndOutput(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	sub := newSpell("sock").
		node("tin", "Module Trigger In", map[string]any{"name": "go", "socketKey": "sk-go"}).
		node("si", "Socket Input", map[string]any{"name": "extra", "socketKey": "sk-extra", "fewshot": "from fewshot"}).
		node("so", "Socket Output", map[string]any{"name": "res", "socketKey": "sk-res"}).
		node("done", "Module Trigger Out", map[string]any{"name": "done", "socketKey": "sk-done"}).
		edge("tin.trigger>so.trigger", "si.output>so.input", "so.trigger>done.trigger").build()
	outs := h.mustRunBoth(t, sub, map[string]any{"extra": "passed"})
	if outs["res"] != "passed" {
		t.Fatalf("res %v, want passed", outs["res"])
	}
	outs = h.mustRunBoth(t, sub, nil)
	if outs["res"] != "from fewshot" {
		t.Fatalf("without the input: res %v, want the fewshot", outs["res"])
	}
	sig := sub.Signature(h.catalog)
	if len(sig.Inputs) != 1 || sig.Inputs[0].Name != "extra" || len(sig.Outputs) != 1 || sig.Outputs[0].Name != "res" {
		t.Fatalf("signature %+v, want input extra and output res", sig)
	}

	h.runner.Spells = spellMap{"sock": sub}
	caller := newSpell("caller").
		node("start", "Module Trigger In", nil).
		node("x", "Input", map[string]any{"name": "x"}).
		node("call", "Spell", map[string]any{"spell": "sock"}, tin("sk-go"), in("sk-extra"), out("sk-res"), tout("sk-done")).
		node("o", "Output", map[string]any{"name": "got"}).
		edge("start.trigger>call.sk-go", "x.output>call.sk-extra", "call.sk-res>o.input", "call.sk-done>o.trigger").build()
	outs, _ = h.mustRun(t, caller, map[string]any{"x": "via caller"})
	if outs["got"] != "via caller" {
		t.Fatalf("through a Spell node: got %v, want via caller", outs["got"])
	}

	// A Socket Output with nothing connected fails as Magick's threw.
	lone := newSpell("lone").node("tin", "Module Trigger In", nil).node("so", "Socket Output", map[string]any{"name": "r"}).edge("tin.trigger>so.trigger").build()
	if _, _, err := h.run(context.Background(), lone, nil); err == nil || !strings.Contains(err.Error(), "no input provided to output component") {
		t.Fatalf("unconnected Socket Output: err = %v", err)
	}
}

// Thoth's deprecated playtest and module nodes, and its deprecated Input
// field (named "Input", with a "text" output), in a Thoth export.
func TestThothDeprecatedIONodes(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	play := newSpell("play").
		node("pi", "Playtest Input", nil).
		node("up", "Code", map[string]any{"code": "function worker(i){ return { out: i.x.toUpperCase() } }"}, in("x"), out("out")).
		node("pp", "Playtest Print", nil).
		edge("pi.trigger>up.trigger", "pi.text>up.x", "up.trigger>pp.trigger", "up.out>pp.text").build()
	outs := h.mustRunBoth(t, play, map[string]any{"Playtest Input": "hello"})
	if outs["output"] != "HELLO" {
		t.Fatalf("playtest: outputs %v, want output HELLO", outs)
	}
	// A different playtest text is not answered from the first run's
	// results: the nameless Playtest Input's run input is part of the keys.
	outs = h.mustRunBoth(t, play, map[string]any{"Playtest Input": "again"})
	if outs["output"] != "AGAIN" {
		t.Fatalf("second playtest: outputs %v, want output AGAIN", outs)
	}

	field := newSpell("field").
		node("start", "Module Trigger In", nil).
		node("f", "Input", map[string]any{"text": "saved text"}).
		node("o", "Output", map[string]any{"name": "o"}).
		edge("start.trigger>o.trigger", "f.text>o.input").build()
	if outs := h.mustRunBoth(t, field, nil); outs["o"] != "saved text" {
		t.Fatalf("deprecated Input field: outputs %v", outs)
	}

	module := newSpell("module").
		node("tin", "Module Trigger In", map[string]any{"name": "run"}).
		node("mi", "Module Input", map[string]any{"name": "question"}).
		node("mo", "Module Output", map[string]any{"name": "answer"}).
		edge("tin.trigger>mo.trigger", "mi.output>mo.input").build()
	if outs := h.mustRunBoth(t, module, map[string]any{"question": "why"}); outs["answer"] != "why" {
		t.Fatalf("Module Input/Output: outputs %v", outs)
	}
}

// Thoth's InputDestructure.ts: the agent object's fields with Thoth's
// fallbacks (?? — only null and undefined fall back).
func TestInputDestructure(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	outs := []string{"output", "speaker", "agent", "client", "channel", "entity", "roomInfo", "channel_type"}
	s := probe("id", "Input Destructure", nil, []string{"agent"}, outs)
	got := h.mustRunBoth(t, s, map[string]any{"agent": map[string]any{
		"Input": "hi", "Speaker": "Ada", "Agent": nil, "Client": "", "ChannelID": "c1", "Entity": 7.0, "RoomInfo": []any{"r"}, "Channel": "dm"}})
	want := map[string]any{"output": "hi", "speaker": "Ada", "agent": "Agent", "client": "", "channel": "c1", "entity": 7.0, "roomInfo": []any{"r"}, "channel_type": "dm"}
	if !equalJSON(got, want) {
		t.Fatalf("outputs %v, want %v", got, want)
	}
	got = h.mustRunBoth(t, s, map[string]any{"agent": map[string]any{"Speaker": "Bo"}})
	if !equalJSON(got["output"], map[string]any{"Speaker": "Bo"}) || got["client"] != "Playtest" || got["channel"] != "TestChannel" {
		t.Fatalf("without Input: outputs %v", got)
	}
	if _, _, err := h.run(context.Background(), s, map[string]any{"agent": "text"}); err == nil || !strings.Contains(err.Error(), `input "agent": want the agent object`) {
		t.Fatalf("a text agent: err = %v", err)
	}
}

// Magick tasks/TaskDestructure.ts reads fields of the task it is given.
func TestTaskDestructure(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	s := probe("td", "Task Destructure", nil, []string{"task"}, []string{"content", "sender", "entities"})
	got := h.mustRunBoth(t, s, map[string]any{"task": map[string]any{"content": "dig", "sender": "Ada", "entities": []any{"Ada"}}})
	if !equalJSON(got, map[string]any{"content": "dig", "sender": "Ada", "entities": []any{"Ada"}}) {
		t.Fatalf("outputs %v", got)
	}
	if _, _, err := h.run(context.Background(), s, nil); err == nil || !strings.Contains(err.Error(), `input "task": want a task object`) {
		t.Fatalf("no task: err = %v", err)
	}
}

// Magick embedding/ExtractRelationship.ts: combined − (e1 + e2).
func TestExtractRelationship(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	s := probe("er", "Extract Relationship", nil, []string{"embedding1", "embedding2", "combinedEmbedding"}, []string{"embedding"})
	got := h.mustRunBoth(t, s, map[string]any{"combinedEmbedding": []any{3.0, 3.0, 0.5}, "embedding1": "[1, 1, 0.25]", "embedding2": []any{1.0, 0.0, 0.25}})
	if !equalJSON(got["embedding"], []any{1.0, 2.0, 0.0}) {
		t.Fatalf("embedding %v, want [1 2 0]", got["embedding"])
	}
	for _, c := range []struct {
		in   map[string]any
		want string
	}{
		{map[string]any{"combinedEmbedding": []any{1.0}, "embedding1": []any{1.0, 2.0}, "embedding2": []any{1.0}}, "embeddings must have the same dimensions"},
		{map[string]any{"combinedEmbedding": []any{1.0}, "embedding1": []any{1.0}}, `input "embedding2" is missing`},
		{map[string]any{"combinedEmbedding": []any{"x"}, "embedding1": []any{1.0}, "embedding2": []any{1.0}}, `input "combinedEmbedding"`},
	} {
		_, _, err := h.run(context.Background(), s, c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("inputs %v: err = %v, want %q", c.in, err, c.want)
		}
	}
}

// Magick document/FullTextSearch.ts: keywords from the Entities list, the
// type filter, max_count, and hybrid ranking with an embedding.
func TestFullTextSearch(t *testing.T) {
	emb, vec := embeddedKnowledge(t)
	h := newHarness(t, nodes.Services{Embedder: emb, Vectors: vec})
	store := func(typ string, docs []any) {
		t.Helper()
		s := newSpell("store-"+typ).
			node("start", "Module Trigger In", nil).
			node("docs", "Input", map[string]any{"name": "docs"}).
			node("st", "Store Document", map[string]any{"knowledgeBase": "lore", "type": typ}).
			edge("start.trigger>st.trigger", "docs.output>st.content").build()
		h.mustRun(t, s, map[string]any{"docs": docs})
	}
	store("place", []any{"The dragon sleeps in the cave under the mountain.", "The harbour of the old town is full of boats."})
	store("person", []any{"The smith talks of a dragon he once saw."})

	search := func(cfg map[string]any, in map[string]any) []any {
		t.Helper()
		ins := []string{"Entities"}
		for _, k := range []string{"type", "embedding"} {
			if _, ok := in[k]; ok {
				ins = append(ins, k)
			}
		}
		c := map[string]any{"knowledgeBase": "lore"}
		for k, v := range cfg {
			c[k] = v
		}
		outs := h.mustRunBoth(t, probe("fts", "Full Text Search", c, ins, []string{"documents"}), in)
		docs, _ := outs["documents"].([]any)
		return docs
	}
	texts := func(docs []any) []string {
		var out []string
		for _, d := range docs {
			out = append(out, d.(map[string]any)["text"].(string))
		}
		return out
	}
	got := texts(search(nil, map[string]any{"Entities": `["dragon"]`}))
	if len(got) != 2 || !strings.Contains(strings.Join(got, "|"), "cave") || !strings.Contains(strings.Join(got, "|"), "smith") {
		t.Fatalf("keyword dragon: %q, want the two dragon documents", got)
	}
	got = texts(search(map[string]any{"type": " Place "}, map[string]any{"Entities": []any{"dragon"}}))
	if len(got) != 1 || !strings.Contains(got[0], "cave") {
		t.Fatalf("type place: %q, want the cave only", got)
	}
	got = texts(search(map[string]any{"type": "place"}, map[string]any{"Entities": `["dragon"]`, "type": "person"}))
	if len(got) != 1 || !strings.Contains(got[0], "smith") {
		t.Fatalf("the type input overrides the node's type: %q", got)
	}
	got = texts(search(map[string]any{"max_count": "1"}, map[string]any{"Entities": `["dragon"]`}))
	if len(got) != 1 {
		t.Fatalf("max_count 1: %d documents", len(got))
	}
	v, err := emb.Embed(context.Background(), []string{"boats in the harbour"})
	if err != nil {
		t.Fatal(err)
	}
	vec64 := make([]any, len(v[0]))
	for i, f := range v[0] {
		vec64[i] = float64(f)
	}
	got = texts(search(nil, map[string]any{"Entities": `["harbour"]`, "embedding": vec64}))
	if len(got) == 0 || !strings.Contains(got[0], "harbour") {
		t.Fatalf("hybrid: %q, want the harbour first", got)
	}

	for _, c := range []struct {
		cfg  map[string]any
		in   map[string]any
		want string
	}{
		{nil, map[string]any{"Entities": "dragon"}, `input "Entities": want a JSON array of keywords, got "dragon"`},
		{nil, map[string]any{"Entities": `[]`}, `input "Entities" has no words`},
		{nil, map[string]any{}, `input "Entities" is missing`},
	} {
		_, _, err := h.run(context.Background(), probe("fts", "Full Text Search", map[string]any{"knowledgeBase": "lore"}, []string{"Entities"}, []string{"documents"}), c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("inputs %v: err = %v, want %q", c.in, err, c.want)
		}
	}
	if _, _, err := h.run(context.Background(), probe("fts", "Full Text Search", map[string]any{"max_count": "many"}, []string{"Entities"}, nil), map[string]any{"Entities": `["x"]`}); err == nil || !strings.Contains(err.Error(), `config "max_count" "many" is not a number`) {
		t.Errorf("bad max_count: err = %v", err)
	}
}

// keyCache is a graph.Cache filled from the completions a recorder saw.
type keyCache map[string]graph.Result

func (c keyCache) Get(key string) (graph.Result, bool) { r, ok := c[key]; return r, ok }

// An input node without a name reads its type's default (Playtest Input:
// "Playtest Input"), and the cache keys follow that input: a second run with
// another text is not answered from the first run's results.
func TestNamelessInputNodesKeyTheCacheByTheirDefaultName(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	s := newSpell("play").
		node("pi", "Playtest Input", nil).
		node("trim", "Trim", nil).
		node("pp", "Playtest Print", nil).
		edge("pi.trigger>trim.trigger", "pi.text>trim.string", "trim.trigger>pp.trigger", "trim.output>pp.text").build()
	cache := keyCache{}
	run := func(text string) map[string]any {
		t.Helper()
		rec := &recorder{}
		res, err := h.runner.Run(context.Background(), s, graph.RunRequest{RunID: "r", Inputs: map[string]any{"Playtest Input": text}, Observer: rec, Cache: cache})
		if err != nil {
			t.Fatal(err)
		}
		rec.mu.Lock()
		for _, e := range rec.events {
			if e.Kind == graph.NodeCompleted && e.CacheKey != "" {
				cache[e.CacheKey] = graph.Result{Outputs: e.Outputs}
			}
		}
		rec.mu.Unlock()
		return res.Outputs
	}
	if got := run(" a "); got["output"] != "a" {
		t.Fatalf("first run: %v", got)
	}
	if len(cache) == 0 {
		t.Fatal("the first run reported no cache keys")
	}
	if got := run(" c "); got["output"] != "c" {
		t.Fatalf("second run with another text: %v, want c (not the first run's cached result)", got)
	}
}
