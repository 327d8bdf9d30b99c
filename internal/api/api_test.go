package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoist/hoist/examples"
	"github.com/hoist/hoist/internal/auth"
	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/guard"
	"github.com/hoist/hoist/internal/series"
	"github.com/hoist/hoist/internal/sim"
	"github.com/hoist/hoist/internal/store"
	"github.com/hoist/hoist/internal/throttle"
)

// Test tokens, one per role.
var testTokens = map[string]string{
	"viewer":   "viewer-token-0123456789",
	"operator": "operator-token-0123456789",
	"admin":    "admin-token-0123456789abc",
	"webhook":  "webhook-token-0123456789",
}

// env is a simulated cluster driven by an engine on a bolt store, with the
// API on a real loopback listener.
type env struct {
	t          testing.TB
	stack      *sim.Stack
	db         *store.Bolt
	cat        *Catalog
	srv        *Server
	ts         *httptest.Server
	descriptor string
	changes    []AppChange
	rec        *series.Recorder // fed after each step, as `hoist run` does
	book       *throttle.Book   // the limits the throttle routes set
}

func newEnv(t testing.TB, ticks int) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, descriptor: filepath.Join(dir, "hoist.yaml"), rec: series.New(0)}
	if err := os.WriteFile(e.descriptor, examples.Quickstart, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(e.descriptor)
	if err != nil {
		t.Fatal(err)
	}
	e.db, err = store.OpenBolt(filepath.Join(dir, "data"), store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.db.Close() })
	e.cat, err = NewCatalog(context.Background(), e.db)
	if err != nil {
		t.Fatal(err)
	}
	e.stack, err = sim.NewStack(cfg, sim.StackOptions{Store: e.db, Recorder: e.db, ExtraApps: e.cat.ExtraApps})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for role, tok := range testTokens {
		lines = append(lines, role+" "+tok)
	}
	tokens, err := auth.ParseTokens(strings.NewReader(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	// The throttle routes go to a guard of their own with a book (the
	// simulated stack's guard throttles nothing).
	e.book = throttle.NewBook()
	g, err := guard.NewWithNet(cfg.Controller.Anomaly, nil, e.db, guard.Net{Book: e.book})
	if err != nil {
		t.Fatal(err)
	}
	e.srv, err = New(Options{
		Engine: e.stack.Engine, Events: e.db, Catalog: e.cat, Services: e.stack.Cluster,
		Auth: auth.New(tokens, auth.Options{}), Base: cfg, Now: e.stack.Cluster.Now,
		Load: func(context.Context) (*config.Config, error) { return config.Load(e.descriptor) },
		OnAppChange: []func(context.Context, AppChange) error{func(_ context.Context, c AppChange) error {
			e.changes = append(e.changes, c)
			return nil
		}},
		Heartbeat: 50 * time.Millisecond,
		Series:    e.rec,
		Throttles: g,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.ts = httptest.NewServer(e.srv.Handler())
	t.Cleanup(func() { e.srv.Close(); e.ts.Close() })
	e.step(ticks)
	return e
}

func (e *env) step(n int) {
	e.t.Helper()
	for i := 0; i < n; i++ {
		if _, err := e.stack.Step(context.Background()); err != nil {
			e.t.Fatal(err)
		}
		p, s := e.stack.Engine.Last()
		e.rec.Record(series.Tick{Plan: p, Snapshot: s, Machines: e.stack.Engine.Machines()})
	}
}

type reply struct {
	status int
	body   map[string]any
	raw    string
	header http.Header
}

func (r reply) errField() string {
	er, _ := r.body["error"].(map[string]any)
	f, _ := er["field"].(string)
	return f
}

func (r reply) errCode() string {
	er, _ := r.body["error"].(map[string]any)
	c, _ := er["code"].(string)
	return c
}

func (e *env) do(method, path, role, body string) reply {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.ts.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if role != "" {
		req.Header.Set("Authorization", "Bearer "+testTokens[role])
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, raw: string(data), header: resp.Header}
	_ = json.Unmarshal(data, &r.body)
	return r
}

const batchApp = `{"name":"batch","image":"busybox:1","pools":["workers"],
 "resources":{"limits":{"cpus":0.5,"memory":"256MiB"},"reservations":{"cpus":0.25,"memory":"64MiB"}},
 "replicas":{"min":1,"max":3},"policies":[{"type":"target","metric":"cpu","target":50}]}`

// routeCase exercises one route: success, bad input (the error names the
// field), no token (401) and a role too weak (403).
type routeCase struct {
	method, pattern string
	public          bool
	// setup runs first; ok returns the request that succeeds and checks it.
	ok func(e *env)
	// bad sends bad input and the field its error must name ("-": no input to get wrong).
	bad  func(e *env) reply
	want string
	// weak is the strongest role that must be refused ("" for reads).
	weak string
	path string // concrete path for the 401/403 checks
	body string
}

func TestEveryRoute(t *testing.T) {
	cases := []routeCase{
		{method: "GET", pattern: "/v1/health", public: true, path: "/v1/health",
			ok: func(e *env) { e.expect(e.do("GET", "/v1/health", "", ""), 200) }},
		{method: "GET", pattern: "/v1/ready", public: true, path: "/v1/ready",
			ok: func(e *env) {
				e.expect(e.do("GET", "/v1/ready", "", ""), 200)
				cold := newEnv(e.t, 0)
				e.expect(cold.do("GET", "/v1/ready", "", ""), 503)
			}},
		{method: "GET", pattern: "/v1/openapi.json", path: "/v1/openapi.json",
			ok: func(e *env) {
				r := e.expect(e.do("GET", "/v1/openapi.json", "viewer", ""), 200)
				if r.body["openapi"] != "3.0.3" {
					e.t.Errorf("openapi: %v", r.body["openapi"])
				}
			}},
		{method: "GET", pattern: "/v1/plan", path: "/v1/plan",
			ok: func(e *env) {
				r := e.expect(e.do("GET", "/v1/plan", "viewer", ""), 200)
				if apps, _ := r.body["apps"].([]any); len(apps) != 2 {
					e.t.Errorf("plan apps: %v", r.raw)
				}
			}},
		{method: "POST", pattern: "/v1/reload", path: "/v1/reload", weak: "operator",
			ok: func(e *env) {
				data := strings.Replace(string(examples.Quickstart), "max: 16", "max: 12", 1)
				if err := os.WriteFile(e.descriptor, []byte(data), 0o600); err != nil {
					e.t.Fatal(err)
				}
				r := e.expect(e.do("POST", "/v1/reload", "admin", ""), 200)
				if fmt.Sprint(r.body["apps_changed"]) != "[web]" {
					e.t.Errorf("reload: %s", r.raw)
				}
				if a, _ := e.stack.Engine.Config().App("web"); a.Replicas.Max != 12 {
					e.t.Errorf("reload not applied: max %d", a.Replicas.Max)
				}
			},
			bad: func(e *env) reply {
				data := strings.Replace(string(examples.Quickstart), "max: 16", "max: -3", 1)
				if err := os.WriteFile(e.descriptor, []byte(data), 0o600); err != nil {
					e.t.Fatal(err)
				}
				r := e.do("POST", "/v1/reload", "admin", "")
				if a, _ := e.stack.Engine.Config().App("web"); a.Replicas.Max != 12 {
					e.t.Errorf("a refused reload changed the config: max %d", a.Replicas.Max)
				}
				return r
			}, want: "apps[0].replicas.max"},
		{method: "GET", pattern: "/v1/pools", path: "/v1/pools",
			ok: func(e *env) {
				r := e.expect(e.do("GET", "/v1/pools", "viewer", ""), 200)
				if pools, _ := r.body["pools"].([]any); len(pools) != 1 {
					e.t.Errorf("pools: %s", r.raw)
				}
			}},
		{method: "GET", pattern: "/v1/pools/{name}", path: "/v1/pools/workers",
			ok: func(e *env) {
				r := e.expect(e.do("GET", "/v1/pools/workers", "viewer", ""), 200)
				ms, _ := r.body["machines"].([]any)
				if len(ms) == 0 {
					e.t.Fatalf("no machines: %s", r.raw)
				}
				m := ms[0].(map[string]any)
				if m["phase"] != "ready" || m["history"] == nil || m["node"] == nil {
					e.t.Errorf("machine: %v", m)
				}
				e.expectField(e.do("GET", "/v1/pools/nope", "viewer", ""), 404, "name")
			},
			bad:  func(e *env) reply { return e.do("GET", "/v1/pools/workers?include_destroyed=maybe", "viewer", "") },
			want: "include_destroyed"},
		{method: "POST", pattern: "/v1/pools/{name}/scaleup", path: "/v1/pools/workers/scaleup", weak: "viewer",
			ok: func(e *env) {
				r := e.expect(e.do("POST", "/v1/pools/workers/scaleup", "operator", `{"count":2}`), 202)
				if r.body["target"] != 3.0 {
					e.t.Errorf("scaleup: %s", r.raw)
				}
				e.expect(e.do("POST", "/v1/pools/workers/scaleup", "operator", ""), 202)
			},
			bad: func(e *env) reply { return e.do("POST", "/v1/pools/workers/scaleup", "operator", `{"count":0}`) }, want: "count"},
		{method: "POST", pattern: "/v1/pools/{name}/scaledown", path: "/v1/pools/workers/scaledown", weak: "viewer",
			ok: func(e *env) {
				r := e.expect(e.do("POST", "/v1/pools/workers/scaledown", "operator", `{"count":5}`), 202)
				if r.body["target"] != 1.0 || r.body["clamped"] != true {
					e.t.Errorf("scaledown below min not clamped: %s", r.raw)
				}
			},
			bad: func(e *env) reply { return e.do("POST", "/v1/pools/workers/scaledown", "operator", `{"count":"two"}`) }, want: "count"},
		{method: "POST", pattern: "/v1/pools/{name}/scaleto/{n}", path: "/v1/pools/workers/scaleto/2", weak: "viewer",
			ok: func(e *env) {
				r := e.expect(e.do("POST", "/v1/pools/workers/scaleto/99", "operator", ""), 202)
				if r.body["target"] != 6.0 || r.body["clamped"] != true {
					e.t.Errorf("scaleto: %s", r.raw)
				}
				evs, _ := e.db.Page(eventsFilter("pool.scale_up"), 0, false, 10)
				if len(evs) == 0 || !strings.Contains(evs[len(evs)-1].Reason, "scaleto 99") {
					e.t.Errorf("scaleto not recorded: %v", evs)
				}
				e.step(1)
				if n := countPhase(e, cluster.PhaseBooting) + countPhase(e, cluster.PhaseOrdered); n != 5 {
					e.t.Errorf("%d machines on order, want 5", n)
				}
			},
			bad: func(e *env) reply { return e.do("POST", "/v1/pools/workers/scaleto/lots", "operator", "") }, want: "n"},
		{method: "POST", pattern: "/v1/machines/{name}/cancel-drain", path: "/v1/machines/x/cancel-drain", weak: "viewer",
			ok: func(e *env) {
				e.expect(e.do("POST", "/v1/pools/workers/scaleto/2", "operator", ""), 202)
				e.step(8) // the new machine boots (45s)
				e.expect(e.do("POST", "/v1/pools/workers/scaledown", "operator", ""), 202)
				e.step(1)
				name := machineIn(e, cluster.PhaseDraining)
				if name == "" {
					e.t.Fatalf("no machine draining: %v", e.stack.Engine.Machines())
				}
				e.expect(e.do("POST", "/v1/machines/"+name+"/cancel-drain", "operator", ""), 202)
				e.step(1)
				for _, r := range e.stack.Engine.Machines() {
					if r.Name == name && r.Phase != cluster.PhaseReady {
						e.t.Errorf("%s is %s after cancel", name, r.Phase)
					}
				}
				e.expectField(e.do("POST", "/v1/machines/"+name+"/cancel-drain", "operator", ""), 409, "name")
			},
			bad: func(e *env) reply { return e.do("POST", "/v1/machines/ghost/cancel-drain", "operator", "") }, want: "name"},
		{method: "GET", pattern: "/v1/apps", path: "/v1/apps",
			ok: func(e *env) {
				r := e.expect(e.do("GET", "/v1/apps", "viewer", ""), 200)
				if apps, _ := r.body["apps"].([]any); len(apps) != 2 {
					e.t.Errorf("apps: %s", r.raw)
				}
			}},
		{method: "POST", pattern: "/v1/apps", path: "/v1/apps", weak: "viewer", body: batchApp,
			ok: func(e *env) {
				e.expect(e.do("POST", "/v1/apps", "operator", batchApp), 201)
				e.step(2)
				if st := e.stack.Cluster.App("batch"); st.Desired != 1 {
					e.t.Errorf("batch not deployed: %+v", st)
				}
				e.expectField(e.do("POST", "/v1/apps", "operator", batchApp), 409, "name")
				if len(e.changes) != 1 || e.changes[0].Kind != AppDeployedChange {
					e.t.Errorf("hooks: %+v", e.changes)
				}
			},
			bad: func(e *env) reply {
				return e.do("POST", "/v1/apps", "operator", strings.Replace(batchApp, `"cpus":0.5`, `"cpus":-1`, 1))
			}, want: "resources.limits.cpus"},
		{method: "GET", pattern: "/v1/apps/{name}", path: "/v1/apps/web",
			ok: func(e *env) {
				r := e.expect(e.do("GET", "/v1/apps/web", "viewer", ""), 200)
				for _, k := range []string{"replicas", "metrics", "decision", "spec", "events"} {
					if r.body[k] == nil {
						e.t.Errorf("show lacks %s: %s", k, r.raw)
					}
				}
			},
			bad: func(e *env) reply { return e.do("GET", "/v1/apps/nope", "viewer", "") }, want: "name"},
		{method: "DELETE", pattern: "/v1/apps/{name}", path: "/v1/apps/batch", weak: "viewer",
			ok: func(e *env) {
				e.expect(e.do("POST", "/v1/apps", "operator", batchApp), 201)
				e.step(1)
				r := e.expect(e.do("DELETE", "/v1/apps/batch", "operator", ""), 200)
				if r.body["service_removed"] != true {
					e.t.Errorf("delete: %s", r.raw)
				}
				e.step(3)
				st, _ := e.stack.Cluster.State(context.Background())
				for _, s := range st.Services {
					if s.Name == "batch" {
						e.t.Errorf("service batch still there (or deployed again)")
					}
				}
				if got := e.changes[len(e.changes)-1]; got.Kind != AppDeletedChange || got.App.Name != "batch" {
					e.t.Errorf("delete hook: %+v", got)
				}
			},
			bad: func(e *env) reply { return e.do("DELETE", "/v1/apps/web", "operator", "") }, want: "name"},
		{method: "PUT", pattern: "/v1/apps/{name}/policy", path: "/v1/apps/web/policy", weak: "viewer", body: `{"replicas":{"min":3,"max":9}}`,
			ok: func(e *env) {
				e.expect(e.do("PUT", "/v1/apps/web/policy", "operator", `{"replicas":{"min":3,"max":9}}`), 200)
				a, _ := e.stack.Engine.Config().App("web")
				if a.Replicas.Min != 3 || a.Replicas.Max != 9 || len(a.Policies) != 1 {
					e.t.Errorf("policy not applied: %+v", a.Replicas)
				}
				if o, ok := e.cat.Override("web"); !ok || o.Replicas.Max != 9 {
					e.t.Errorf("override not kept: %+v", o)
				}
			},
			bad: func(e *env) reply {
				return e.do("PUT", "/v1/apps/web/policy", "operator", `{"policies":[{"type":"target","metric":"cpu","target":-5}]}`)
			}, want: "policies[0].target"},
		{method: "DELETE", pattern: "/v1/apps/{name}/policy", path: "/v1/apps/web/policy", weak: "viewer",
			ok: func(e *env) {
				e.expect(e.do("PUT", "/v1/apps/web/policy", "operator", `{"replicas":{"min":3,"max":9}}`), 200)
				e.expect(e.do("DELETE", "/v1/apps/web/policy", "operator", ""), 200)
				if a, _ := e.stack.Engine.Config().App("web"); a.Replicas.Max != 16 {
					e.t.Errorf("override not dropped: %+v", a.Replicas)
				}
			},
			bad: func(e *env) reply { return e.do("DELETE", "/v1/apps/nope/policy", "operator", "") }, want: "name"},
		{method: "GET", pattern: "/v1/apps/{name}/throttle", path: "/v1/apps/web/throttle",
			ok:   func(e *env) { e.expect(e.do("GET", "/v1/apps/web/throttle", "viewer", ""), 200) },
			bad:  func(e *env) reply { return e.do("GET", "/v1/apps/nope/throttle", "viewer", "") },
			want: "name"},
		{method: "POST", pattern: "/v1/apps/{name}/throttle", path: "/v1/apps/web/throttle", weak: "viewer", body: `{"rate":"3Mbit"}`,
			ok: func(e *env) {
				e.expect(e.do("POST", "/v1/apps/web/throttle", "operator", `{"rate":"3Mbit"}`), 200)
				if _, ok := e.book.Get("web", e.stack.Cluster.Now()); !ok {
					e.t.Error("no limit in the book")
				}
			},
			bad: func(e *env) reply {
				return e.do("POST", "/v1/apps/web/throttle", "operator", `{"rate":"3Mbit","for":"soon"}`)
			},
			want: "for"},
		{method: "DELETE", pattern: "/v1/apps/{name}/throttle", path: "/v1/apps/web/throttle", weak: "viewer",
			ok: func(e *env) {
				e.expect(e.do("POST", "/v1/apps/web/throttle", "operator", `{"rate":"3Mbit"}`), 200)
				e.expect(e.do("DELETE", "/v1/apps/web/throttle", "operator", ""), 200)
			},
			bad:  func(e *env) reply { return e.do("DELETE", "/v1/apps/web/throttle", "operator", "") },
			want: "name"},
		{method: "GET", pattern: "/v1/events", path: "/v1/events",
			ok: func(e *env) {
				r := e.expect(e.do("GET", "/v1/events?kind=app&limit=2", "viewer", ""), 200)
				evs, _ := r.body["events"].([]any)
				if len(evs) != 2 {
					e.t.Fatalf("events: %s", r.raw)
				}
				for _, x := range evs {
					if k := x.(map[string]any)["kind"].(string); !strings.HasPrefix(k, "app.") {
						e.t.Errorf("kind filter let %s through", k)
					}
				}
			},
			bad: func(e *env) reply { return e.do("GET", "/v1/events?limit=0", "viewer", "") }, want: "limit"},
		{method: "GET", pattern: "/v1/events/stream", path: "/v1/events/stream",
			ok:   func(e *env) { e.testStream() },
			bad:  func(e *env) reply { return e.do("GET", "/v1/events/stream?after=soon", "viewer", "") },
			want: "after"},
		{method: "GET", pattern: "/v1/whoami", path: "/v1/whoami", ok: func(e *env) { e.testWhoami() }},
		{method: "GET", pattern: "/v1/series", path: "/v1/series", ok: func(e *env) { e.testLatestSeries() }},
		{method: "GET", pattern: "/v1/apps/{name}/series", path: "/v1/apps/web/series",
			ok:   func(e *env) { e.testAppSeries() },
			bad:  func(e *env) reply { return e.do("GET", "/v1/apps/web/series?after=soon", "viewer", "") },
			want: "after"},
		{method: "GET", pattern: "/v1/pools/{name}/series", path: "/v1/pools/workers/series",
			ok:   func(e *env) { e.testPoolSeries() },
			bad:  func(e *env) reply { return e.do("GET", "/v1/pools/nope/series", "viewer", "") },
			want: "name"},
	}
	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.method+" "+c.pattern] = true
		t.Run(c.method+" "+c.pattern, func(t *testing.T) {
			e := newEnv(t, 3)
			c.ok(e)
			if c.bad != nil {
				r := c.bad(e)
				if r.status < 400 || r.status >= 500 || r.errField() != c.want {
					t.Errorf("bad input: status %d, field %q, want field %q: %s", r.status, r.errField(), c.want, r.raw)
				}
			}
			if c.public {
				return
			}
			r := e.do(c.method, c.path, "", c.body)
			if r.status != 401 || r.errCode() != "unauthorized" || r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("no token: %d %s", r.status, r.raw)
			}
			if c.weak != "" {
				if r := e.do(c.method, c.path, c.weak, c.body); r.status != 403 || r.errCode() != "forbidden" {
					t.Errorf("%s: %d %s", c.weak, r.status, r.raw)
				}
			}
			if r := e.do(c.method, c.path, "webhook", c.body); r.status != 403 {
				t.Errorf("the webhook token reached the API: %d", r.status)
			}
		})
	}
	e := newEnv(t, 0)
	for _, rt := range e.srv.Routes() {
		if !covered[rt.Method+" "+rt.Pattern] {
			t.Errorf("route %s %s has no test case", rt.Method, rt.Pattern)
		}
	}
}

