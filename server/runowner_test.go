package server_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/grimoire-run/grimoire/server/runs"
)

// A run recorded with no user (the CLI on the data directory) is the
// operator's: other users can neither read nor cancel it; analysts read
// it, admins control it.
func TestRunsWithoutAUserAreNotEveryones(t *testing.T) {
	e := newEnv(t, envOptions{})
	run, err := e.Exec.Start(context.Background(), runs.RunSpec{Spell: demoSpell(t), Inputs: map[string]any{"name": "Ada"}, Source: "cli"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	path := "/v1/runs/" + run.ID()
	for _, tc := range []struct {
		who    string
		method string
		tok    string
		want   int
	}{
		{"a user reads", "GET", token(t, "alice"), http.StatusForbidden},
		{"a user's events", "GET", token(t, "alice"), http.StatusForbidden},
		{"a user cancels", "DELETE", token(t, "alice"), http.StatusForbidden},
		{"an analyst reads", "GET", token(t, "ana", "analyst"), http.StatusOK},
		{"an admin reads", "GET", token(t, "root", "admin"), http.StatusOK},
	} {
		p := path
		if tc.who == "a user's events" {
			p += "/events"
		}
		resp, body := e.do(tc.method, p, tc.tok, "")
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %s %s = %d %s, want %d", tc.who, tc.method, p, resp.StatusCode, body, tc.want)
		}
	}
}
