package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/hoist/hoist/internal/auth"
	"github.com/hoist/hoist/internal/config"
)

func (e *env) testWhoami() {
	e.t.Helper()
	for _, role := range []string{"viewer", "operator", "admin"} {
		r := e.expect(e.do("GET", "/v1/whoami", role, ""), 200)
		if r.body["role"] != role || r.body["open"] != false {
			e.t.Errorf("%s: %s", role, r.raw)
		}
	}
	// Without tokens (loopback) everyone is admin, and the page is told so.
	cfg := e.stack.Engine.Config()
	srv, err := New(Options{Engine: e.stack.Engine, Events: e.db, Catalog: e.cat, Auth: auth.New(nil, auth.Options{}), Base: cfg})
	if err != nil {
		e.t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, localRequest("GET", "/v1/whoami"))
	if rec.Code != 200 || rec.Body.String() != "{\n  \"open\": true,\n  \"role\": \"admin\"\n}\n" {
		e.t.Errorf("open: %d %s", rec.Code, rec.Body)
	}
}

func (e *env) testLatestSeries() {
	e.t.Helper()
	r := e.expect(e.do("GET", "/v1/series", "viewer", ""), 200)
	apps, _ := r.body["apps"].(map[string]any)
	web, _ := apps["web"].(map[string]any)
	if web == nil || web["metric"] != "cpu" || web["target"] != 60.0 || web["min"] != 2.0 || web["max"] != 16.0 || web["reason"] == "" {
		e.t.Errorf("latest web: %s", r.raw)
	}
	pools, _ := r.body["pools"].(map[string]any)
	if w, _ := pools["workers"].(map[string]any); w == nil || w["ready"].(float64) < 1 {
		e.t.Errorf("latest workers: %s", r.raw)
	}
	e.noSeries("/v1/series")
}

func (e *env) testAppSeries() {
	e.t.Helper()
	r := e.expect(e.do("GET", "/v1/apps/web/series", "viewer", ""), 200)
	ts, _ := r.body["t"].([]any)
	if len(ts) != 3 || r.body["metric"] != "cpu" || len(r.body["running"].([]any)) != 3 {
		e.t.Fatalf("web series: %s", r.raw)
	}
	// after= takes a value of the t column: only later samples come back.
	r = e.expect(e.do("GET", fmt.Sprintf("/v1/apps/web/series?after=%.3f", ts[1].(float64)), "viewer", ""), 200)
	if later, _ := r.body["t"].([]any); len(later) != 1 || later[0] != ts[2] {
		e.t.Errorf("after %v: %s", ts[1], r.raw)
	}
	r = e.expect(e.do("GET", "/v1/apps/web/series?after=2030-01-01T00:00:00Z", "viewer", ""), 200)
	if later, _ := r.body["t"].([]any); later == nil || len(later) != 0 {
		e.t.Errorf("after the end: %s", r.raw)
	}
	e.expectField(e.do("GET", "/v1/apps/nope/series", "viewer", ""), 404, "name")
	// An app registered but not yet ticked has an empty series, not a 404.
	e.expect(e.do("POST", "/v1/apps", "operator", batchApp), 201)
	r = e.expect(e.do("GET", "/v1/apps/batch/series", "viewer", ""), 200)
	if ts, _ := r.body["t"].([]any); ts == nil || len(ts) != 0 {
		e.t.Errorf("batch before a tick: %s", r.raw)
	}
	e.noSeries("/v1/apps/web/series")
}

func (e *env) testPoolSeries() {
	e.t.Helper()
	r := e.expect(e.do("GET", "/v1/pools/workers/series", "viewer", ""), 200)
	if ts, _ := r.body["t"].([]any); len(ts) != 3 || r.body["pool"] != "workers" {
		e.t.Fatalf("workers series: %s", r.raw)
	}
	if cap, _ := r.body["cpu_capacity"].([]any); len(cap) != 3 || cap[2].(float64) < 2 {
		e.t.Errorf("capacity: %s", r.raw)
	}
	e.noSeries("/v1/pools/workers/series")
}

// noSeries: a server without a recorder says so (501) rather than
// answering with empty data.
func (e *env) noSeries(path string) {
	e.t.Helper()
	srv, err := New(Options{Engine: e.stack.Engine, Events: e.db, Catalog: e.cat, Base: e.stack.Engine.Config(),
		Load: func(context.Context) (*config.Config, error) { return nil, nil }})
	if err != nil {
		e.t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, localRequest("GET", path))
	if rec.Code != http.StatusNotImplemented {
		e.t.Errorf("%s without a recorder: %d %s", path, rec.Code, rec.Body)
	}
}
