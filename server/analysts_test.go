package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/grimoire-run/grimoire/events"
	"github.com/grimoire-run/grimoire/projections"
	"github.com/grimoire-run/grimoire/projections/history"
	runsmodel "github.com/grimoire-run/grimoire/projections/runs"
	"github.com/grimoire-run/grimoire/projections/usage"
	"github.com/grimoire-run/grimoire/server/protocol"
	"github.com/grimoire-run/grimoire/server/socket/sockettest"
)

func caughtUp(t *testing.T, proj *projections.Runner) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for _, name := range []string{"runs", "usage", "cache"} {
		if err := proj.CaughtUp(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAnalystAPI(t *testing.T) {
	e := newEnv(t, envOptions{Analysts: true})
	proj := e.Proj
	alice, bob, analyst, admin := token(t, "alice"), token(t, "bob"), token(t, "ann", "analyst"), token(t, "root", "admin")
	resp, body := e.do("PUT", "/v1/spells/tale", alice, string(storySpell("tale", "")))
	wantStatus(t, "PUT tale", resp, body, http.StatusOK, "")
	resp, body = e.do("POST", "/v1/spells/tale/runs?mode=sync", alice, `{"runId":"alice-run","inputs":{"name":"Ada"}}`)
	wantStatus(t, "run tale", resp, body, http.StatusOK, "")
	resp, body = e.do("POST", "/v1/spells/demo/runs?mode=sync", bob, `{"runId":"bob-run-1"}`)
	wantStatus(t, "run demo", resp, body, http.StatusOK, "")
	caughtUp(t, proj)

	type page struct {
		Runs []runsmodel.Run `json:"runs"`
	}
	ids := func(p page) string {
		var out []string
		for _, r := range p.Runs {
			out = append(out, r.RunID)
		}
		return strings.Join(out, ",")
	}
	t.Run("list runs", func(t *testing.T) {
		for _, tc := range []struct{ who, tok, query, want string }{
			{"alice", alice, "", "alice-run"},
			{"analyst", analyst, "", "bob-run-1,alice-run"},
			{"analyst by spell", analyst, "?spell=demo", "bob-run-1"},
			{"analyst by user and status", analyst, "?user=alice&status=completed", "alice-run"},
			{"analyst, nothing failed", analyst, "?status=failed", ""},
		} {
			resp, body := e.do("GET", "/v1/runs"+tc.query, tc.tok, "")
			wantStatus(t, tc.who, resp, body, http.StatusOK, "")
			if got := ids(decode[page](t, body)); got != tc.want {
				t.Errorf("%s: runs %q, want %q", tc.who, got, tc.want)
			}
		}
		resp, body := e.do("GET", "/v1/runs?user=bob", alice, "")
		wantStatus(t, "alice lists bob's runs", resp, body, http.StatusForbidden, "forbidden")
		resp, body = e.do("GET", "/v1/runs?since=yesterday", analyst, "")
		wantStatus(t, "bad since", resp, body, http.StatusBadRequest, "bad_request")
	})

	t.Run("usage", func(t *testing.T) {
		resp, body := e.do("GET", "/v1/usage?group_by=user,model", analyst, "")
		wantStatus(t, "usage", resp, body, http.StatusOK, "")
		rep := decode[usage.Report](t, body)
		if len(rep.Rows) != 1 || rep.Rows[0].User != "alice" || rep.Rows[0].Model != "fake" || rep.Rows[0].TotalTokens == 0 || rep.Total.CostUSD <= 0 {
			t.Errorf("usage by user and model: %s", body)
		}
		resp, body = e.do("GET", "/v1/usage", bob, "")
		wantStatus(t, "bob's usage", resp, body, http.StatusOK, "")
		if rep := decode[usage.Report](t, body); rep.Total.TotalTokens != 0 {
			t.Errorf("bob sees tokens he did not use: %s", body)
		}
		resp, body = e.do("GET", "/v1/usage?group_by=colour", analyst, "")
		wantStatus(t, "bad group_by", resp, body, http.StatusBadRequest, "bad_request")
	})

	t.Run("timeline", func(t *testing.T) {
		resp, body := e.do("GET", "/v1/runs/alice-run/timeline", alice, "")
		wantStatus(t, "timeline", resp, body, http.StatusOK, "")
		tl := decode[history.Timeline](t, body)
		if tl.Status != "completed" || len(tl.Steps) < 4 {
			t.Errorf("timeline: %s", body)
		}
		resp, body = e.do("GET", "/v1/runs/alice-run/timeline", bob, "")
		wantStatus(t, "bob reads alice's timeline", resp, body, http.StatusForbidden, "forbidden")
	})

	t.Run("global log", func(t *testing.T) {
		resp, body := e.do("GET", "/v1/events", alice, "")
		wantStatus(t, "non-analyst", resp, body, http.StatusForbidden, "forbidden")
		resp, body = e.do("GET", "/v1/events?stream_prefix=run-&type=RunCompleted", analyst, "")
		wantStatus(t, "analyst", resp, body, http.StatusOK, "")
		lines := strings.Split(strings.TrimSpace(string(body)), "\n")
		if len(lines) != 2 || resp.Header.Get("Content-Type") != "application/x-ndjson" {
			t.Fatalf("RunCompleted events: %q", body)
		}
		var first events.RecordedEvent
		_ = json.Unmarshal([]byte(lines[0]), &first)
		resp, body = e.do("GET", "/v1/events?type=RunCompleted&from="+itoa(first.Position+1), analyst, "")
		wantStatus(t, "from", resp, body, http.StatusOK, "")
		if n := strings.Count(string(body), "\n"); n != 1 {
			t.Errorf("events after the first RunCompleted: %d, want 1", n)
		}

		// SSE follows the log: a run started now arrives live.
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", e.URL+"/v1/events?follow=true&type=RunCompleted&from="+itoa(first.Position+1), nil)
		req.Header.Set("Authorization", "Bearer "+analyst)
		sresp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer sresp.Body.Close()
		if ct := sresp.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Fatalf("SSE content type %q", ct)
		}
		go e.do("POST", "/v1/spells/demo/runs?mode=async", bob, `{"runId":"live-run-1"}`)
		sc := bufio.NewScanner(sresp.Body)
		var got []string
		for sc.Scan() && len(got) < 2 {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var ev events.RecordedEvent
				_ = json.Unmarshal([]byte(d), &ev)
				got = append(got, ev.Stream)
			}
		}
		if strings.Join(got, ",") != "run-bob-run-1,run-live-run-1" {
			t.Errorf("SSE delivered %v, want run-bob-run-1 then run-live-run-1", got)
		}
	})

	t.Run("fork", func(t *testing.T) {
		resp, body := e.do("POST", "/v1/runs/alice-run/fork", alice, `{"fromNode":"tell"}`)
		wantStatus(t, "fork", resp, body, http.StatusAccepted, "")
		var fr struct {
			RunID     string   `json:"runId"`
			Recompute []string `json:"recompute"`
		}
		_ = json.Unmarshal(body, &fr)
		if strings.Join(fr.Recompute, ",") != "story,tell" {
			t.Errorf("recompute %v", fr.Recompute)
		}
		var tl history.Timeline
		eventually(t, func() bool {
			resp, body := e.do("GET", "/v1/runs/"+fr.RunID+"/timeline", alice, "")
			if resp.StatusCode != http.StatusOK {
				return false
			}
			tl = decode[history.Timeline](t, body)
			return tl.Status == "completed"
		}, func() string { return "fork status " + tl.Status })
		if tl.ParentRunID != "alice-run" || tl.Outputs["story"] != "Once upon a time Ada woke up" {
			t.Errorf("fork: parent %q outputs %v", tl.ParentRunID, tl.Outputs)
		}
		for _, s := range tl.Steps {
			if s.NodeID == "greet" && s.Status != "cached" {
				t.Errorf("greet in the fork is %s, want cached (replayed)", s.Status)
			}
		}
		resp, body = e.do("POST", "/v1/runs/alice-run/fork", bob, `{"fromNode":"tell"}`)
		wantStatus(t, "bob forks alice's run", resp, body, http.StatusForbidden, "forbidden")
		resp, body = e.do("POST", "/v1/runs/alice-run/fork", alice, `{"fromNode":"nope"}`)
		wantStatus(t, "unknown node", resp, body, http.StatusBadRequest, "bad_request")
	})

	t.Run("fork over the socket", func(t *testing.T) {
		cl := sockettest.Start(t)
		connect(t, cl, e, "alice-fork", 4, nil, alice)
		a := mustOK(t, cl, "alice-fork", "run:fork", map[string]any{"runId": "alice-run", "fromNode": "tell", "inputs": map[string]any{"name": "Bo"}})
		ms := runMessages(t, cl, "alice-fork", a.RunID)
		last := ms[len(ms)-1]
		if last.Type != protocol.RunCompleted || last.Outputs["story"] != "Once upon a time Bo woke up" {
			t.Errorf("forked run over the socket ended with %+v", last)
		}
		cached := map[string]bool{}
		for _, m := range ms {
			if m.Type == protocol.NodeEnd && m.Cached != nil && *m.Cached {
				cached[m.NodeID] = true
			}
		}
		if !cached["start"] || cached["name"] || cached["greet"] || cached["tell"] {
			t.Errorf("node:end cached %v: want start reused, the input's consumers recomputed", cached)
		}
		mustFail(t, cl, "alice-fork", "run:fork", map[string]any{"runId": "alice-run", "fromNode": "nope"}, "bad_request")
	})

	t.Run("projections and metrics", func(t *testing.T) {
		resp, body := e.do("GET", "/v1/projections", analyst, "")
		wantStatus(t, "status", resp, body, http.StatusOK, "")
		if !strings.Contains(string(body), `"name":"usage"`) {
			t.Errorf("projection status: %s", body)
		}
		resp, body = e.do("POST", "/v1/projections/usage/rebuild", analyst, "")
		wantStatus(t, "analyst rebuilds", resp, body, http.StatusForbidden, "forbidden")
		resp, body = e.do("POST", "/v1/projections/usage/rebuild", admin, "")
		wantStatus(t, "admin rebuilds", resp, body, http.StatusAccepted, "")
		resp, body = e.do("POST", "/v1/projections/nope/rebuild", admin, "")
		wantStatus(t, "unknown projection", resp, body, http.StatusNotFound, "not_found")
		caughtUp(t, proj)
		resp, body = e.do("GET", "/metrics", "", "")
		wantStatus(t, "metrics", resp, body, http.StatusOK, "")
		for _, m := range []string{`grimoire_projection_lag_events{projection="usage"}`, `grimoire_projection_healthy{projection="runs"} 1`, "grimoire_node_cache_entries"} {
			if !strings.Contains(string(body), m) {
				t.Errorf("metrics lack %s", m)
			}
		}
	})
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }
