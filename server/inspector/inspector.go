package inspector

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
)

//go:embed dist
var dist embed.FS

// Prefix is where the page's files are served (the page itself is at /).
const Prefix = "/inspector/"

type asset struct {
	body []byte
	// gzipped is body compressed once at start (app.js: 660 KiB, about
	// 210 KiB gzipped), for clients that accept it.
	gzipped []byte
	etag    string
	kind    string
}

// assets are read (and compressed) on the first request, not at start: every
// command of the binary links this package, and only serve uses it.
var assets = sync.OnceValue(loadAssets)

func loadAssets() map[string]asset {
	out := map[string]asset{}
	err := fs.WalkDir(dist, "dist", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := dist.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		kind := mime.TypeByExtension(path.Ext(p))
		if kind == "" {
			kind = "application/octet-stream"
		}
		var z bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
		zw.Write(body)
		zw.Close()
		out[strings.TrimPrefix(p, "dist/")] = asset{body: body, gzipped: z.Bytes(), etag: `"` + hex.EncodeToString(sum[:8]) + `"`, kind: kind}
		return nil
	})
	if err != nil {
		panic("inspector: read embedded files: " + err.Error())
	}
	return out
}

// WantsPage reports whether a request for / comes from a browser (it
// accepts text/html); API clients asking for JSON, or for nothing in
// particular, get the server's JSON description instead.
func WantsPage(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// ServePage writes the page (index.html).
func ServePage(w http.ResponseWriter, r *http.Request) { serve(w, r, "index.html") }

// FileHandler serves the page's files under Prefix; an unknown name is 404.
func FileHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, Prefix)
		if _, ok := assets()[name]; !ok || name == "index.html" {
			http.NotFound(w, r)
			return
		}
		serve(w, r, name)
	})
}

// serve answers with one embedded file. The names carry no hash, so the
// browser revalidates each time (no-cache) and gets 304 while the binary is
// unchanged.
func serve(w http.ResponseWriter, r *http.Request, name string) {
	a, ok := assets()[name]
	if !ok {
		http.Error(w, "the inspector page was not built into this binary", http.StatusNotFound)
		return
	}
	h := w.Header()
	h.Set("ETag", a.etag)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	if name == "index.html" {
		h.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
	}
	if r.Header.Get("If-None-Match") == a.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", a.kind)
	h.Add("Vary", "Accept-Encoding")
	if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") && len(a.gzipped) < len(a.body) {
		h.Set("Content-Encoding", "gzip")
		w.Write(a.gzipped)
		return
	}
	w.Write(a.body)
}
