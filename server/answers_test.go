package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/grimoire-run/grimoire/server/protocol"
	"github.com/grimoire-run/grimoire/server/socket/sockettest"
)

// askSpellDoc asks the run's user (or answeredBy) to approve the input
// "draft"; the answer becomes output "decision".
func askSpellDoc(id string, answeredBy any) string {
	ask := map[string]any{"prompt": "Publish {{context}}?",
		"schema": map[string]any{"type": "object", "required": []any{"approved"}, "properties": map[string]any{"approved": map[string]any{"type": "boolean"}}}}
	if answeredBy != nil {
		ask["answeredBy"] = answeredBy
	}
	doc := map[string]any{
		"format": "grimoire/spell@1", "id": id,
		"nodes": []any{
			map[string]any{"id": "start", "type": "Module Trigger In", "config": map[string]any{"name": "start"}},
			map[string]any{"id": "draft", "type": "Input", "config": map[string]any{"name": "draft", "default": "a post"}},
			map[string]any{"id": "ask", "type": "Ask", "config": ask},
			map[string]any{"id": "decision", "type": "Output", "config": map[string]any{"name": "decision"}},
		},
		"edges": []any{
			map[string]any{"from": "start.trigger", "to": "ask.trigger"},
			map[string]any{"from": "draft.output", "to": "ask.context"},
			map[string]any{"from": "ask.trigger", "to": "decision.trigger"},
			map[string]any{"from": "ask.answer", "to": "decision.input"},
		},
	}
	b, _ := json.Marshal(doc)
	return string(b)
}

type runStatus struct {
	Status  string         `json:"status"`
	Outputs map[string]any `json:"outputs"`
	Nodes   []struct {
		NodeID   string `json:"nodeId"`
		Status   string `json:"status"`
		Question *struct {
			Prompt string `json:"prompt"`
		} `json:"question"`
	} `json:"nodes"`
}

func getRun(t testing.TB, e *env, tok, id string) runStatus {
	t.Helper()
	resp, body := e.do("GET", "/v1/runs/"+id, tok, "")
	wantStatus(t, "GET run", resp, body, http.StatusOK, "")
	return decode[runStatus](t, body)
}

func TestAnsweringOverREST(t *testing.T) {
	e := newEnv(t, envOptions{Analysts: true})
	alice, bob, carol := token(t, "alice"), token(t, "bob"), token(t, "carol")
	resp, body := e.do("PUT", "/v1/spells/approve", alice, askSpellDoc("approve", []any{"alice", "bob"}))
	wantStatus(t, "PUT", resp, body, http.StatusOK, "")

	// A sync run that waits answers 202 with status waiting.
	resp, body = e.do("POST", "/v1/spells/approve/runs?mode=sync", alice, `{"inputs":{"draft":"the post"}}`)
	wantStatus(t, "sync run", resp, body, http.StatusAccepted, "")
	started := decode[struct {
		RunID  string `json:"runId"`
		Status string `json:"status"`
	}](t, body)
	if started.Status != "waiting" {
		t.Fatalf("sync run: %s", body)
	}
	id := started.RunID
	v := getRun(t, e, alice, id)
	if v.Status != "waiting" || len(v.Nodes) == 0 {
		t.Fatalf("run view %+v", v)
	}
	asked := false
	for _, n := range v.Nodes {
		if n.NodeID == "ask" && n.Status == "waiting" && n.Question != nil && n.Question.Prompt == "Publish the post?" {
			asked = true
		}
	}
	if !asked {
		t.Fatalf("run view shows no question: %+v", v)
	}
	// The runs list finds it by status.
	eventually(t, func() bool {
		_, body := e.do("GET", "/v1/runs?status=waiting", alice, "")
		return strings.Contains(string(body), id)
	}, func() string { _, body := e.do("GET", "/v1/runs?status=waiting", alice, ""); return string(body) })

	path := "/v1/runs/" + id + "/answers"
	resp, body = e.do("POST", path, alice, `{"nodeId":"ask","value":{"approved":"yes"}}`)
	wantStatus(t, "invalid answer", resp, body, http.StatusBadRequest, "invalid_answer")
	if !strings.Contains(string(body), "/approved") {
		t.Fatalf("invalid answer: %s does not say where", body)
	}
	resp, body = e.do("POST", path, alice, `{"nodeId":"ask"}`)
	wantStatus(t, "no value", resp, body, http.StatusBadRequest, "bad_request")
	resp, body = e.do("POST", path, carol, `{"nodeId":"ask","value":{"approved":true}}`)
	wantStatus(t, "answer by carol", resp, body, http.StatusForbidden, "forbidden")
	resp, body = e.do("POST", path, "", `{"nodeId":"ask","value":{"approved":true}}`)
	wantStatus(t, "no token", resp, body, http.StatusUnauthorized, "unauthorized")
	if v := getRun(t, e, alice, id); v.Status != "waiting" {
		t.Fatalf("after refused answers: %+v", v)
	}

	// bob may answer, though the run is alice's.
	resp, body = e.do("POST", path, bob, `{"nodeId":"ask","value":{"approved":true}}`)
	wantStatus(t, "answer by bob", resp, body, http.StatusAccepted, "")
	eventually(t, func() bool { return getRun(t, e, alice, id).Status == "completed" }, func() string { return getRun(t, e, alice, id).Status })
	if d, _ := getRun(t, e, alice, id).Outputs["decision"].(map[string]any); d["approved"] != true {
		t.Fatalf("outputs %+v", getRun(t, e, alice, id).Outputs)
	}
	resp, body = e.do("POST", path, bob, `{"nodeId":"ask","value":{"approved":false}}`)
	wantStatus(t, "second answer", resp, body, http.StatusConflict, "conflict")
}

