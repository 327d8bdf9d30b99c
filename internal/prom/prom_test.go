package prom

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/prom/promtest"
)

// Answers as Prometheus 2.42 gives them (recorded with curl).
const (
	vectorOne   = `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"app":"web"},"value":[1767600000.123,"42.5"]}]}}`
	vectorEmpty = `{"status":"success","data":{"resultType":"vector","result":[]}}`
	vectorTwo   = `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"1"},"value":[1,"1"]},{"metric":{"a":"2"},"value":[1,"2"]}]}}`
	vectorNaN   = `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"NaN"]}]}}`
	scalarTwo   = `{"status":"success","data":{"resultType":"scalar","result":[1767600000,"2"]}}`
	matrix      = `{"status":"success","data":{"resultType":"matrix","result":[]}}`
	badData     = `{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:5: parse error: unexpected end of input"}`
)

func fake(t *testing.T, status int, body string, check func(r *http.Request)) *Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if check != nil {
			check(r)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	c, err := New(config.Prometheus{URL: srv.URL, Timeout: config.Duration(5 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestQueryAnswers(t *testing.T) {
	cases := []struct {
		name   string
		status int
		body   string
		want   float64
		kind   error // nil: a value
	}{
		{"one series", 200, vectorOne, 42.5, nil},
		{"scalar", 200, scalarTwo, 2, nil},
		{"empty vector", 200, vectorEmpty, 0, ErrEmpty},
		{"NaN", 200, vectorNaN, 0, ErrNotANumber},
		{"several series", 200, vectorTwo, 0, ErrAmbiguous},
		{"range vector", 200, matrix, 0, ErrQuery},
		{"bad PromQL", 400, badData, 0, ErrQuery},
		{"server error", 503, "Service Unavailable", 0, ErrUnavailable},
		{"not JSON", 200, "<html>", 0, ErrUnavailable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cl := fake(t, c.status, c.body, func(r *http.Request) {
				if r.URL.Path != "/api/v1/query" || r.FormValue("query") != "sum(x)" {
					t.Errorf("request %s %s query %q", r.Method, r.URL.Path, r.FormValue("query"))
				}
			})
			v, err := cl.Value(context.Background(), engine.MetricQuery{App: "web", Query: "sum(x)"})
			if c.kind == nil {
				if err != nil || v != c.want {
					t.Fatalf("got %v, %v; want %v", v, err, c.want)
				}
				return
			}
			if !errors.Is(err, c.kind) || !errors.Is(err, engine.ErrNoData) {
				t.Fatalf("got %v, %v; want an error wrapping %v and engine.ErrNoData", v, err, c.kind)
			}
		})
	}
}

// Prometheus's own message reaches the event: "held: no data: bad_data: ...".
func TestQueryErrorCarriesReason(t *testing.T) {
	_, err := fake(t, 400, badData, nil).Query(context.Background(), "sum(")
	if err == nil || !strings.Contains(err.Error(), "bad_data: invalid parameter") {
		t.Fatalf("got %v", err)
	}
}

func TestUnreachableAndTimeout(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	c, err := New(config.Prometheus{URL: url, Timeout: config.Duration(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Query(context.Background(), "up"); !errors.Is(err, ErrUnavailable) || !errors.Is(err, engine.ErrNoData) {
		t.Fatalf("closed port: %v", err)
	}

	// A server that never answers: the client's timeout ends the wait.
	block := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-block:
		}
	}))
	defer slow.Close()
	defer close(block)
	c, err = New(config.Prometheus{URL: slow.URL, Timeout: config.Duration(50 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Query(context.Background(), "up"); !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("slow server: %v", err)
	}
}

func TestBuiltinMetricIsNotAsked(t *testing.T) {
	called := false
	c := fake(t, 200, vectorOne, func(*http.Request) { called = true })
	if _, err := c.Value(context.Background(), engine.MetricQuery{App: "web", Metric: "cpu"}); !errors.Is(err, engine.ErrNoData) || called {
		t.Fatalf("err %v, called %v", err, called)
	}
}

func TestAuth(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(tokenFile, []byte("tok-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pwFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		auth *config.HTTPAuth
		want string
	}{
		{"bearer", &config.HTTPAuth{BearerToken: "tok"}, "Bearer tok"},
		{"bearer file", &config.HTTPAuth{BearerTokenFile: tokenFile}, "Bearer tok-from-file"},
		{"basic", &config.HTTPAuth{Username: "hoist", Password: "pw"}, "Basic aG9pc3Q6cHc="},
		{"basic file", &config.HTTPAuth{Username: "hoist", PasswordFile: pwFile}, "Basic aG9pc3Q6czNjcmV0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = r.Header.Get("Authorization")
				_, _ = w.Write([]byte(vectorOne))
			}))
			defer srv.Close()
			cl, err := New(config.Prometheus{URL: srv.URL, Timeout: config.Duration(time.Second), Auth: c.auth})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cl.Query(context.Background(), "up"); err != nil || got != c.want {
				t.Fatalf("Authorization %q, err %v; want %q", got, err, c.want)
			}
		})
	}
	if _, err := New(config.Prometheus{URL: "http://127.0.0.1:1", Auth: &config.HTTPAuth{BearerTokenFile: filepath.Join(dir, "missing")}}); err == nil {
		t.Fatal("a missing token file must fail at start")
	}
}

func TestTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(vectorOne))
	}))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]*config.ClientTLS{
		"ca file":  {CAFile: ca},
		"insecure": {InsecureSkipVerify: true},
	} {
		c, err := New(config.Prometheus{URL: srv.URL, Timeout: config.Duration(time.Second), TLS: tc})
		if err != nil {
			t.Fatal(err)
		}
		if v, err := c.Query(context.Background(), "up"); err != nil || v != 42.5 {
			t.Errorf("%s: %v, %v", name, v, err)
		}
	}
	// Without the CA the certificate is refused, and that is no data.
	c, err := New(config.Prometheus{URL: srv.URL, Timeout: config.Duration(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Query(context.Background(), "up"); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("unknown CA: %v", err)
	}
}

// The same client against the real Prometheus: values, each kind of no
// data, and the lifecycle reload.
func TestRealPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus")
	}
	s := promtest.Start(t, "")
	c, err := New(config.Prometheus{URL: s.URL, Timeout: config.Duration(5 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if v, err := c.Query(ctx, "vector(3) * 2"); err != nil || v != 6 {
		t.Errorf("vector: %v, %v", v, err)
	}
	if v, err := c.Query(ctx, "1 + 1"); err != nil || v != 2 {
		t.Errorf("scalar: %v, %v", v, err)
	}
	for q, kind := range map[string]error{
		`hoist_no_such_metric{app="web"}`: ErrEmpty,
		`vector(0) / 0`:                   ErrNotANumber,
		`label_replace(vector(1), "a", "x", "", "") or label_replace(vector(2), "a", "y", "", "")`: ErrAmbiguous,
		`sum(`: ErrQuery,
	} {
		if _, err := c.Query(ctx, q); !errors.Is(err, kind) || !errors.Is(err, engine.ErrNoData) {
			t.Errorf("%s: got %v, want %v", q, err, kind)
		}
	}
	if err := c.Reload(ctx); err != nil {
		t.Errorf("reload: %v", err)
	}
	// A rule file Prometheus rejects fails the reload with its reason.
	if err := os.WriteFile(filepath.Join(s.RulesDir, "bad.yml"), []byte("groups: [{name: x, rules: [{alert: A, expr: 'sum('}]}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.Reload(ctx); err == nil || !strings.Contains(err.Error(), "HTTP 500") {
		t.Errorf("reload of a bad rule file: %v", err)
	}
}

// TestCheckAgreesWithPromtool: the real Prometheus's verdict on an
// expression (CheckExpr) is promtool's on a rule file holding it, so a file
// written only after CheckExpr accepts its expressions passes `promtool
// check rules`. CheckQuery refuses what cannot give a policy a value.
func TestCheckAgreesWithPromtool(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus")
	}
	s := promtest.Start(t, "")
	c, err := New(config.Prometheus{URL: s.URL, Timeout: config.Duration(10 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	dir := t.TempDir()
	cases := []struct {
		expr string
		ok   bool
	}{
		{`(up) > 5`, true},
		{`(sum(rate(http_requests_total{job="web"}[1m]))) > 100`, true},
		{`(avg_over_time(up[5m])) < 0.5`, true},
		{`(sum(*x)) > 1`, false},
		{`(sum() > 1`, false},
		{`(up[5m]) > 1`, false},   // a range vector in a comparison
		{`(1) > 5`, false},        // scalars compared without bool
		{`("text") > 5`, false},   // a string
		{`(rate(up)) > 1`, false}, // wrong argument type
		{`(up{job=~"("}) > 1`, false},
		{`(up offset -) > 1`, false},
		{"(up)\n> 1", true},
		{`(up) > 1e400`, false}, // out of float64's range
	}
	verdicts := map[string]bool{}
	var files []string
	for i, c2 := range cases {
		err := c.CheckExpr(ctx, c2.expr)
		if (err == nil) != c2.ok {
			t.Errorf("CheckExpr(%q): %v, want ok %v", c2.expr, err, c2.ok)
		}
		if err != nil && !errors.Is(err, ErrQuery) {
			t.Errorf("CheckExpr(%q): %v is not ErrQuery", c2.expr, err)
		}
		file := filepath.Join(dir, fmt.Sprintf("r%d.yml", i))
		rf := fmt.Sprintf("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: %q\n", c2.expr)
		if err := os.WriteFile(file, []byte(rf), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, file)
		verdicts[file] = err == nil
	}
	// One promtool run for every file (each start takes a second).
	out, _ := promtest.Promtool(t, nil, append([]string{"check", "rules"}, files...)...)
	for i, f := range files {
		if promtoolOK := !strings.Contains(out, f+": "); promtoolOK != verdicts[f] {
			t.Errorf("%q: promtool accepts it: %v, Prometheus: %v\n%s", cases[i].expr, promtoolOK, verdicts[f], out)
		}
	}
	for q, ok := range map[string]bool{
		`up`:                   true,
		`sum(rate(up[1m]))`:    true,
		`1 + 1`:                true,
		`hoist_no_such_metric`: true, // no series yet is no reason
		`up[5m]`:               false,
		`"text"`:               false,
		`sum(*x)`:              false,
		`label_replace(vector(1), "a", "x", "", "") or label_replace(vector(2), "a", "y", "", "")`: true,
	} {
		err := c.CheckQuery(ctx, q)
		if (err == nil) != ok || (err != nil && !errors.Is(err, ErrQuery)) {
			t.Errorf("CheckQuery(%q): %v, want ok %v", q, err, ok)
		}
	}
	err = c.CheckQuery(ctx, "sum(*x)")
	if err == nil || !strings.Contains(err.Error(), "parse error") {
		t.Errorf("the parser's message: %v", err)
	}
	down, _ := New(config.Prometheus{URL: "http://127.0.0.1:1", Timeout: config.Duration(time.Second)})
	if err := down.CheckExpr(ctx, "up"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Prometheus down: %v", err)
	}
}