func (e *env) expect(r reply, status int) reply {
	e.t.Helper()
	if r.status != status {
		e.t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
	return r
}

func (e *env) expectField(r reply, status int, field string) {
	e.t.Helper()
	if r.status != status || r.errField() != field {
		e.t.Errorf("status %d field %q, want %d %q: %s", r.status, r.errField(), status, field, r.raw)
	}
}

func countPhase(e *env, p cluster.Phase) int {
	n := 0
	for _, r := range e.stack.Engine.Machines() {
		if r.Phase == p {
			n++
		}
	}
	return n
}

func machineIn(e *env, p cluster.Phase) string {
	for _, r := range e.stack.Engine.Machines() {
		if r.Phase == p {
			return r.Name
		}
	}
	return ""
}

// testStream follows the stream: stored events after the cursor first, then
// live ones, filtered, with ids that resume it.
func (e *env) testStream() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.ts.URL+"/v1/events/stream?after=1&kind=app.deployed,pool.scale_up", nil)
	req.Header.Set("Authorization", "Bearer "+testTokens["viewer"])
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		e.t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(resp.Body)
	next := func() (id, kind string) {
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "id: "):
				id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "event: "):
				kind = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				return id, kind
			}
		}
		e.t.Fatalf("stream ended: %v", sc.Err())
		return "", ""
	}
	// Replayed: the quickstart's second deploy (seq 1 was skipped by after=1).
	if _, kind := next(); kind != "app.deployed" {
		e.t.Fatalf("replay gave %s", kind)
	}
	// Live: a manual scale-up while we listen.
	go func() {
		r, _ := e.srv.opt.Engine.RequestPoolChange(context.Background(), "workers", 2, "test")
		_ = r
	}()
	for {
		id, kind := next()
		if kind == "pool.scale_up" {
			if id == "" {
				e.t.Error("live event without id")
			}
			return
		}
		if kind != "app.deployed" {
			e.t.Fatalf("filter let %s through", kind)
		}
	}
}

