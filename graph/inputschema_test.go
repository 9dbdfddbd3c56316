package graph_test

import (
	"encoding/json"
	"testing"

	"github.com/grimoire-run/grimoire/graph"
)

func TestInputSchemaDescribesTheInputNodes(t *testing.T) {
	s, _, err := graph.ParseSpell([]byte(`{"format":"grimoire/spell@1","id":"s","nodes":[
 {"id":"a","type":"Input","config":{"name":"name","type":"string","description":"who to greet","required":true}},
 {"id":"b","type":"Input","config":{"name":"times","default":3}},
 {"id":"c","type":"Input","config":{"name":"extra"}},
 {"id":"d","type":"Input","config":{"name":"name","type":"number"}},
 {"id":"e","type":"Input","config":{"name":"flags","type":"object"}},
 {"id":"out","type":"Output","config":{"name":"out"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(s.InputSchema(newFormatCatalog()))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"properties":{` +
		`"extra":{"description":"the run input \"extra\" (Input node \"c\")"},` +
		`"flags":{"description":"the run input \"flags\" (Input node \"e\")","type":"object"},` +
		`"name":{"description":"who to greet","type":"string"},` +
		`"times":{"default":3,"description":"the run input \"times\" (Input node \"b\")","type":"number"}},` +
		`"required":["name"],"type":"object"}`
	if string(got) != want {
		t.Fatalf("InputSchema =\n%s\nwant\n%s", got, want)
	}
}

func TestInputSchemaOfASpellWithoutInputs(t *testing.T) {
	s, _, err := graph.ParseSpell([]byte(`{"format":"grimoire/spell@1","id":"s","nodes":[{"id":"out","type":"Output","config":{"name":"out"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(s.InputSchema(newFormatCatalog()))
	if string(got) != `{"properties":{},"type":"object"}` {
		t.Fatalf("InputSchema = %s", got)
	}
}
