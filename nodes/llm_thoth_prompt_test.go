package nodes_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/nodes"
	"github.com/grimoire-run/grimoire/services"
)

// fewshotTypes are Thoth's fewshot helper components with their data
// inputs, data outputs and the request body the original worker sends
// (latitudegames/thoth packages/core/src/components/{EntityDetector,
// ItemDetector,TimeDetector}.ts and deprecated/{ActionType,ProseToScript,
// SafetyVerifier,TenseTransformer}.ts, DifficultyDetector.ts).
var fewshotTypes = []struct {
	name      string
	inputs    []string
	outputs   []string
	stop      []string
	maxTokens int
}{
	{"Entity Detector", []string{"action"}, []string{"entities"}, []string{"\n\n"}, 50},
	{"Item Detector", []string{"string"}, []string{"detectedItem"}, []string{"\n"}, 100},
	{"Time Detector", []string{"string"}, []string{"detectedTime"}, []string{"\n"}, 100},
	{"Action Type Classifier", []string{"action"}, []string{"actionType"}, []string{"\n"}, 100},
	{"Difficulty Detector", []string{"action"}, []string{"difficulty", "category"}, []string{"\n"}, 100},
	{"Safety Verifier", []string{"string"}, []string{"boolean"}, []string{"\n"}, 10},
	{"Tense Transformer", []string{"text", "name"}, []string{"action"}, []string{"\n"}, 100},
	{"Prose to Script", []string{"string"}, []string{"script", "detectedItem"}, []string{"\n4"}, 300},
}

// fewshotSpell wires run inputs (named after the node's ports) into a node
// of type typ, triggered from the start, and its data outputs to run
// outputs of the same names. Inputs not in connect stay unconnected.
func fewshotSpell(typ string, cfg map[string]any, connect, outputs []string) *graph.Spell {
	b := newSpell("fewshot").node("start", "Module Trigger In", nil).node("n", typ, cfg)
	b.edge("start.trigger>n.trigger")
	for _, p := range connect {
		b.node("in-"+p, "Input", map[string]any{"name": p}).edge("in-" + p + ".output>n." + p)
	}
	for _, p := range outputs {
		b.node("out-"+p, "Output", map[string]any{"name": p}).edge("n.trigger>out-"+p+".trigger", "n."+p+">out-"+p+".input")
	}
	return b.build()
}

// runFewshot runs a node of type typ natively and as a Thoth export with
// the model answering completion; it returns the run outputs and the first
// request the model got.
func runFewshot(t *testing.T, typ string, cfg map[string]any, inputs map[string]any, outputs []string, completion string) (map[string]any, services.CompletionRequest) {
	t.Helper()
	comp := &scriptedCompletion{tokens: []string{completion}}
	h := newHarness(t, nodes.Services{Completion: comp, DefaultModel: "default-model"})
	var connect []string
	for p := range inputs {
		connect = append(connect, p)
	}
	sort.Strings(connect)
	outs := h.mustRunBoth(t, fewshotSpell(typ, cfg, connect, outputs), inputs)
	if len(comp.reqs) != 2 || !reflect.DeepEqual(comp.reqs[0], comp.reqs[1]) {
		t.Fatalf("%s: the native and Thoth runs sent different requests: %+v", typ, comp.reqs)
	}
	return outs, comp.reqs[0]
}

