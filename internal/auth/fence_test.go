package auth

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fenced serves "ok" behind a fence over a real loopback listener.
func fenced(t *testing.T, allowed []string) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(NewFence(allowed).Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	})))
	t.Cleanup(ts.Close)
	return ts
}

func send(t *testing.T, ts *httptest.Server, method, host, body string, hdr map[string]string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.URL+"/v1/apps", rd)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

func TestFenceHost(t *testing.T) {
	ts := fenced(t, []string{"hoist.example.org"})
	for _, c := range []struct {
		host string
		want int
	}{
		{"", 200}, // the listener's own 127.0.0.1:port
		{"localhost:8080", 200},
		{"LOCALHOST", 200},
		{"app.localhost:1", 200},
		{"[::1]:8080", 200},
		{"10.1.2.3:8080", 200}, // any IP literal: no DNS to rebind
		{"hoist.example.org:8443", 200},
		{"hoist.example.org.", 200},
		{"evil.example", http.StatusMisdirectedRequest},
		{"evil.example:8080", http.StatusMisdirectedRequest},
		{"localhost.evil.example", http.StatusMisdirectedRequest},
		{"127.0.0.1.nip.io", http.StatusMisdirectedRequest},
	} {
		code, body := send(t, ts, "GET", c.host, "", nil)
		if code != c.want {
			t.Errorf("Host %q: %d %s, want %d", c.host, code, body, c.want)
		}
		if code != 200 && !strings.Contains(body, `"host_not_allowed"`) {
			t.Errorf("Host %q: not the JSON error: %s", c.host, body)
		}
	}
	// nil: this machine's name is accepted.
	if h, err := os.Hostname(); err == nil && h != "" {
		ts := fenced(t, nil)
		if code, body := send(t, ts, "GET", h+":1", "", nil); code != 200 {
			t.Errorf("own host name %q: %d %s", h, code, body)
		}
	}
}

func TestFenceCrossSiteAndContentType(t *testing.T) {
	ts := fenced(t, nil)
	self := strings.TrimPrefix(ts.URL, "http://")
	json := map[string]string{"Content-Type": "application/json"}
	for _, c := range []struct {
		name, method, body string
		hdr                map[string]string
		want               int
	}{
		{"CLI POST", "POST", `{}`, json, 200},
		{"CLI POST with charset", "POST", `{}`, map[string]string{"Content-Type": "application/json; charset=utf-8"}, 200},
		{"POST without body", "POST", "", nil, 200},
		{"no-cors text/plain", "POST", `{"name":"miner"}`, map[string]string{"Content-Type": "text/plain;charset=UTF-8"}, 415},
		{"form", "POST", `a=b`, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415},
		{"body without type", "POST", `{}`, map[string]string{}, 415},
		{"bad type", "PUT", `{}`, map[string]string{"Content-Type": ";;"}, 415},
		{"cross-site fetch", "POST", `{}`, map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, 403},
		{"another localhost port", "POST", `{}`, map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "same-site", "Origin": "http://localhost:3000"}, 403},
		{"old browser, foreign Origin", "DELETE", "", map[string]string{"Origin": "https://evil.example"}, 403},
		{"sandboxed page", "DELETE", "", map[string]string{"Origin": "null"}, 403},
		{"same origin", "POST", `{}`, map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "same-origin", "Origin": "http://" + self}, 200},
		{"old browser, own Origin", "POST", `{}`, map[string]string{"Content-Type": "application/json", "Origin": "http://" + self}, 200},
		{"cross-site read", "GET", "", map[string]string{"Sec-Fetch-Site": "cross-site"}, 200},
	} {
		code, body := send(t, ts, c.method, "", c.body, c.hdr)
		if code != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, code, body, c.want)
		}
		if code != 200 && !strings.Contains(body, `"error"`) {
			t.Errorf("%s: not the JSON error: %s", c.name, body)
		}
	}
}

func TestClientKey(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1":           "loopback",
		"127.3.4.5":           "loopback",
		"::1":                 "loopback",
		"::ffff:127.0.0.9":    "loopback",
		"10.0.0.1":            "10.0.0.1",
		"::ffff:10.0.0.1":     "10.0.0.1",
		"2001:db8:1:2:3::4":   "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::": "2001:db8:1:2::/64",
		"2001:db8:1:3::4":     "2001:db8:1:3::/64",
		"not-an-ip":           "not-an-ip",
	} {
		if got := AddrKey(in); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

// TestLimiterCountsLoopbackAsOne: guesses spread over 20 loopback source
// addresses, over real connections, are one client's guesses.
func TestLimiterCountsLoopbackAsOne(t *testing.T) {
	tk, _ := ParseTokens(strings.NewReader("viewer viewer-viewer-viewer-viewer"))
	a := New(tk, Options{Burst: 10, Every: time.Hour})
	ts := httptest.NewServer(a.Require(RoleViewer, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
	defer ts.Close()
	codes := map[int]int{}
	for i := 0; i < 40; i++ {
		src := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%20))}
		tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: src}).DialContext}
		req, _ := http.NewRequest("GET", ts.URL, nil)
		req.Header.Set("Authorization", fmt.Sprintf("Bearer guess-guess-guess-%02d", i))
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		tr.CloseIdleConnections()
		codes[resp.StatusCode]++
	}
	if codes[http.StatusUnauthorized] != 10 || codes[http.StatusTooManyRequests] != 30 {
		t.Fatalf("40 guesses from 20 loopback addresses: %v, want 10 x 401 then 429", codes)
	}
}

