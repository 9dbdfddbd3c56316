package server

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// notREST are the routes the OpenAPI document leaves out: Socket.IO (its
// protocol is in docs/protocol.md), MCP (GET, POST and DELETE of the Model
// Context Protocol's Streamable HTTP transport, docs/mcp.md) and the
// catch-all that answers 404.
var notREST = map[string]bool{"/socket.io/": true, "/mcp": true, "/": true}

// registeredRoutes reads every pattern the package's code registers with
// mux.Handle or mux.HandleFunc (routes() and whatever it calls, such as
// analystRoutes), from the source.
func registeredRoutes(t *testing.T) []string {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || (sel.Sel.Name != "Handle" && sel.Sel.Name != "HandleFunc") {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); !ok || id.Name != "mux" {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				t.Errorf("%s: a route pattern that is not a string literal", fset.Position(call.Pos()))
				return true
			}
			p, _ := strconv.Unquote(lit.Value)
			out = append(out, p)
			return true
		})
	}
	sort.Strings(out)
	return out
}

func TestOpenAPICoversRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi.json is OpenAPI %q, want 3.x", doc.OpenAPI)
	}
	routes := registeredRoutes(t)
	if len(routes) < 12 {
		t.Fatalf("found only %d routes in the source: %v", len(routes), routes)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			if method != "parameters" && method != "summary" && method != "description" {
				documented[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	served := map[string]bool{}
	for _, r := range routes {
		method, path, ok := strings.Cut(r, " ")
		if !ok {
			if !notREST[r] {
				t.Errorf("route %q has no method: every REST route names one", r)
			}
			continue
		}
		served[r] = true
		if !documented[method+" "+path] {
			t.Errorf("route %q is not in openapi.json", r)
		}
	}
	for op := range documented {
		if !served[op] {
			t.Errorf("openapi.json documents %q, which routes() does not serve", op)
		}
	}
}

// TestOpenAPIDocumentValidates runs a real validator
// (@apidevtools/swagger-parser, installed by `make test-deps`) on the document.
func TestOpenAPIDocumentValidates(t *testing.T) {
	dir := filepath.Join("testdata", "openapi")
	missing := ""
	node, err := exec.LookPath("node")
	if err != nil {
		missing = "node (Node.js 18+) is not on PATH"
	} else if _, err := os.Stat(filepath.Join(dir, "node_modules", "@apidevtools", "swagger-parser", "package.json")); err != nil {
		missing = "the OpenAPI validator is not installed: run `npm ci --prefix server/testdata/openapi` (make test-deps)"
	}
	if missing != "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(missing)
		}
		t.Skip(missing)
	}
	abs, err := filepath.Abs("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "validate.js", abs)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("openapi.json does not validate: %v\n%s", err, out)
	}
	t.Logf("%s", strings.TrimSpace(string(out)))
}