// The exact prompt and body each type sends. The golden prompts in
// testdata/llm_thoth_prompts.json were written from the originals'
// fewshot text (the Difficulty Detector's from Thoth's "Difficulty
// Detector Test" spell, which saved it in data.fewshot).
func TestFewshotPromptsGolden(t *testing.T) {
	raw, err := os.ReadFile("testdata/llm_thoth_prompts.json")
	if err != nil {
		t.Fatal(err)
	}
	var golden map[string]struct {
		Inputs map[string]any `json:"inputs"`
		Prompt string         `json:"prompt"`
	}
	if err := json.Unmarshal(raw, &golden); err != nil {
		t.Fatal(err)
	}
	for _, ft := range fewshotTypes {
		t.Run(ft.name, func(t *testing.T) {
			g, ok := golden[ft.name]
			if !ok {
				t.Fatalf("no golden prompt for %s", ft.name)
			}
			_, req := runFewshot(t, ft.name, nil, g.Inputs, ft.outputs, " answer")
			if req.Prompt != g.Prompt {
				t.Errorf("prompt differs from the original's at byte %d:\n got …%q\nwant …%q", diffAt(req.Prompt, g.Prompt), tail(req.Prompt, diffAt(req.Prompt, g.Prompt)), tail(g.Prompt, diffAt(req.Prompt, g.Prompt)))
			}
			if !reflect.DeepEqual(req.Stop, ft.stop) || req.MaxTokens != ft.maxTokens ||
				req.Temperature == nil || *req.Temperature != 0 || req.Model != "default-model" {
				t.Errorf("request stop=%q maxTokens=%d temperature=%v model=%q, want stop=%q maxTokens=%d temperature=0 model=default-model",
					req.Stop, req.MaxTokens, req.Temperature, req.Model, ft.stop, ft.maxTokens)
			}
		})
	}
}

func diffAt(a, b string) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return i
}

func tail(s string, i int) string {
	if i > len(s) {
		i = len(s)
	}
	end := i + 40
	if end > len(s) {
		end = len(s)
	}
	return s[i:end]
}

func TestFewshotWithoutEndpoint(t *testing.T) {
	for _, ft := range fewshotTypes {
		t.Run(ft.name, func(t *testing.T) {
			h := newHarness(t, nodes.Services{})
			inputs := map[string]any{}
			for _, p := range ft.inputs {
				inputs[p] = "walk north"
			}
			_, rec, err := h.run(context.Background(), fewshotSpell(ft.name, nil, ft.inputs, ft.outputs), inputs)
			if !errors.Is(err, services.ErrNoCompletionEndpoint) {
				t.Fatalf("err = %v, want ErrNoCompletionEndpoint", err)
			}
			if rec.count("n", graph.NodeFailed) != 1 {
				t.Error("no NodeFailed for the node")
			}
		})
	}
}

// Thoth would have put the text "undefined" in the prompt; Grimoire
// refuses, naming the port, and does not call the model.
func TestFewshotMissingInput(t *testing.T) {
	for _, ft := range fewshotTypes {
		t.Run(ft.name, func(t *testing.T) {
			comp := &scriptedCompletion{tokens: []string{"x"}}
			h := newHarness(t, nodes.Services{Completion: comp})
			missing := ft.inputs[len(ft.inputs)-1]
			connected := ft.inputs[:len(ft.inputs)-1]
			inputs := map[string]any{}
			for _, p := range connected {
				inputs[p] = "walk north"
			}
			_, _, err := h.run(context.Background(), fewshotSpell(ft.name, nil, connected, ft.outputs), inputs)
			if err == nil || !strings.Contains(err.Error(), `input "`+missing+`" has no value`) || !strings.Contains(err.Error(), ft.name) {
				t.Fatalf("err = %v, want one naming %s and input %q", err, ft.name, missing)
			}
			if len(comp.reqs) != 0 {
				t.Errorf("the model was called %d times", len(comp.reqs))
			}
		})
	}
}

