package nodes_test

import (
	"context"
	"strings"
	"testing"

	"github.com/grimoire-run/grimoire/graph"
	"github.com/grimoire-run/grimoire/nodes"
)

// arrayObjectCase runs one node fed by an Input on inPort and read by an
// Output on outPort. Expected values follow Magick's Rete-era sources,
// packages/core/shared/src/nodes/{array,object,utility}/<Name>.ts.
type arrayObjectCase struct {
	name    string
	typ     string
	cfg     map[string]any
	inPort  string // "" for a data-only node
	input   any    // noInput leaves the port unconnected
	outPort string
	want    any // noOutput: the output is left out (undefined)
	wantErr string
}

type sentinel string

const (
	noInput  sentinel = "no input"
	noOutput sentinel = "no output"
)

func runArrayObjectCase(t *testing.T, h *harness, c arrayObjectCase) {
	t.Helper()
	b := newSpell(strings.ReplaceAll(c.name, " ", "-")).node("n", c.typ, c.cfg).node("o", "Output", map[string]any{"name": "out"})
	if c.inPort != "" && c.input != noInput {
		b = b.node("in", "Input", map[string]any{"name": "v"}).edge("in.output>n." + c.inPort)
	}
	s := b.edge("n." + c.outPort + ">o.input").build()
	inputs := map[string]any{"v": c.input}
	if c.wantErr != "" {
		_, _, err := h.run(context.Background(), s, inputs)
		if err == nil || !strings.Contains(err.Error(), c.typ) || !strings.Contains(err.Error(), c.wantErr) {
			t.Fatalf("err = %v; want it to name %q and say %q", err, c.typ, c.wantErr)
		}
		return
	}
	outs := h.mustRunBoth(t, s, inputs)
	got, present := outs["out"]
	if c.want == noOutput {
		if present && got != nil {
			t.Fatalf("output = %#v; want it left out", got)
		}
		return
	}
	if !present || !equalJSON(got, c.want) {
		t.Fatalf("output = %#v (present %v); want %#v", got, present, c.want)
	}
}

