package main

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/grimoire-run/grimoire/services/postgres"
	"github.com/grimoire-run/grimoire/services/postgres/pgtest"
)

// TestEventStoreURLSelectsPostgreSQL: a postgres:// GRIMOIRE_EVENTSTORE_URL
// puts the log (and its blobs) in PostgreSQL: a run is recorded there, and
// a second data directory on the same database sees it.
func TestEventStoreURLSelectsPostgreSQL(t *testing.T) {
	url := pgtest.FreshDatabase(t)
	vars := map[string]string{envData: t.TempDir(), envEventStore: url}
	out, errs, code := cliWithEnv(t, vars, "run", "../../examples/hello.json", "--input", "name=Ada")
	if code != 0 || strings.TrimSpace(out) != `{"greeting":"Hello, Ada!"}` {
		t.Fatalf("run on PostgreSQL: exit %d out %q err %q", code, out, errs)
	}
	runID := regexp.MustCompile(`run: (\S+)`).FindStringSubmatch(errs)[1]
	db, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM grimoire_events.events WHERE stream = $1`, "run-"+runID).Scan(&n); err != nil || n == 0 {
		t.Fatalf("events of run %s in PostgreSQL: %d, %v", runID, n, err)
	}
	// Another process with its own data directory reads the same history.
	other := map[string]string{envData: t.TempDir(), envEventStore: url}
	if out, errs, code := cliWithEnv(t, other, "replay", runID); code != 0 || !strings.Contains(out, "status completed") || !strings.Contains(out, "Hello, Ada!") {
		t.Fatalf("replay on another data directory: exit %d out %q err %q", code, out, errs)
	}
}

// GRIMOIRE_BLOB_DIR moves the embedded store's blobs out of the data
// directory.
func TestBlobDirSetting(t *testing.T) {
	blobs := t.TempDir()
	big := strings.Repeat("y", 300<<10)
	out, errs, code := cliWithEnv(t, map[string]string{envData: t.TempDir(), envBlobDir: blobs},
		"run", "../../examples/hello.json", "--input", "name="+big)
	if code != 0 || !strings.Contains(out, big) {
		t.Fatalf("run with a large input: exit %d err %q", code, errs)
	}
	files, _ := filepath.Glob(filepath.Join(blobs, "*", "*"))
	if len(files) == 0 {
		t.Fatalf("no blob in %s", blobs)
	}
}

// A blob directory of this process next to a shared log is refused at
// start-up, with what to do instead; with PostgreSQL blobs live in the
// database, so naming a blob directory is refused too.
func TestSharedLogRefusesPerProcessBlobs(t *testing.T) {
	for _, cmd := range [][]string{{"serve", "--addr", "127.0.0.1:0"}, {"run", "../../examples/hello.json"}} {
		_, errs, code := cliWithEnv(t, map[string]string{envData: t.TempDir(), envEventStore: "esdb://127.0.0.1:1?tls=false"}, cmd...)
		if code != 1 || !strings.Contains(errs, envBlobDir) || !strings.Contains(errs, "blob not found") || !strings.Contains(errs, "postgres://") {
			t.Errorf("%s with EventStoreDB and no shared blob directory: exit %d, stderr %q", cmd[0], code, errs)
		}
	}
	_, errs, code := cliWithEnv(t, map[string]string{envData: t.TempDir(), envEventStore: "postgres://127.0.0.1:1/x", envBlobDir: t.TempDir()},
		"serve", "--addr", "127.0.0.1:0")
	if code != 1 || !strings.Contains(errs, envBlobDir) || !strings.Contains(errs, "blobs live in PostgreSQL") {
		t.Errorf("PostgreSQL with a blob directory: exit %d, stderr %q", code, errs)
	}
}

// TestTwoServersShareOnePostgreSQL starts two real `grimoire serve`
// processes on one PostgreSQL database (each with its own data directory,
// so its own read models): a run started on A is readable on B, also when
// its events are over the blob threshold (their data is then in
// PostgreSQL's blobs table, not in A's data directory), and B's read
// models follow (its /readyz stays 200).
func TestTwoServersShareOnePostgreSQL(t *testing.T) {
	url := pgtest.FreshDatabase(t)
	const secret = "0123456789abcdef0123456789abcdef"
	env := []string{envEventStore + "=" + url, "GRIMOIRE_JWT_SECRET=" + secret, "GRIMOIRE_BUS_URL="}
	a, _ := startServe(t, ".", t.TempDir(), env)
	b, _ := startServe(t, ".", t.TempDir(), env)

	// auth reads the secret from the process environment: a child process.
	tokCmd := cliProcess(".", t.TempDir(), "token", "create", "--user", "alice", "--role", "analyst")
	tokCmd.Env = append(tokCmd.Env, "GRIMOIRE_JWT_SECRET="+secret)
	tokOut, err := tokCmd.Output()
	if err != nil {
		t.Fatalf("token create: %v", err)
	}
	tok := string(tokOut)
	call := func(method, u, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, u, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(tok))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v map[string]any
		json.NewDecoder(resp.Body).Decode(&v)
		return resp.StatusCode, v
	}
	status, started := call("POST", a+"/v1/spells/demo/runs?mode=sync", `{"inputs":{"name":"Ada"}}`)
	runID, _ := started["runId"].(string)
	if status != 200 || runID == "" {
		t.Fatalf("run on A: %d %v", status, started)
	}
	status, run := call("GET", b+"/v1/runs/"+runID, "")
	if status != 200 || run["status"] != "completed" {
		t.Fatalf("GET /v1/runs/%s on B: %d %v", runID, status, run)
	}
	// 300 KiB of input: RunRequested and the greeting's events are blobs.
	big := strings.Repeat("x", 300<<10)
	status, started = call("POST", a+"/v1/spells/demo/runs?mode=sync", `{"inputs":{"name":"`+big+`"}}`)
	bigID, _ := started["runId"].(string)
	if status != 200 || bigID == "" {
		t.Fatalf("large run on A: %d", status)
	}
	status, run = call("GET", b+"/v1/runs/"+bigID, "")
	if status != 200 || run["status"] != "completed" {
		t.Fatalf("GET /v1/runs/%s (blobs) on B: %d %.300v", bigID, status, run)
	}
	if out, _ := json.Marshal(run); !strings.Contains(string(out), big) {
		t.Fatalf("B's view of the large run lacks its 300 KiB output")
	}
	db, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var blobs int
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM grimoire_events.blobs`).Scan(&blobs); err != nil || blobs == 0 {
		t.Fatalf("blobs in PostgreSQL: %d, %v; want the large run's", blobs, err)
	}
	// B's runs read model folds the large run in (it reads the blobs).
	deadline := time.Now().Add(20 * time.Second)
	for {
		status, list := call("GET", b+"/v1/runs?spell=demo", "")
		if out, _ := json.Marshal(list); status == 200 && strings.Contains(string(out), bigID) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("B's runs read model never listed the large run: %d %.500v", status, list)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, base := range []string{a, b} {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s/readyz: %d", base, resp.StatusCode)
		}
	}
}