// data.fewshot (Thoth's FewshotControl) replaces the built-in fewshot;
// sampling fields, which Thoth spells never set, override the original's
// body; inputs are put in the prompt as JavaScript's + would write them.
func TestFewshotConfig(t *testing.T) {
	cfg := map[string]any{"fewshot": "Action, Time: ", "model": "small", "stop": `\n,;`, "maxTokens": "7", "temperature": 0.5}
	outs, req := runFewshot(t, "Time Detector", cfg, map[string]any{"string": 42.0}, []string{"detectedTime"}, " seconds \n")
	if req.Prompt != "Action, Time: 42," || req.Model != "small" || !reflect.DeepEqual(req.Stop, []string{"\n", ";"}) ||
		req.MaxTokens != 7 || req.Temperature == nil || *req.Temperature != 0.5 {
		t.Errorf("request %+v", req)
	}
	if outs["detectedTime"] != "seconds" {
		t.Errorf("detectedTime = %q, want the trimmed completion", outs["detectedTime"])
	}

	_, req = runFewshot(t, "Item Detector", map[string]any{"fewshot": ""}, map[string]any{"string": []any{"axe", 2.0, true}}, []string{"detectedItem"}, "axe")
	if !strings.HasPrefix(req.Prompt, "Given an action, detect the item which is taken.") || !strings.HasSuffix(req.Prompt, "Action, Item: axe,2,true,") {
		t.Errorf("an empty data.fewshot must keep the built-in one and a list must join with commas; prompt ends %q", tail(req.Prompt, len(req.Prompt)-60))
	}

	h := newHarness(t, nodes.Services{Completion: &scriptedCompletion{}})
	_, _, err := h.run(context.Background(), fewshotSpell("Item Detector", map[string]any{"fewshot": 3.0}, []string{"string"}, nil), map[string]any{"string": "a"})
	if err == nil || !strings.Contains(err.Error(), `config "fewshot"`) {
		t.Errorf("a non-string fewshot: err = %v, want one naming config \"fewshot\"", err)
	}
	_, _, err = h.run(context.Background(), fewshotSpell("Safety Verifier", map[string]any{"maxTokens": "many"}, []string{"string"}, nil), map[string]any{"string": "a"})
	if err == nil || !strings.Contains(err.Error(), `"maxTokens"`) {
		t.Errorf("a bad maxTokens: err = %v, want one naming it", err)
	}
}

func TestFewshotStreamsAndReportsUsage(t *testing.T) {
	comp := &scriptedCompletion{tokens: []string{" 8/20", ",", " strength"}, usage: services.Usage{PromptTokens: 300, CompletionTokens: 3, TotalTokens: 303}}
	h := newHarness(t, nodes.Services{Completion: comp, DefaultModel: "m"})
	outs, rec := h.mustRun(t, fewshotSpell("Difficulty Detector", nil, []string{"action"}, []string{"difficulty", "category"}), map[string]any{"action": "lift the cart"})
	if outs["difficulty"] != "8/20" || outs["category"] != "strength" {
		t.Errorf("outputs %v", outs)
	}
	if got := rec.chunks("n"); !reflect.DeepEqual(got, comp.tokens) {
		t.Errorf("streamed %q, want %q", got, comp.tokens)
	}
	done, _ := rec.find("n", graph.NodeCompleted)
	if done.Usage == nil || done.Usage.TotalTokens != 303 || done.Usage.Model != "m" || done.Usage.Calls != 1 {
		t.Errorf("usage %+v", done.Usage)
	}
}

func TestFewshotTypesCallAModel(t *testing.T) {
	reg := nodes.NewRegistry(nodes.Services{})
	for _, ft := range fewshotTypes {
		typ, ok := reg.Lookup(ft.name)
		if !ok {
			t.Fatalf("%s is not registered", ft.name)
		}
		if typ.Family != "llm" || !typ.Nondeterministic || !typ.Cacheable {
			t.Errorf("%s: family %q nondeterministic %v cacheable %v, want llm, true, true", ft.name, typ.Family, typ.Nondeterministic, typ.Cacheable)
		}
		var ins, outs []string
		for _, p := range typ.Inputs {
			ins = append(ins, string(p.Kind)+":"+p.Name)
		}
		for _, p := range typ.Outputs {
			outs = append(outs, string(p.Kind)+":"+p.Name)
		}
		wantIns := []string{}
		for _, p := range ft.inputs {
			wantIns = append(wantIns, "data:"+p)
		}
		wantIns = append(wantIns, "trigger:trigger")
		wantOuts := []string{"trigger:trigger"}
		for _, p := range ft.outputs {
			wantOuts = append(wantOuts, "data:"+p)
		}
		if !reflect.DeepEqual(ins, wantIns) || !reflect.DeepEqual(outs, wantOuts) {
			t.Errorf("%s: ports in %v out %v, want in %v out %v (the sockets the original declares)", ft.name, ins, outs, wantIns, wantOuts)
		}
	}
}