func TestArrayObjectNodes(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	people := []any{
		map[string]any{"name": "Ann", "age": 31.0, "city": "Oslo"},
		map[string]any{"name": "Bo", "city": "Rome"},
		"stray",
	}
	cases := []arrayObjectCase{
		// ArrayToJSON.ts / ObjectToJSON.ts: JSON.stringify(input).
		{name: "to json array", typ: "Array To JSON", inPort: "input", input: []any{1.0, "a<b>&", nil, true}, outPort: "output", want: `[1,"a<b>&",null,true]`},
		{name: "to json null", typ: "Array To JSON", inPort: "input", input: nil, outPort: "output", want: "null"},
		{name: "to json missing", typ: "Array To JSON", inPort: "input", input: noInput, outPort: "output", want: noOutput},
		{name: "object to json", typ: "Object To JSON", inPort: "input", input: map[string]any{"b": []any{1.0}, "a": "x"}, outPort: "output", want: `{"a":"x","b":[1]}`},
		{name: "object to json string", typ: "Object To JSON", inPort: "input", input: "hi", outPort: "output", want: `"hi"`},

		// ArrayToString.ts: array.join("\n").
		{name: "to string", typ: "Array to String", inPort: "array", input: []any{"a", 2.0, nil, []any{"x", "y"}}, outPort: "output", want: "a\n2\n\nx,y"},
		{name: "to string empty", typ: "Array to String", inPort: "array", input: []any{}, outPort: "output", want: ""},
		{name: "to string missing", typ: "Array to String", inPort: "array", input: noInput, outPort: "output", wantErr: `"array" has no value`},
		{name: "to string not array", typ: "Array to String", inPort: "array", input: "abc", outPort: "output", wantErr: "not an array"},

		// ArrayVariable.ts: _var.split(splitter), empties dropped unless keepEmpty.
		{name: "variable split", typ: "Array Variable", cfg: map[string]any{"_var": "a,b,,c", "splitter": ","}, outPort: "output", want: []any{"a", "b", "c"}},
		{name: "variable keep empty", typ: "Array Variable", cfg: map[string]any{"_var": "a,b,,c", "splitter": ",", "keepEmpty": "true"}, outPort: "output", want: []any{"a", "b", "", "c"}},
		{name: "variable keep empty bool", typ: "Array Variable", cfg: map[string]any{"_var": ",x", "splitter": ",", "keepEmpty": true}, outPort: "output", want: []any{"", "x"}},
		{name: "variable no splitter", typ: "Array Variable", cfg: map[string]any{"_var": "a,b"}, outPort: "output", want: []any{"a,b"}},
		{name: "variable chars", typ: "Array Variable", cfg: map[string]any{"_var": "héy", "splitter": ""}, outPort: "output", want: []any{"h", "é", "y"}},
		{name: "variable empty", typ: "Array Variable", cfg: map[string]any{"_var": "", "splitter": ","}, outPort: "output", want: []any{}},

		// ExtractFromArray.ts: input.map(o => o[value.trim()]).
		{name: "extract", typ: "Extract From Array", cfg: map[string]any{"value": " name "}, inPort: "input", input: people, outPort: "output", want: []any{"Ann", "Bo", nil}},
		{name: "extract absent key", typ: "Extract From Array", cfg: map[string]any{"value": "age"}, inPort: "input", input: people, outPort: "output", want: []any{31.0, nil, nil}},
		{name: "extract not array", typ: "Extract From Array", cfg: map[string]any{"value": "name"}, inPort: "input", input: "x", outPort: "output", want: []any{}},
		{name: "extract missing input", typ: "Extract From Array", cfg: map[string]any{"value": "name"}, inPort: "input", input: noInput, outPort: "output", want: []any{}},
		{name: "extract no value", typ: "Extract From Array", inPort: "input", input: people, outPort: "output", wantErr: `config "value" is missing`},

		// GetValueFromArray.ts: array[element ?? indexControl ?? 0].
		{name: "get default index", typ: "Get Value From Array", inPort: "array", input: []any{"a", "b"}, outPort: "output", want: "a"},
		{name: "get number index", typ: "Get Value From Array", cfg: map[string]any{"element": 1.0}, inPort: "array", input: []any{"a", "b"}, outPort: "output", want: "b"},
		{name: "get string index", typ: "Get Value From Array", cfg: map[string]any{"element": "1"}, inPort: "array", input: []any{"a", "b"}, outPort: "output", want: "b"},
		{name: "get index control", typ: "Get Value From Array", cfg: map[string]any{"indexControl": 1.0}, inPort: "array", input: []any{"a", "b"}, outPort: "output", want: "b"},
		{name: "get older input port", typ: "Get Value From Array", cfg: map[string]any{"element": 1.0}, inPort: "input", input: []any{"a", "b"}, outPort: "output", want: "b"},
		{name: "get leading zero", typ: "Get Value From Array", cfg: map[string]any{"element": "01"}, inPort: "array", input: []any{"a", "b"}, outPort: "output", want: noOutput},
		{name: "get negative", typ: "Get Value From Array", cfg: map[string]any{"element": -1.0}, inPort: "array", input: []any{"a", "b"}, outPort: "output", want: noOutput},
		{name: "get out of range", typ: "Get Value From Array", cfg: map[string]any{"element": 5.0}, inPort: "array", input: []any{"a", "b"}, outPort: "output", want: noOutput},
		{name: "get object key", typ: "Get Value From Array", cfg: map[string]any{"element": "k"}, inPort: "array", input: map[string]any{"k": 7.0}, outPort: "output", want: 7.0},
		{name: "get string char", typ: "Get Value From Array", cfg: map[string]any{"element": 1.0}, inPort: "array", input: "xyz", outPort: "output", want: "y"},
		{name: "get missing", typ: "Get Value From Array", inPort: "array", input: noInput, outPort: "output", wantErr: `"array" has no value`},

		// JSONToArray.ts / JSONToObject.ts: strings parsed, other values pass.
		{name: "json to array text", typ: "JSON To Array", inPort: "input", input: `[1,{"a":"b"}]`, outPort: "output", want: []any{1.0, map[string]any{"a": "b"}}},
		{name: "json to array passes array", typ: "JSON To Array", inPort: "input", input: []any{"x"}, outPort: "output", want: []any{"x"}},
		{name: "json to array number", typ: "JSON To Array", inPort: "input", input: 3.0, outPort: "output", want: 3.0},
		{name: "json to array bad", typ: "JSON To Array", inPort: "input", input: `[1,`, outPort: "output", wantErr: `"input" is not valid JSON`},
		{name: "json to array missing", typ: "JSON To Array", inPort: "input", input: noInput, outPort: "output", wantErr: `"input" has no value`},
		{name: "json to object text", typ: "JSON To Object", inPort: "input", input: `{"a":[true]}`, outPort: "output", want: map[string]any{"a": []any{true}}},
		{name: "json to object passes object", typ: "JSON To Object", inPort: "input", input: map[string]any{"k": "v"}, outPort: "output", want: map[string]any{"k": "v"}},
		{name: "json to object bool", typ: "JSON To Object", inPort: "input", input: false, outPort: "output", want: false},
		{name: "json to object bad", typ: "JSON To Object", inPort: "input", input: `{oops}`, outPort: "output", wantErr: "not valid JSON"},

		// RemapArray.ts: keep only the listed keys of each element.
		{name: "remap", typ: "Remap Array", cfg: map[string]any{"values": "name, city ,zip"}, inPort: "input", input: people, outPort: "output",
			want: []any{map[string]any{"name": "Ann", "city": "Oslo"}, map[string]any{"name": "Bo", "city": "Rome"}, map[string]any{}}},
		{name: "remap not array", typ: "Remap Array", cfg: map[string]any{"values": "name"}, inPort: "input", input: map[string]any{"name": "x"}, outPort: "output", want: []any{}},
		{name: "remap missing input", typ: "Remap Array", cfg: map[string]any{"values": "name"}, inPort: "input", input: noInput, outPort: "output", want: []any{}},
		{name: "remap no values", typ: "Remap Array", inPort: "input", input: people, outPort: "output", wantErr: `config "values" is missing`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { runArrayObjectCase(t, h, c) })
	}
}