func TestErrorsAndLimits(t *testing.T) {
	e := newEnv(t, 1)
	if r := e.do("GET", "/v1/nothing", "viewer", ""); r.status != 404 || r.errCode() != "not_found" {
		t.Errorf("unknown route: %d %s", r.status, r.raw)
	}
	if r := e.do("PATCH", "/v1/apps", "viewer", ""); r.status != 405 || r.header.Get("Allow") != "GET, POST" {
		t.Errorf("wrong method: %d %s %v", r.status, r.raw, r.header)
	}
	big := `{"name":"x","image":"` + strings.Repeat("a", 2<<20) + `"}`
	if r := e.do("POST", "/v1/apps", "operator", big); r.status != 413 || r.errCode() != "too_large" {
		t.Errorf("big body: %d %.200s", r.status, r.raw)
	}
	if r := e.do("POST", "/v1/apps", "operator", `{"name":"x","image":"i","pools":["workers"],"colour":"red"}`); r.errField() != "colour" {
		t.Errorf("unknown field: %s", r.raw)
	}
	if r := e.do("POST", "/v1/apps", "operator", `[1,2]`); r.status != 400 {
		t.Errorf("array body: %s", r.raw)
	}
	if r := e.do("POST", "/v1/apps", "operator", `{"name":"x","image":"i","pools":["gpu"]}`); r.errField() != "pools[0]" {
		t.Errorf("unknown pool: %s", r.raw)
	}
	if r := e.do("POST", "/v1/apps", "operator", `{"name":"x","image":"i","pools":["workers"],"replicas":{"min":4,"max":2}}`); r.errField() != "replicas.max" {
		t.Errorf("replicas: %s", r.raw)
	}
	if r := e.do("POST", "/v1/pools/workers/scaleup", "operator", `{"count":1,"extra":true}`); r.errField() != "extra" {
		t.Errorf("unknown field in count: %s", r.raw)
	}
	if r := e.do("PUT", "/v1/apps/web/policy", "operator", `{"image":"evil"}`); r.errField() != "image" {
		t.Errorf("policy update may not change the image: %s", r.raw)
	}
	if r := e.do("GET", "/v1/events?since=yesterday", "viewer", ""); r.errField() != "since" {
		t.Errorf("since: %s", r.raw)
	}
	if r := e.do("GET", "/v1/events?after=1&before=3", "viewer", ""); r.errField() != "before" {
		t.Errorf("after+before: %s", r.raw)
	}
	if r := e.do("GET", "/v1/events?kind=bogus", "viewer", ""); r.status != 200 {
		t.Errorf("unknown prefix alone filters to nothing: %s", r.raw)
	}
	if r := e.do("GET", "/v1/events?kind=bogus,app.scale", "viewer", ""); r.errField() != "kind" {
		t.Errorf("unknown prefix among kinds: %s", r.raw)
	}
}

