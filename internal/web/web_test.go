package web

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
)

func serve(t *testing.T, s *Site, method, path string, hdr map[string]string) *http.Response {
	t.Helper()
	mux := http.NewServeMux()
	s.Register(mux)
	req := httptest.NewRequest(method, path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestServesPageAndAssets(t *testing.T) {
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	res := serve(t, s, "GET", "/", nil)
	page := body(t, res)
	if res.StatusCode != 200 || !strings.Contains(page, `<script type="module" src="assets/app.js">`) {
		t.Fatalf("/: %d %.200s", res.StatusCode, page)
	}
	csp := res.Header.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") {
		t.Errorf("CSP allows unsafe sources: %q", csp)
	}
	if !strings.Contains(page, `content="tokens"`) {
		t.Error("without Open, the page must ask for a token")
	}

	res = serve(t, s, "GET", "/assets/app.js", nil)
	if ct := res.Header.Get("Content-Type"); res.StatusCode != 200 || !strings.HasPrefix(ct, "text/javascript") {
		t.Fatalf("app.js: %d %s", res.StatusCode, ct)
	}
	etag := res.Header.Get("ETag")
	if etag == "" || res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("headers: %v", res.Header)
	}
	if res := serve(t, s, "GET", "/assets/app.js", map[string]string{"If-None-Match": etag}); res.StatusCode != http.StatusNotModified {
		t.Fatalf("revalidation: %d", res.StatusCode)
	}
	if res := serve(t, s, "HEAD", "/assets/style.css", nil); res.StatusCode != 200 || body(t, res) != "" ||
		!strings.HasPrefix(res.Header.Get("Content-Type"), "text/css") {
		t.Fatalf("HEAD style.css: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	for _, p := range []string{"/assets/nope.js", "/assets/", "/index.html", "/assets/vendor/uplot/"} {
		if res := serve(t, s, "GET", p, nil); res.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, res.StatusCode)
		}
	}
	// Only GET: the API's methods elsewhere are not shadowed.
	if res := serve(t, s, "POST", "/", nil); res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d", res.StatusCode)
	}
}

func TestOpenAPIPageSaysSo(t *testing.T) {
	open := true
	s, err := New(Options{Open: func() bool { return open }})
	if err != nil {
		t.Fatal(err)
	}
	a := serve(t, s, "GET", "/", nil)
	if page := body(t, a); !strings.Contains(page, `<meta name="hoist-auth" content="open">`) {
		t.Fatalf("open page: %.300s", page)
	}
	open = false // tokens configured on reload
	b := serve(t, s, "GET", "/", nil)
	if page := body(t, b); !strings.Contains(page, `content="tokens"`) || a.Header.Get("ETag") == b.Header.Get("ETag") {
		t.Fatal("the page did not follow the tokens, or kept its ETag")
	}
}

// Every module the page imports, and every file it links, is embedded: a
// typo would otherwise surface only in a browser.
func TestReferencesResolve(t *testing.T) {
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	for _, p := range s.Paths() {
		served[p] = true
	}
	refs := regexp.MustCompile(`(?:from|import)\s+'(\./[^']+)'|(?:src|href)="(assets/[^"]+)"`)
	for p := range served {
		if !strings.HasSuffix(p, ".js") && p != "/" {
			continue
		}
		text := string(s.files[p].body)
		dir := p[:strings.LastIndex(p, "/")+1]
		for _, m := range refs.FindAllStringSubmatch(text, -1) {
			target := "/" + m[2]
			if m[1] != "" {
				target = dir + strings.TrimPrefix(m[1], "./")
			}
			if !served[target] {
				t.Errorf("%s refers to %s, which is not embedded", p, target)
			}
		}
	}
}

// The vendored chart library is the one its README names, unmodified.
func TestVendoredUPlot(t *testing.T) {
	readme, err := os.ReadFile("static/assets/vendor/uplot/README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := regexp.MustCompile("(?m)^\\| (\\S+) \\| ([0-9a-f]{64}) \\|$").FindAllStringSubmatch(string(readme), -1)
	if len(rows) != 3 {
		t.Fatalf("README lists %d files with hashes, want 3", len(rows))
	}
	for _, r := range rows {
		data, err := os.ReadFile("static/assets/vendor/uplot/" + r[1])
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); got != r[2] {
			t.Errorf("%s: sha256 %s, README says %s", r[1], got, r[2])
		}
	}
	if lic, _ := os.ReadFile("static/assets/vendor/uplot/LICENSE"); !strings.Contains(string(lic), "MIT License") {
		t.Error("uPlot's licence is missing")
	}
}