func TestArrayVariableNeedsVar(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	s := newSpell("novar").node("n", "Array Variable", map[string]any{"splitter": ","}).
		node("o", "Output", map[string]any{"name": "out"}).edge("n.output>o.input").build()
	_, _, err := h.run(context.Background(), s, nil)
	if err == nil || !strings.Contains(err.Error(), "_var") {
		t.Fatalf("err = %v; want it to name config _var", err)
	}
}

// ComposeObject.ts: {input name: value} over the node's declared inputs.
func TestArrayObjectComposeObject(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	s := newSpell("compose").
		node("in", "Input", map[string]any{"name": "v"}).
		node("n", "Compose Object", nil, in("a"), named(in("b"), "Bee"), in("unwired")).
		node("o", "Output", map[string]any{"name": "out"}).
		edge("in.output>n.a", "in.output>n.b", "n.output>o.input").build()
	outs := h.mustRunBoth(t, s, map[string]any{"v": "x"})
	if want := map[string]any{"a": "x", "Bee": "x"}; !equalJSON(outs["out"], want) {
		t.Fatalf("output = %#v; want %#v", outs["out"], want)
	}
}

// MergeObjects.ts: {...object, ...inputs}.
func TestArrayObjectMergeObjects(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	build := func() *graph.Spell {
		return newSpell("merge").
			node("in", "Input", map[string]any{"name": "obj"}).
			node("in2", "Input", map[string]any{"name": "v"}).
			node("n", "Merge Objects", nil, in("k"), in("extra")).
			node("o", "Output", map[string]any{"name": "out"}).
			edge("in.output>n.object", "in2.output>n.k", "n.object>o.input").build()
	}
	cases := []struct {
		obj  any
		want map[string]any
	}{
		{map[string]any{"k": 1.0, "keep": true}, map[string]any{"k": "new", "keep": true}},
		{nil, map[string]any{"k": "new"}},                  // {...null} is {}
		{[]any{"a"}, map[string]any{"0": "a", "k": "new"}}, // arrays spread by index
		{5.0, map[string]any{"k": "new"}},                  // {...5} is {}
	}
	for _, c := range cases {
		outs := h.mustRunBoth(t, build(), map[string]any{"obj": c.obj, "v": "new"})
		if !equalJSON(outs["out"], c.want) {
			t.Fatalf("object %v: output = %#v; want %#v", c.obj, outs["out"], c.want)
		}
	}
	// No object at all: {...undefined} is {}.
	s := newSpell("merge-none").
		node("in2", "Input", map[string]any{"name": "v"}).
		node("n", "Merge Objects", nil, in("k")).
		node("o", "Output", map[string]any{"name": "out"}).
		edge("in2.output>n.k", "n.object>o.input").build()
	outs := h.mustRunBoth(t, s, map[string]any{"v": 2.0})
	if want := map[string]any{"k": 2.0}; !equalJSON(outs["out"], want) {
		t.Fatalf("output = %#v; want %#v", outs["out"], want)
	}
}

