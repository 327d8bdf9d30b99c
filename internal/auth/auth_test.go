package auth

import (
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseTokens(t *testing.T) {
	good := "# hoist tokens\n\nviewer  aaaaaaaaaaaaaaaaaaaa\noperator bbbbbbbbbbbbbbbbbbbb\nADMIN cccccccccccccccccccc\nwebhook dddddddddddddddddddd\n"
	tk, err := ParseTokens(strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	for tok, want := range map[string]Role{"aaaaaaaaaaaaaaaaaaaa": RoleViewer, "bbbbbbbbbbbbbbbbbbbb": RoleOperator,
		"cccccccccccccccccccc": RoleAdmin, "dddddddddddddddddddd": RoleWebhook, "eeeeeeeeeeeeeeeeeeee": RoleNone, "": RoleNone} {
		if got, _ := tk.Lookup(tok); got != want {
			t.Errorf("Lookup(%q) = %s, want %s", tok, got, want)
		}
	}
	for _, c := range []struct {
		in   string
		want error
	}{
		{"root aaaaaaaaaaaaaaaaaaaa", ErrUnknownRole},
		{"viewer short", ErrWeakToken},
		{"viewer", ErrBadTokens},
		{"viewer aaaaaaaaaaaaaaaaaaaa extra", ErrBadTokens},
		{"viewer aaaaaaaaaaaaaaaaaaaa\nadmin aaaaaaaaaaaaaaaaaaaa", ErrBadTokens},
		{"# nothing", ErrBadTokens},
	} {
		_, err := ParseTokens(strings.NewReader(c.in))
		if !errors.Is(err, c.want) {
			t.Errorf("%q: %v, want %v", c.in, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "aaaaaaaa") {
			t.Errorf("error message leaks the token: %v", err)
		}
	}
}

func TestTokensKeptHashed(t *testing.T) {
	tk, _ := ParseTokens(strings.NewReader("admin secret-secret-secret-1"))
	for _, e := range tk.entries {
		if strings.Contains(string(e.hash[:]), "secret") {
			t.Fatal("token kept in clear")
		}
	}
}

func TestRoles(t *testing.T) {
	allow := map[[2]Role]bool{
		{RoleViewer, RoleViewer}: true, {RoleViewer, RoleOperator}: false, {RoleOperator, RoleViewer}: true,
		{RoleOperator, RoleAdmin}: false, {RoleAdmin, RoleOperator}: true, {RoleAdmin, RoleWebhook}: false,
		{RoleWebhook, RoleViewer}: false, {RoleWebhook, RoleWebhook}: true, {RoleNone, RoleViewer}: false,
	}
	for k, want := range allow {
		if got := k[0].Allows(k[1]); got != want {
			t.Errorf("%s.Allows(%s) = %v", k[0], k[1], got)
		}
	}
}

func TestLimiterVirtualClock(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := NewLimiter(3, 10*time.Second, func() time.Time { return now })
	for i := 0; i < 3; i++ {
		if w := l.Wait("1.2.3.4"); w != 0 {
			t.Fatalf("attempt %d must wait %s", i, w)
		}
		l.Fail("1.2.3.4")
	}
	if w := l.Wait("1.2.3.4"); w != 10*time.Second {
		t.Fatalf("after the burst: wait %s", w)
	}
	if w := l.Wait("5.6.7.8"); w != 0 {
		t.Fatal("another address is limited")
	}
	now = now.Add(10 * time.Second)
	if w := l.Wait("1.2.3.4"); w != 0 {
		t.Fatalf("after refill: wait %s", w)
	}
}

func TestWebhookCredential(t *testing.T) {
	tk, _ := ParseTokens(strings.NewReader("admin admin-admin-admin-admin\nwebhook hook-hook-hook-hook-hook"))
	a := New(tk, Options{})
	ts := httptest.NewServer(a.Webhook(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, RoleFrom(r.Context()).String())
	})))
	defer ts.Close()
	for tok, want := range map[string]int{"hook-hook-hook-hook-hook": 200, "admin-admin-admin-admin": 403, "": 401, "nope-nope-nope-nope-nope": 401} {
		req, _ := http.NewRequest("POST", ts.URL, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("token %q: %d, want %d", tok, resp.StatusCode, want)
		}
	}
}

func TestCheckListen(t *testing.T) {
	for _, c := range []struct {
		addr                  string
		tls, tokens, insecure bool
		ok                    bool
	}{
		{"127.0.0.1:8080", false, false, false, true},
		{"localhost:8080", false, false, false, true},
		{"[::1]:8080", false, false, false, true},
		{":8080", true, true, false, true},
		{":8080", false, true, false, false},
		{"0.0.0.0:8080", true, false, false, false},
		{"10.0.0.5:8080", false, false, true, true},
	} {
		err := CheckListen(c.addr, c.tls, c.tokens, c.insecure)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrInsecureListen)) {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

func TestSelfSigned(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	cert, key, err := SelfSigned(dir, []string{"hoist.example"}, now)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(key)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", st.Mode(), err)
	}
	if st, _ := os.Stat(filepath.Dir(key)); st.Mode().Perm() != 0o700 {
		t.Fatalf("tls dir mode %v", st.Mode())
	}
	fp1, _ := Fingerprint(cert)
	// Kept: the second start finds the same certificate.
	cert2, _, err := SelfSigned(dir, []string{"hoist.example"}, now)
	if fp2, _ := Fingerprint(cert2); err != nil || fp2 != fp1 {
		t.Fatalf("certificate not kept: %v", err)
	}
	// Near expiry it is renewed.
	cert3, _, _ := SelfSigned(dir, nil, now.Add(800*24*time.Hour))
	if fp3, _ := Fingerprint(cert3); fp3 == fp1 {
		t.Fatal("certificate not renewed before expiry")
	}
	// A client that trusts the file reaches a server that uses it; one that
	// does not is refused.
	cert, key, _ = SelfSigned(dir, nil, now)
	scfg, err := ServerTLS(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	ts.TLS = scfg
	ts.StartTLS()
	defer ts.Close()
	ccfg, err := ClientTLS(cert, false)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: ccfg}}
	resp, err := c.Get(ts.URL)
	if err != nil {
		t.Fatalf("trusted client: %v", err)
	}
	resp.Body.Close()
	plain := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{}}}
	if _, err := plain.Get(ts.URL); err == nil {
		t.Fatal("an untrusting client accepted the self-signed certificate")
	}
}
