package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRootServesThePageToBrowsersAndJSONToAPIClients(t *testing.T) {
	e := newEnv(t, envOptions{})
	resp, body := e.do("GET", "/", "", "", "Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(body), "<title>Grimoire") {
		t.Fatalf("browser GET /: HTTP %d %s %.200s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	etag := resp.Header.Get("ETag")
	if etag == "" {
		t.Fatal("the page has no ETag")
	}
	resp, _ = e.do("GET", "/", "", "", "Accept", "text/html", "If-None-Match", etag)
	if resp.StatusCode != http.StatusNotModified {
		t.Fatalf("revalidating the page: HTTP %d, want 304", resp.StatusCode)
	}
	for _, accept := range []string{"", "application/json", "*/*"} {
		resp, body := e.do("GET", "/", "", "", "Accept", accept)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" || !strings.Contains(string(body), `"service":"grimoire"`) {
			t.Errorf("GET / with Accept %q: HTTP %d %s %.200s", accept, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	}
	resp, body = e.do("GET", "/inspector/app.js", "", "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), "javascript") || len(body) == 0 {
		t.Errorf("GET /inspector/app.js: HTTP %d %s, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
	}
	resp, _ = e.do("GET", "/inspector/no-such-file.js", "", "")
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET an unknown inspector file: HTTP %d, want 404", resp.StatusCode)
	}
}

func TestDevSignInMintsATokenForTheLocalUser(t *testing.T) {
	e := newEnv(t, envOptions{DevSignIn: "dana", Analysts: true})
	resp, body := e.do("GET", "/v1/dev/sign-in", "", "")
	if resp.StatusCode != http.StatusOK || decode[map[string]string](t, body)["user"] != "dana" {
		t.Fatalf("GET /v1/dev/sign-in: HTTP %d %s", resp.StatusCode, body)
	}
	resp, body = e.do("POST", "/v1/dev/sign-in", "", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /v1/dev/sign-in: HTTP %d %s", resp.StatusCode, body)
	}
	got := decode[struct {
		Token     string    `json:"token"`
		User      string    `json:"user"`
		ExpiresAt time.Time `json:"expiresAt"`
	}](t, body)
	if got.User != "dana" || got.Token == "" || time.Until(got.ExpiresAt) > time.Hour+time.Minute || time.Until(got.ExpiresAt) < 50*time.Minute {
		t.Fatalf("minted %+v, want a token for dana that expires in about an hour", got)
	}
	// The token is a real one: the REST API takes it, as dana without roles.
	resp, body = e.do("GET", "/v1/runs?user=someone-else", got.Token, "")
	wantStatus(t, "another user's runs with the minted token", resp, body, http.StatusForbidden, "forbidden")
	resp, body = e.do("GET", "/v1/runs", got.Token, "")
	wantStatus(t, "own runs with the minted token", resp, body, http.StatusOK, "")

	// A page that reached the server under another name (DNS rebinding)
	// gets nothing.
	req, err := http.NewRequest("POST", e.URL+"/v1/dev/sign-in", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "attacker.example"
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	wantStatus(t, "sign-in through another host name", resp, body, http.StatusForbidden, "forbidden")
	if strings.Contains(string(body), "token\"") {
		t.Fatalf("a refused sign-in carries a token: %s", body)
	}
}

func TestDevSignInIsAbsentWithoutIt(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, method := range []string{"GET", "POST"} {
		resp, body := e.do(method, "/v1/dev/sign-in", "", "")
		wantStatus(t, method+" /v1/dev/sign-in on a server without it", resp, body, http.StatusNotFound, "not_found")
	}
}

func TestSpellVersionsList(t *testing.T) {
	e := newEnv(t, envOptions{})
	alice, bob := token(t, "alice"), token(t, "bob")
	var hashes []string
	for _, name := range []string{"one", "two"} {
		doc := `{"format":"grimoire/spell@1","id":"v","nodes":[{"id":"o","type":"Output","config":{"name":"` + name + `"}}],"edges":[]}`
		resp, body := e.do("PUT", "/v1/spells/v", alice, doc)
		wantStatus(t, "save", resp, body, http.StatusOK, "")
		hashes = append(hashes, decode[map[string]any](t, body)["hash"].(string))
	}
	// The spells read model follows the log: wait for it to have both.
	var resp *http.Response
	var body []byte
	for deadline := time.Now().Add(wait); ; time.Sleep(10 * time.Millisecond) {
		resp, body = e.do("GET", "/v1/spells/v/versions", alice, "")
		if strings.Count(string(body), `"hash"`) >= 2 || time.Now().After(deadline) {
			break
		}
	}
	wantStatus(t, "versions", resp, body, http.StatusOK, "")
	got := decode[struct {
		SpellID  string `json:"spellId"`
		Versions []struct {
			Version int    `json:"version"`
			Hash    string `json:"hash"`
			User    string `json:"user"`
		} `json:"versions"`
	}](t, body)
	if got.SpellID != "v" || len(got.Versions) != 2 || got.Versions[0].Hash != hashes[0] || got.Versions[1].Hash != hashes[1] ||
		got.Versions[0].Version != 1 || got.Versions[1].Version != 2 || got.Versions[1].User != "alice" {
		t.Fatalf("versions %s, want versions 1 and 2 with hashes %v saved by alice", body, hashes)
	}
	resp, body = e.do("GET", "/v1/spells/v/versions", bob, "")
	wantStatus(t, "another user's spell", resp, body, http.StatusForbidden, "forbidden")
	resp, body = e.do("GET", "/v1/spells/nope/versions", alice, "")
	wantStatus(t, "no such spell", resp, body, http.StatusNotFound, "not_found")
}