func TestEventPagination(t *testing.T) {
	e := newEnv(t, 0)
	for i := 0; i < 25; i++ {
		e.db.Record(eventN(i))
	}
	var seen []float64
	after := "0"
	for {
		r := e.expect(e.do("GET", "/v1/events?limit=10&app=a&after="+after, "viewer", ""), 200)
		evs := r.body["events"].([]any)
		for _, x := range evs {
			seen = append(seen, x.(map[string]any)["seq"].(float64))
		}
		if len(evs) < 10 {
			break
		}
		after = fmt.Sprint(r.body["next"])
	}
	if len(seen) != 25 || seen[0] != 1 || seen[24] != 25 {
		t.Fatalf("forward pages: %v", seen)
	}
	r := e.expect(e.do("GET", "/v1/events?limit=10&app=a", "viewer", ""), 200)
	if r.body["prev"] != 16.0 || r.body["next"] != 25.0 {
		t.Fatalf("newest page: %s", r.raw)
	}
	r = e.expect(e.do("GET", "/v1/events?limit=10&app=a&before=16", "viewer", ""), 200)
	if r.body["prev"] != 6.0 || r.body["next"] != 15.0 {
		t.Fatalf("older page: %s", r.raw)
	}
}

func TestRateLimitedAuth(t *testing.T) {
	e := newEnv(t, 0)
	var last reply
	for i := 0; i < 12; i++ {
		req, _ := http.NewRequest("GET", e.ts.URL+"/v1/apps", nil)
		req.Header.Set("Authorization", "Bearer wrong-token-guess-"+fmt.Sprint(i))
		resp, err := e.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		last = reply{status: resp.StatusCode, header: resp.Header}
	}
	if last.status != 429 || last.header.Get("Retry-After") == "" {
		t.Fatalf("after 12 bad tokens: %d", last.status)
	}
	// Even the right token waits: the address is locked out, not the token.
	if r := e.do("GET", "/v1/apps", "viewer", ""); r.status != 429 {
		t.Fatalf("locked-out address: %d", r.status)
	}
}

