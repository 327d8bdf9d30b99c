// Package web is hoist's dashboard: plain ES modules, CSS and a vendored
// chart library (uPlot), embedded in the binary and served beside the API on
// the same port. The browser talks only to the /v1 API with the user's token;
// nothing is fetched from anywhere else and there is no build step.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// asset is one embedded file with what serving it needs.
type asset struct {
	body  []byte
	etag  string
	ctype string
}

// Options configure a Site.
type Options struct {
	// Open reports whether the API takes requests without a token (loopback
	// without --tokens). The page is told, so it asks for a token only when
	// one is needed instead of provoking a 401 first. Nil: tokens needed.
	Open func() bool
}

// Site serves the dashboard.
type Site struct {
	opt   Options
	files map[string]asset // by URL path
	open  asset            // the page when no token is needed
}

// authMeta is the page's placeholder saying whether tokens are needed.
var (
	authMeta     = []byte(`<meta name="hoist-auth" content="tokens">`)
	authMetaOpen = []byte(`<meta name="hoist-auth" content="open">`)
)

// New reads the embedded files once: their ETags are content hashes, so a
// browser revalidates cheaply and never runs a stale script after an upgrade.
func New(opt Options) (*Site, error) {
	s := &Site{opt: opt, files: map[string]asset{}}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := static.ReadFile(p)
		if err != nil {
			return fmt.Errorf("web: %w", err)
		}
		sum := sha256.Sum256(body)
		ctype := mime.TypeByExtension(path.Ext(p))
		switch path.Ext(p) {
		case ".js":
			ctype = "text/javascript; charset=utf-8"
		case ".md", "":
			ctype = "text/plain; charset=utf-8"
		}
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		url := strings.TrimPrefix(p, "static")
		if url == "/index.html" {
			url = "/"
		}
		s.files[url] = asset{body: body, etag: `"` + hex.EncodeToString(sum[:12]) + `"`, ctype: ctype}
		return nil
	})
	if err != nil {
		return nil, err
	}
	index, ok := s.files["/"]
	if !ok || !bytes.Contains(index.body, authMeta) {
		return nil, fmt.Errorf("web: index.html is not embedded or lacks %s", authMeta)
	}
	body := bytes.Replace(index.body, authMeta, authMetaOpen, 1)
	sum := sha256.Sum256(body)
	s.open = asset{body: body, etag: `"` + hex.EncodeToString(sum[:12]) + `"`, ctype: index.ctype}
	return s, nil
}

// Register mounts the dashboard on mux: the page at / and its files under
// /assets/. Patterns are GET only and leave /v1/ and /metrics to others.
func (s *Site) Register(mux *http.ServeMux) {
	mux.Handle("GET /{$}", s)
	mux.Handle("GET /assets/", s)
}

// Paths lists the URL paths served (tests).
func (s *Site) Paths() []string {
	out := make([]string, 0, len(s.files))
	for p := range s.files {
		out = append(out, p)
	}
	return out
}

// csp allows only the dashboard's own files and the API on the same origin:
// no inline script, no inline style attribute, no framing.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func (s *Site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a, ok := s.files[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.URL.Path == "/" && s.opt.Open != nil && s.opt.Open() {
		a = s.open
	}
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("ETag", a.etag)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	if r.URL.Path == "/" {
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Frame-Options", "DENY")
	}
	// ServeContent answers If-None-Match with 304 and HEAD without a body.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
