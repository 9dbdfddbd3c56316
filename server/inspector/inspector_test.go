package inspector

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http/httptest"
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
	page, ok := assets()["index.html"]
	if !ok {
		t.Fatal("dist/index.html is not embedded")
	}
	for _, name := range []string{"app.js", "app.css"} {
		a, ok := assets()[name]
		if !ok || len(a.body) == 0 {
			t.Fatalf("dist/%s is not embedded", name)
		}
		if !strings.Contains(string(page.body), Prefix+name) {
			t.Errorf("index.html does not load %s%s", Prefix, name)
		}
	}
	if got := assets()["app.js"].kind; !strings.Contains(got, "javascript") {
		t.Errorf("app.js is served as %q", got)
	}
}

func TestFilesAreServedGzippedToClientsThatAcceptIt(t *testing.T) {
	h := FileHandler()
	plain := httptest.NewRecorder()
	h.ServeHTTP(plain, httptest.NewRequest("GET", Prefix+"app.js", nil))
	zipped := httptest.NewRecorder()
	req := httptest.NewRequest("GET", Prefix+"app.js", nil)
	req.Header.Set("Accept-Encoding", "gzip, deflate, br")
	h.ServeHTTP(zipped, req)
	if plain.Code != 200 || zipped.Code != 200 {
		t.Fatalf("HTTP %d and %d", plain.Code, zipped.Code)
	}
	if plain.Header().Get("Content-Encoding") != "" || zipped.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding %q without Accept-Encoding, %q with gzip", plain.Header().Get("Content-Encoding"), zipped.Header().Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(zipped.Body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	unzipped, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(unzipped, plain.Body.Bytes()) || zipped.Body.Len()*2 > plain.Body.Len() {
		t.Fatalf("gzipped %d bytes to %d; the same content: %v", plain.Body.Len(), zipped.Body.Len(), bytes.Equal(unzipped, plain.Body.Bytes()))
	}
	t.Logf("app.js: %d bytes, %d gzipped", plain.Body.Len(), zipped.Body.Len())
}

// BenchmarkLoadAssets: what the first request for the page pays once
// (reading and compressing the embedded files).
func BenchmarkLoadAssets(b *testing.B) {
	for b.Loop() {
		loadAssets()
	}
}
