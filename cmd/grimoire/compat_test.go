package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A folder of exports, as a Thoth or Magick project leaves it: spells that
// run, spells with node types Grimoire does not know, one that is not JSON.
func compatFixture(t testing.TB, dir string, copies int) {
	t.Helper()
	ok, err := os.ReadFile("../../nodes/testdata/thoth_code_gate.json")
	if err != nil {
		t.Fatal(err)
	}
	magick, err := os.ReadFile("../../nodes/testdata/editors/magick_declared_sockets.json")
	if err != nil {
		t.Fatal(err)
	}
	unknown := `{"id":"u%d","name":"u","chain":{"id":"demo@0.1.0","nodes":{
	  "1":{"id":1,"name":"Warp Drive","data":{},"inputs":{},"outputs":{}},
	  "2":{"id":2,"name":"Warp Drive","data":{},"inputs":{},"outputs":{}},
	  "3":{"id":3,"name":"Tachyon Emitter","data":{},"inputs":{},"outputs":{}}}}}`
	for i := range copies {
		sub := filepath.Join(dir, fmt.Sprintf("project%d", i%7))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		var body []byte
		switch i % 4 {
		case 0:
			body = ok
		case 1:
			body = magick
		case 2:
			body = []byte(fmt.Sprintf(unknown, i))
		case 3:
			body = []byte(`{"chain": {"id": "demo@0.1.0", "nodes": `) // truncated export
		}
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("spell%04d.json", i)), body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Not a spell file: skipped.
	if err := os.WriteFile(filepath.Join(dir, "README.txt"), []byte("exports"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestImportCheckReport(t *testing.T) {
	dir := t.TempDir()
	compatFixture(t, dir, 8)
	out, errs, code := cli(t, t.TempDir(), "import", "--check", dir)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (some spells cannot run); stderr %s", code, errs)
	}
	for _, want := range []string{
		"spell0000.json: ok",
		"spell0001.json: ok",
		"spell0002.json: 3 problems",
		`unknown node type "Warp Drive"`,
		"spell0003.json: cannot be read",
		"8 spell files: 4 ok, 4 with problems",
		`"Warp Drive"                     in 2 files, 4 nodes`,
		`"Tachyon Emitter"                in 2 files, 2 nodes`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "README") {
		t.Errorf("a non-JSON file was checked:\n%s", out)
	}

	out, _, code = cli(t, t.TempDir(), "import", "--check", "--json", dir)
	var rep compatReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if code != 1 || rep.OK != 4 || rep.Failed != 4 || len(rep.Files) != 8 {
		t.Fatalf("--json: exit %d, ok %d, failed %d, files %d", code, rep.OK, rep.Failed, len(rep.Files))
	}
	if len(rep.UnknownTypes) != 2 || rep.UnknownTypes[0] != (unknownType{Type: "Warp Drive", Files: 2, Nodes: 4}) {
		t.Fatalf("unknown types %+v", rep.UnknownTypes)
	}

	// validate on a folder gives the same report; a folder of good spells exits 0.
	out, _, code = cli(t, t.TempDir(), "validate", "../../examples")
	if code != 0 || !strings.Contains(out, "6 spell files: 6 ok, 0 with problems") {
		t.Fatalf("validate examples/: exit %d\n%s", code, out)
	}
	// import --check saves nothing, and so needs no data directory.
	data := t.TempDir()
	if _, _, code := cli(t, data, "import", "--check", "../../examples/hello.json"); code != 0 {
		t.Fatalf("import --check hello.json: exit %d", code)
	}
	if entries, _ := os.ReadDir(data); len(entries) != 0 {
		t.Fatalf("import --check wrote %d entries into the data directory", len(entries))
	}
	if _, errs, code := cli(t, t.TempDir(), "import", "--check", filepath.Join(dir, "missing")); code == 0 || !strings.Contains(errs, "no such file") {
		t.Fatalf("a missing folder: exit %d, stderr %q", code, errs)
	}
}

// BenchmarkImportCheck1000 checks 1,000 spell files, the figure
// (under 5 s on the development machine).
func BenchmarkImportCheck1000(b *testing.B) {
	dir := b.TempDir()
	compatFixture(b, dir, 1000)
	paths, err := spellFiles([]string{dir})
	if err != nil {
		b.Fatal(err)
	}
	cat := newCatalog(nil)
	b.ResetTimer()
	for b.Loop() {
		rep := checkSpells(paths, cat)
		if rep.OK != 500 {
			b.Fatalf("ok %d, want 500", rep.OK)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/1000files")
}

func TestNodesGroupedAndDocumented(t *testing.T) {
	out, _, code := cli(t, t.TempDir(), "nodes")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	io := strings.Index(out, "== Inputs, outputs and triggers (io) ==")
	flow := strings.Index(out, "== Flow: gates, loops, sub-spells (flow) ==")
	if io != 0 || flow < io || !strings.Contains(out[io:flow], "Module Trigger In") || strings.Contains(out[io:flow], "Boolean Gate") {
		t.Fatalf("node types are not grouped by family:\n%.600s", out)
	}
	md, _, code := cli(t, t.TempDir(), "nodes", "--markdown")
	if code != 0 {
		t.Fatalf("--markdown: exit %d", code)
	}
	doc, err := os.ReadFile("../../docs/nodes.md")
	if err != nil {
		t.Fatal(err)
	}
	if string(doc) != md {
		t.Fatal("docs/nodes.md is not what the registry says; run `make docs` and commit it")
	}
}
