package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/fuzzbudget"
)

// serveJSON calls h; path and query are taken raw, as a client may send them.
func serveJSON(h http.Handler, method, path, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "/", strings.NewReader(body))
	req.Host = "127.0.0.1:8080"
	req.Header.Set("Content-Type", "application/json")
	req.URL.Path, req.URL.RawQuery, _ = strings.Cut(path, "?")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// checkErrorShape: every refusal is the API's JSON error.
func checkErrorShape(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	if w.Code < 400 {
		return
	}
	var body struct {
		Error *Error `json:"error"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error == nil || body.Error.Code == "" || body.Error.Message == "" {
		t.Fatalf("status %d without a JSON error: %q", w.Code, w.Body.String())
	}
	if w.Code >= 500 {
		t.Fatalf("server error on client input: %s", w.Body.String())
	}
}

func FuzzDeployApp(f *testing.F) {
	for _, s := range []string{batchApp, `{}`, `{"name":"x"}`, `[]`, `null`, `{"name":"a","image":"i","pools":["workers"],"replicas":{"min":1e400}}`,
		`{"name":"a","image":"i","pools":["workers"],"resources":{"limits":{"memory":"12QiB"}}}`,
		`{"name":"a","image":"i","pools":["workers"],"policies":[{"type":"schedule","windows":[{"start":"25:00"}]}]}`,
		`{"name":"a","image":"i","pools":["workers"],"policies":[{"type":"threshold","metric":"cpu","upper":1,"lower":2}]}`,
		`{"name":"a","name":"b"}`, `{"name":"a","image":"i","pools":["workers"],"labels":{"k":{"x":1}}}`} {
		f.Add(s)
	}
	e := newEnv(f, 2)
	h := e.srv.Handler()
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, body string) {
		before, _ := e.db.Apps(ctx)
		var w *httptest.ResponseRecorder
		// 255 policies (17 KB) cost 33 MB and 0.15 s (BenchmarkDeployBodies):
		// the budget catches the gigabyte kind.
		fuzzbudget.Check(t, fuzzbudget.Budget{Fixed: 16 << 20, PerByte: 4 << 10, Time: 5 * time.Second}, len(body), func() {
			w = serveJSON(h, "POST", "/v1/apps", body)
		})
		checkErrorShape(t, w)
		after, _ := e.db.Apps(ctx)
		if w.Code != http.StatusCreated {
			if len(after) != len(before) || len(e.cat.Apps()) != len(before) {
				t.Fatalf("refused (%d) but stored: %s", w.Code, w.Body.String())
			}
			return
		}
		if len(after) != len(before)+1 {
			t.Fatalf("accepted but not stored")
		}
		var got struct{ App appView }
		_ = json.Unmarshal(w.Body.Bytes(), &got)
		a, ok := e.cat.App(got.App.Name)
		if !ok {
			t.Fatalf("accepted app %q not in the catalog", got.App.Name)
		}
		pools := map[string]*config.Pool{}
		cfg := e.stack.Engine.Config()
		for i := range cfg.Pools {
			pools[cfg.Pools[i].Name] = &cfg.Pools[i]
		}
		if errs := a.Check(pools); len(errs) > 0 {
			t.Fatalf("accepted an invalid app: %v", errs)
		}
		if w := serveJSON(h, "DELETE", "/v1/apps/"+a.Name, ""); w.Code != 200 {
			t.Fatalf("delete: %d %s", w.Code, w.Body.String())
		}
	})
}

func FuzzSetPolicy(f *testing.F) {
	for _, s := range []string{`{"replicas":{"min":3,"max":9}}`, `{"policies":[]}`, `{"policies":[{"type":"target","metric":"cpu","target":-1}]}`,
		`{"image":"x"}`, `{"cooldown":{"up":"-1s"}}`, `{"replicas":null}`, `{"policies":[{"type":"target","metric":"rps","target":5,"scale_up":{"max_percent":0}}]}`} {
		f.Add(s)
	}
	e := newEnv(f, 2)
	h := e.srv.Handler()
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, body string) {
		cfgBefore := e.stack.Engine.Config()
		w := serveJSON(h, "PUT", "/v1/apps/web/policy", body)
		checkErrorShape(t, w)
		ovs, _ := e.db.Overrides(ctx)
		if w.Code != http.StatusOK {
			if e.stack.Engine.Config() != cfgBefore || len(ovs) != 0 {
				t.Fatalf("refused (%d) but changed: %s", w.Code, w.Body.String())
			}
			return
		}
		if len(ovs) != 1 {
			t.Fatalf("accepted but not stored")
		}
		a, _ := e.stack.Engine.Config().App("web")
		if err := e.stack.Engine.Config().Validate(); err != nil {
			t.Fatalf("accepted a policy that breaks the descriptor: %v", err)
		}
		if a.Replicas != ovs["web"].Replicas {
			t.Fatalf("engine runs %+v, store has %+v", a.Replicas, ovs["web"].Replicas)
		}
		if w := serveJSON(h, "DELETE", "/v1/apps/web/policy", ""); w.Code != 200 {
			t.Fatalf("reset: %d %s", w.Code, w.Body.String())
		}
	})
}

func FuzzEventQuery(f *testing.F) {
	for _, s := range []string{"limit=5", "kind=machine&after=3", "since=1h&until=2026-01-05T10:00:00Z", "before=18446744073709551615", "kind=,,,", "after=-1", "limit=99999"} {
		f.Add(s)
	}
	e := newEnv(f, 2)
	h := e.srv.Handler()
	f.Fuzz(func(t *testing.T, query string) {
		w := serveJSON(h, "GET", "/v1/events?"+query, "")
		checkErrorShape(t, w)
	})
}

func FuzzScale(f *testing.F) {
	for _, s := range []string{`{"count":2}`, ``, `{"count":-1}`, `{"count":1e3}`, `{"count":"1"}`, `{}{}`} {
		f.Add(s, "3")
	}
	e := newEnv(f, 2)
	h := e.srv.Handler()
	f.Fuzz(func(t *testing.T, body, n string) {
		w := serveJSON(h, "POST", "/v1/pools/workers/scaleup", body)
		checkErrorShape(t, w)
		if strings.ContainsAny(n, "/?") || n == "" {
			return // another route
		}
		w = serveJSON(h, "POST", "/v1/pools/workers/scaleto/"+n, "")
		checkErrorShape(t, w)
		active := 0
		for _, r := range e.stack.Engine.Machines() {
			if r.Phase.Counts() {
				active++
			}
		}
		if active > 6 {
			t.Fatalf("%d machines in a pool of max 6", active)
		}
	})
}

// FuzzStreamQuery: the event stream's parameters and Last-Event-ID, through
// the route (its request already cancelled, so the stream ends once it has
// sent what it holds), within a budget; a refusal is the JSON error.
func FuzzStreamQuery(f *testing.F) {
	for _, s := range []string{"after=0", "kind=machine&after=3", "kind=app.deployed,pool.scale_up", "since=1h", "after=1&before=2", "limit=0", "kind=" + strings.Repeat("x", 70)} {
		f.Add(s, "")
	}
	f.Add("", "2")
	f.Add("", "-1")
	f.Add("after=1", "18446744073709551616")
	e := newEnv(f, 3)
	h := e.srv.Handler()
	f.Fuzz(func(t *testing.T, query, lastID string) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		req := localRequest("GET", "/")
		req = req.WithContext(ctx)
		req.URL.Path, req.URL.RawQuery = "/v1/events/stream", query
		req.Header["Last-Event-ID"] = []string{lastID}
		w := httptest.NewRecorder()
		fuzzbudget.Check(t, fuzzbudget.Budget{Fixed: 4 << 20, PerByte: 64}, len(query)+len(lastID), func() { h.ServeHTTP(w, req) })
		if w.Code != 200 {
			checkErrorShape(t, w)
			return
		}
		if !strings.Contains(w.Body.String(), ": connected") {
			t.Fatalf("a stream without its opening: %q", w.Body.String())
		}
	})
}

// FuzzSeriesQuery: the series routes' after= and names, within a budget.
func FuzzSeriesQuery(f *testing.F) {
	for _, s := range []string{"1767600000", "1767600000.123", "-1", "1e11", "NaN", "Inf", "2026-01-05T08:00:00Z", "0x10", ""} {
		f.Add("web", s)
	}
	f.Add("workers", "1")
	e := newEnv(f, 3)
	h := e.srv.Handler()
	f.Fuzz(func(t *testing.T, name, after string) {
		if strings.ContainsAny(name, "/?#%") {
			return // another route
		}
		q := "after=" + url.QueryEscape(after)
		for _, path := range []string{"/v1/series?" + q, "/v1/apps/" + name + "/series?" + q, "/v1/pools/" + name + "/series?" + q} {
			var w *httptest.ResponseRecorder
			fuzzbudget.Check(t, fuzzbudget.Budget{Fixed: 4 << 20, PerByte: 64}, len(name)+len(after), func() { w = serveJSON(h, "GET", path, "") })
			checkErrorShape(t, w)
		}
	})
}

// FuzzCheckShape: on valid JSON, the byte scan agrees with the decoder on
// depth (strings with brackets and escaped quotes included).
func FuzzCheckShape(f *testing.F) {
	for _, s := range []string{`{}`, `[[[]]]`, `{"a":"[[[[\"{"}`, nested(40), nested(32), `"\\"`, `[1,2,3]`, `{"a":{"b":["]"]}}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var e *Error
		fuzzbudget.Check(t, fuzzbudget.Budget{Fixed: 1 << 10}, len(s), func() { e = checkShape([]byte(s)) })
		if !json.Valid([]byte(s)) {
			return
		}
		depth, deepest := 0, 0
		dec := json.NewDecoder(strings.NewReader(s))
		for {
			tok, err := dec.Token()
			if err != nil {
				break
			}
			switch tok {
			case json.Delim('{'), json.Delim('['):
				depth++
				deepest = max(deepest, depth)
			case json.Delim('}'), json.Delim(']'):
				depth--
			}
		}
		if (e == nil && deepest > maxDepth) || (e != nil && e.Code == "too_deep" && deepest <= maxDepth) {
			t.Fatalf("depth %d: checkShape says %v", deepest, e)
		}
	})
}
