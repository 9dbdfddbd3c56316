package inspector

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDistMatchesSources builds the page from inspector/ in memory and
// compares it with the committed dist/ (node and inspector's node_modules:
// `make inspector-deps`, part of `make test-deps`).
func TestDistMatchesSources(t *testing.T) {
	src := filepath.Join("..", "..", "inspector")
	missing := ""
	node, err := exec.LookPath("node")
	if err != nil {
		missing = "node (Node.js 20+) is not on PATH"
	} else if _, err := os.Stat(filepath.Join(src, "node_modules", "esbuild", "package.json")); err != nil {
		missing = "inspector/node_modules is not installed: run `make inspector-deps` (part of make test-deps)"
	}
	if missing != "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(missing)
		}
		t.Skip(missing)
	}
	cmd := exec.Command(node, filepath.Join("scripts", "build.mjs"), "--check")
	cmd.Dir = src
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Logf("%s", strings.TrimSpace(string(out)))
}

func TestEmbeddedPageReferencesItsFiles(t *testing.T) {
	page, ok := assets["index.html"]
	if !ok {
		t.Fatal("dist/index.html is not embedded")
	}
	for _, name := range []string{"app.js", "app.css"} {
		a, ok := assets[name]
		if !ok || len(a.body) == 0 {
			t.Fatalf("dist/%s is not embedded", name)
		}
		if !strings.Contains(string(page.body), Prefix+name) {
			t.Errorf("index.html does not load %s%s", Prefix, name)
		}
	}
	if got := assets["app.js"].kind; !strings.Contains(got, "javascript") {
		t.Errorf("app.js is served as %q", got)
	}
}