func TestWebhookClosedInOpenMode(t *testing.T) {
	a := New(nil, Options{})
	ts := httptest.NewServer(a.Webhook(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("an open-mode webhook let a request through")
	})))
	defer ts.Close()
	resp, err := http.Post(ts.URL, "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("open-mode webhook: %d", resp.StatusCode)
	}
}

func TestPrincipal(t *testing.T) {
	tk, _ := ParseTokens(strings.NewReader("viewer viewer-viewer-viewer-viewer\nviewer other-other-other-other"))
	var got []string
	h := func(a *Authenticator) *httptest.Server {
		return httptest.NewServer(a.Require(RoleViewer, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got = append(got, PrincipalFrom(r.Context()))
		})))
	}
	ts := h(New(tk, Options{}))
	defer ts.Close()
	for _, tok := range []string{"viewer-viewer-viewer-viewer", "other-other-other-other", "viewer-viewer-viewer-viewer"} {
		req, _ := http.NewRequest("GET", ts.URL, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if len(got) != 3 || got[0] != got[2] || got[0] == got[1] || !strings.HasPrefix(got[0], "token:") || strings.Contains(got[0], "viewer") {
		t.Fatalf("principals: %q", got)
	}
	open := h(New(nil, Options{}))
	defer open.Close()
	resp, err := open.Client().Get(open.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got[3] != "client:loopback" {
		t.Fatalf("open-mode principal %q", got[3])
	}
}

func TestSelfSignedIsALeaf(t *testing.T) {
	dir := t.TempDir()
	cert, _, err := SelfSigned(dir, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(cert)
	b, _ := pem.Decode(data)
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !c.BasicConstraintsValid || c.IsCA || c.KeyUsage&x509.KeyUsageCertSign != 0 {
		t.Fatalf("not a leaf: CA %v, key usage %b", c.IsCA, c.KeyUsage)
	}
}

func TestSelfSignedKeyNeverLeaks(t *testing.T) {
	t.Run("stale world-readable tmp", func(t *testing.T) {
		dir := t.TempDir()
		tlsDir := filepath.Join(dir, "tls")
		os.Mkdir(tlsDir, 0o700)
		stale := filepath.Join(dir, KeyFile+".tmp")
		if err := os.WriteFile(stale, []byte("old key"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, key, err := SelfSigned(dir, nil, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if st, err := os.Stat(key); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("key mode %v %v", st.Mode(), err)
		}
		if _, err := os.Lstat(stale); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("stale tmp key kept: %v", err)
		}
		checkNoOtherFiles(t, tlsDir)
	})
	t.Run("symlink at the tmp path", func(t *testing.T) {
		dir, elsewhere := t.TempDir(), t.TempDir()
		os.Mkdir(filepath.Join(dir, "tls"), 0o700)
		target := filepath.Join(elsewhere, "stolen")
		if err := os.Symlink(target, filepath.Join(dir, KeyFile+".tmp")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := SelfSigned(dir, nil, time.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(target); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the key was written through the link: %v", err)
		}
	})
	t.Run("symlink at the key path", func(t *testing.T) {
		dir, elsewhere := t.TempDir(), t.TempDir()
		os.Mkdir(filepath.Join(dir, "tls"), 0o700)
		target := filepath.Join(elsewhere, "stolen")
		os.WriteFile(target, nil, 0o644)
		os.Symlink(target, filepath.Join(dir, KeyFile))
		if _, _, err := SelfSigned(dir, nil, time.Now()); !errors.Is(err, ErrUnsafePath) {
			t.Fatalf("a link as key file: %v", err)
		}
		if data, _ := os.ReadFile(target); len(data) != 0 {
			t.Fatal("the key was written through the link")
		}
	})
	t.Run("key readable by others", func(t *testing.T) {
		dir := t.TempDir()
		_, key, err := SelfSigned(dir, nil, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		os.Chmod(key, 0o644)
		if _, _, err := SelfSigned(dir, nil, time.Now()); !errors.Is(err, ErrUnsafePath) || !strings.Contains(err.Error(), key) {
			t.Fatalf("a readable key: %v", err)
		}
	})
	t.Run("data directory writable by others", func(t *testing.T) {
		dir := t.TempDir()
		os.Chmod(dir, 0o777)
		if _, _, err := SelfSigned(dir, nil, time.Now()); !errors.Is(err, ErrUnsafePath) {
			t.Fatalf("world-writable data dir: %v", err)
		}
		os.Chmod(dir, 0o700)
		os.Mkdir(filepath.Join(dir, "tls"), 0o770)
		os.Chmod(filepath.Join(dir, "tls"), 0o770)
		if _, _, err := SelfSigned(dir, nil, time.Now()); !errors.Is(err, ErrUnsafePath) {
			t.Fatalf("group-writable tls dir: %v", err)
		}
	})
	t.Run("data directory of another user", func(t *testing.T) {
		if os.Geteuid() == 0 {
			// As root, a directory of nobody's is made; as another user, / is root's.
			dir := t.TempDir()
			if err := os.Chown(dir, 65534, 65534); err != nil {
				t.Fatal(err)
			}
			if _, _, err := SelfSigned(dir, nil, time.Now()); !errors.Is(err, ErrUnsafePath) {
				t.Fatalf("nobody's data dir: %v", err)
			}
			return
		}
		if err := CheckPrivateDir("/"); !errors.Is(err, ErrUnsafePath) {
			t.Fatalf("root's directory: %v", err)
		}
	})
}

// checkNoOtherFiles: only the key and the certificate are left.
func checkNoOtherFiles(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "cert.pem,key.pem" {
		t.Fatalf("tls dir holds %v", names)
	}
}