// GetValuesFromObject.ts / Destructure.ts: object[socket key] per output.
func TestArrayObjectGetValuesAndDestructure(t *testing.T) {
	for _, typ := range []string{"Get Values From Object", "Destructure"} {
		h := newHarness(t, nodes.Services{})
		build := func() *graph.Spell {
			return newSpell("values").
				node("in", "Input", map[string]any{"name": "obj"}).
				node("n", typ, nil, out("name"), out("age"), out("absent")).
				node("o1", "Output", map[string]any{"name": "name"}).
				node("o2", "Output", map[string]any{"name": "age"}).
				node("o3", "Output", map[string]any{"name": "absent"}).
				edge("in.output>n.object", "n.name>o1.input", "n.age>o2.input", "n.absent>o3.input").build()
		}
		outs := h.mustRunBoth(t, build(), map[string]any{"obj": map[string]any{"name": "Ann", "age": 3.0, "other": 1.0}})
		if outs["name"] != "Ann" || outs["age"] != 3.0 || outs["absent"] != nil {
			t.Fatalf("%s: outputs %v", typ, outs)
		}
		for _, bad := range []struct {
			obj  any
			want string
		}{{nil, `"object" has no value`}, {"text", "not an object"}} {
			_, _, err := h.run(context.Background(), build(), map[string]any{"obj": bad.obj})
			if err == nil || !strings.Contains(err.Error(), typ) || !strings.Contains(err.Error(), bad.want) {
				t.Fatalf("%s with %v: err = %v; want %q", typ, bad.obj, err, bad.want)
			}
		}
	}
}

// Older exports list a Destructure node's sockets only in its connections:
// they become its outputs all the same.
func TestArrayObjectDestructureConnectionsOnly(t *testing.T) {
	h := newHarness(t, nodes.Services{})
	s := newSpell("destructure-conn").
		node("in", "Input", map[string]any{"name": "obj"}).
		node("n", "Destructure", nil, out("name")).
		node("o", "Output", map[string]any{"name": "name"}).
		edge("in.output>n.object", "n.name>o.input").build()
	rs, _, err := graph.ParseSpell(reteExport(s, false))
	if err != nil {
		t.Fatal(err)
	}
	outs, _ := h.mustRun(t, rs, map[string]any{"obj": map[string]any{"name": "Ann"}})
	if outs["name"] != "Ann" {
		t.Fatalf("outputs %v", outs)
	}
}