func TestAnsweringOverTheSocket(t *testing.T) {
	e := newEnv(t, envOptions{})
	alice := token(t, "alice")
	resp, body := e.do("PUT", "/v1/spells/approve", alice, askSpellDoc("approve", nil))
	wantStatus(t, "PUT", resp, body, http.StatusOK, "")
	cl := sockettest.Start(t)
	connect(t, cl, e, "ed", 4, nil, alice)
	mustOK(t, cl, "ed", "spell:load", map[string]any{"spellId": "approve"})
	run := mustOK(t, cl, "ed", "spell:run", map[string]any{"spellId": "approve", "inputs": map[string]any{"draft": "the post"}})

	// node:waiting carries the question.
	var waiting protocol.Message
	for waiting.Type != protocol.NodeWaiting {
		ev, err := cl.Wait(wait, func(ev sockettest.Event) bool {
			return ev.ID == "ed" && ev.Type == "event" && len(ev.Args) > 0 && strings.Contains(string(ev.Args[0]), `"runId":"`+run.RunID+`"`)
		})
		if err != nil {
			t.Fatalf("no node:waiting: %v", err)
		}
		if err := json.Unmarshal(ev.Args[0], &waiting); err != nil {
			t.Fatal(err)
		}
		if waiting.Terminal() {
			t.Fatalf("run ended before asking: %+v", waiting)
		}
	}
	if waiting.NodeID != "ask" || waiting.Prompt != "Publish the post?" || waiting.Schema["type"] != "object" || len(waiting.AnsweredBy) != 1 || waiting.AnsweredBy[0] != "alice" {
		t.Fatalf("node:waiting %+v", waiting)
	}
	eventually(t, func() bool { return getRun(t, e, alice, run.RunID).Status == "waiting" }, func() string { return getRun(t, e, alice, run.RunID).Status })

	mustFail(t, cl, "ed", "run:answer", map[string]any{"runId": run.RunID, "nodeId": "ask", "value": 42}, "invalid_answer")
	mustFail(t, cl, "ed", "run:answer", map[string]any{"nodeId": "ask", "value": true}, "bad_request")
	mustOK(t, cl, "ed", "run:answer", map[string]any{"runId": run.RunID, "nodeId": "ask", "value": map[string]any{"approved": true}})
	ms := runMessages(t, cl, "ed", run.RunID)
	last := ms[len(ms)-1]
	if last.Type != protocol.RunCompleted {
		t.Fatalf("run ended with %s: %s", last.Type, types(ms))
	}
	if d, _ := last.Outputs["decision"].(map[string]any); d["approved"] != true {
		t.Fatalf("run:completed outputs %+v", last.Outputs)
	}
	sawAnswer := false
	for _, m := range ms {
		if m.Type == protocol.NodeAnswered && m.User == "alice" {
			sawAnswer = true
		}
	}
	if !sawAnswer {
		t.Fatalf("no node:answered: %s", types(ms))
	}
}