// lossyLog delivers only the even events to subscribers, as a full
// subscription buffer would drop some.
type lossyLog struct{ *store.Bolt }

func (l lossyLog) Subscribe(n int) (<-chan events.Event, func()) {
	in, stop := l.Bolt.Subscribe(n)
	out := make(chan events.Event, n)
	go func() {
		defer close(out)
		for ev := range in {
			if ev.Seq%2 == 0 {
				out <- ev
			}
		}
	}()
	return out, stop
}

// TestStreamRefillsLostEvents: a stream whose subscription lost events reads
// them back from the log, so the client sees every event, in order.
func TestStreamRefillsLostEvents(t *testing.T) {
	e := newEnv(t, 0)
	srv, err := New(Options{Engine: e.stack.Engine, Events: lossyLog{e.db}, Catalog: e.cat, Heartbeat: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/v1/events/stream", nil)
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() && !strings.HasPrefix(sc.Text(), ": connected") {
	}
	start := e.db.LastSeq()
	// The last one is odd, lost, and followed by nothing: the heartbeat finds it.
	for i := 0; i < 21; i++ {
		e.db.Record(eventN(i))
	}
	want := start + 1
	for sc.Scan() && want <= start+21 {
		if id, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
			if id != fmt.Sprint(want) {
				t.Fatalf("got event %s, want %d", id, want)
			}
			want++
		}
	}
	if want != start+22 {
		t.Fatalf("stream stopped at %d: %v", want, sc.Err())
	}
}
