package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/grimoire-run/grimoire/server/socket/sockettest"
)

// errorWithProblems is an error answer that locates its problems.
type errorWithProblems struct {
	Error struct {
		Code     string `json:"code"`
		Message  string `json:"message"`
		Problems []struct {
			NodeID  string `json:"nodeId"`
			Field   string `json:"field"`
			Message string `json:"message"`
		} `json:"problems"`
	} `json:"error"`
}

// needsSpell reads "name" (required) and "mood" (optional).
const needsSpell = `{"format":"grimoire/spell@1","id":"needs","nodes":[
 {"id":"start","type":"Module Trigger In","config":{"name":"start"}},
 {"id":"name","type":"Input","config":{"name":"name","required":true}},
 {"id":"mood","type":"Input","config":{"name":"mood","default":"calm"}},
 {"id":"greet","type":"Text Template","config":{"template":"{{name}} is {{mood}}"},
  "inputs":[{"key":"name","kind":"data"},{"key":"mood","kind":"data"}]},
 {"id":"out","type":"Output","config":{"name":"out"}}],
 "edges":[{"from":"start.trigger","to":"greet.trigger"},{"from":"name.output","to":"greet.name"},
  {"from":"mood.output","to":"greet.mood"},{"from":"greet.trigger","to":"out.trigger"},{"from":"greet.output","to":"out.input"}]}`

func TestRESTRefusesInputsTheSpellDoesNotRead(t *testing.T) {
	e := newEnv(t, envOptions{})
	alice := token(t, "alice")
	resp, body := e.do("PUT", "/v1/spells/needs", alice, needsSpell)
	wantStatus(t, "PUT needs", resp, body, http.StatusOK, "")

	for _, tc := range []struct {
		name, body, wantNode, wantField string
		wantMsg                         []string
	}{
		{"a typo", `{"runId":"typo-run-1","inputs":{"name":"Ada","mod":"sad"}}`, "", "inputs.mod",
			[]string{`unknown input "mod"`, `did you mean "mood"?`, `the spell's inputs are "mood", "name"`}},
		{"a required input left out", `{"runId":"typo-run-2","inputs":{"mood":"sad"}}`, "name", "config.required",
			[]string{`input "name" is required`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.do("POST", "/v1/spells/needs/runs?mode=sync", alice, tc.body)
			wantStatus(t, tc.name, resp, body, http.StatusBadRequest, "invalid_inputs")
			a := decode[errorWithProblems](t, body)
			if len(a.Error.Problems) != 1 || a.Error.Problems[0].NodeID != tc.wantNode || a.Error.Problems[0].Field != tc.wantField {
				t.Fatalf("problems %+v", a.Error.Problems)
			}
			for _, m := range tc.wantMsg {
				if !strings.Contains(a.Error.Problems[0].Message, m) || !strings.Contains(a.Error.Message, m) {
					t.Errorf("message %q lacks %q", a.Error.Message, m)
				}
			}
			// Nothing was recorded: the run does not exist.
			runID := decode[struct {
				RunID string `json:"runId"`
			}](t, []byte(tc.body)).RunID
			resp, body = e.do("GET", "/v1/runs/"+runID, alice, "")
			wantStatus(t, "GET refused run", resp, body, http.StatusNotFound, "not_found")
		})
	}

	// Opting out accepts the extra key; required inputs still count.
	resp, body = e.do("POST", "/v1/spells/needs/runs?mode=sync", alice, `{"inputs":{"name":"Ada","mode":"sad"},"allowExtraInputs":true}`)
	wantStatus(t, "allowExtraInputs", resp, body, http.StatusOK, "")
	if a := decode[syncAnswer](t, body); a.Outputs["out"] != "Ada is calm" {
		t.Fatalf("allowExtraInputs: %s", body)
	}
	resp, body = e.do("POST", "/v1/spells/needs/runs?mode=sync", alice, `{"inputs":{"mode":"sad"},"allowExtraInputs":true}`)
	wantStatus(t, "allowExtraInputs without the required input", resp, body, http.StatusBadRequest, "invalid_inputs")
}

func TestRESTInvalidSpellLocatesItsProblems(t *testing.T) {
	e := newEnv(t, envOptions{})
	doc := `{"format":"grimoire/spell@1","id":"typos","nodes":[
 {"id":"start","type":"Module Trigger In","config":{"name":"start"}},
 {"id":"greet","type":"Text Templte","config":{"template":"hi"}},
 {"id":"say","type":"Output","config":{"name":"say"}}],
 "edges":[{"from":"start.trigger","to":"greet.trigger"}]}`
	resp, body := e.do("PUT", "/v1/spells/typos", token(t, "alice"), doc)
	wantStatus(t, "PUT typos", resp, body, http.StatusBadRequest, "invalid_spell")
	a := decode[errorWithProblems](t, body)
	byNode := map[string]string{}
	for _, p := range a.Error.Problems {
		byNode[p.NodeID] += p.Message
	}
	if !strings.Contains(byNode["greet"], `did you mean "Text Template"?`) {
		t.Errorf("unknown type problem %q", byNode["greet"])
	}
}

func TestSocketRefusesInputsTheSpellDoesNotRead(t *testing.T) {
	e := newEnv(t, envOptions{})
	cl := sockettest.Start(t)
	for _, g := range generations {
		t.Run(g.name, func(t *testing.T) {
			id := "inputs-" + g.name
			connect(t, cl, e, id, g.gen, g.transports, token(t, "alice"))
			mustOK(t, cl, id, "spell:load", map[string]any{"spellId": "demo"})
			a := request(t, cl, id, "spell:run", map[string]any{"spellId": "demo", "inputs": map[string]any{"nmae": "Ada"}})
			if a.Error == nil || a.Error.Code != "invalid_inputs" || !strings.Contains(a.Error.Message, `did you mean "name"?`) {
				t.Fatalf("typo ack %+v (error %+v)", a, a.Error)
			}
			raw, _ := json.Marshal(a.Error.Problems)
			if !strings.Contains(string(raw), `"field":"inputs.nmae"`) {
				t.Fatalf("problems %s", raw)
			}
			run := mustOK(t, cl, id, "spell:run", map[string]any{"spellId": "demo", "inputs": map[string]any{"nmae": "Ada"}, "allowExtraInputs": true})
			if run.RunID == "" {
				t.Fatalf("allowExtraInputs ack %+v", run)
			}
		})
	}
}
