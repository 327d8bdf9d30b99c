package alerting

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/prom"
	"github.com/hoist/hoist/internal/prom/promtest"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// Every kind of rule hoist generates: CPU by default, each other built-in
// metric, a query, a policy without an underloaded side is impossible (lower
// is required), and pools on reserved share, CPU and a query.
const rulesDescriptor = `
pools:
  - name: workers
    max: 5
    machine: {cpus: 2, memory: 4GiB}
    cooldown: 2m
    alert: {upper: 0.8, lower: 0.3, for: 2m, down_for: 10m}
  - name: big
    max: 3
    machine: {cpus: 8, memory: 32GiB}
    alert: {metric: cpu, upper: 0.9, lower: 0.2, for: 1m30s, step_up: 2}
  - name: edge
    max: 2
    machine: {cpus: 1, memory: 1GiB}
    alert: {query: 'avg(node_load1{pool="edge"})', upper: 4, lower: 0.5, for: 45s}
  - name: plain
    max: 2
    machine: {cpus: 1, memory: 1GiB}
apps:
  - name: web
    image: hoist/demoapp:latest
    pools: [workers]
    replicas: {min: 1, max: 10}
    policies:
      - {type: alert, upper: 80, lower: 20, for: 30s}
  - name: api
    image: hoist/demoapp:latest
    pools: [workers]
    replicas: {min: 2, max: 8}
    policies:
      - {type: target, metric: cpu, target: 60}
      - {type: alert, metric: rps, upper: 40, lower: 5, for: 1m, down_for: 5m, step_up: 2, repeat: 30s}
      - {type: alert, metric: latency_p95, upper: 250, lower: 10, for: 1500ms}
      - {type: alert, metric: memory, upper: 90, lower: 10}
  - name: shop
    image: hoist/demoapp:latest
    pools: [workers]
    replicas: {min: 1, max: 4}
    policies:
      - type: alert
        query: 'sum(rate(http_requests_total{job="shop"}[1m])) / sum(up{job="shop"})'
        upper: 100
        lower: 10
        for: 20s
  - name: batch
    image: hoist/demoapp:latest
    pools: [workers]
    policies:
      - {type: target, metric: cpu, target: 50}
`

func loadRules(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Parse("rules.yaml", []byte(rulesDescriptor))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestRuleFilesGolden(t *testing.T) {
	cfg := loadRules(t)
	files := Files(cfg.Apps, cfg.Pools)
	want := []string{"hoist-app-api.yml", "hoist-app-shop.yml", "hoist-app-web.yml", "hoist-pool-big.yml", "hoist-pool-edge.yml", "hoist-pool-workers.yml"}
	if got := Names(files); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("files %v, want %v (no file for an app or pool without alerts)", got, want)
	}
	for name, data := range files {
		golden := filepath.Join("testdata", "golden", name)
		if *update {
			if err := os.WriteFile(golden, data, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		exp, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (go test -run Golden -update writes it)", err)
		}
		if !bytes.Equal(exp, data) {
			t.Errorf("%s differs from %s:\n%s", name, golden, data)
		}
	}
}

// promtool, Prometheus's own checker, accepts every generated file.
func TestPromtoolAcceptsRules(t *testing.T) {
	cfg := loadRules(t)
	dir := t.TempDir()
	var paths []string
	for name, data := range Files(cfg.Apps, cfg.Pools) {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	out, err := promtest.Promtool(t, nil, append([]string{"check", "rules"}, paths...)...)
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	if strings.Count(out, "SUCCESS") != len(paths) {
		t.Fatalf("promtool:\n%s", out)
	}
	// And promtool does fail on a bad file, so the check above means something.
	bad := filepath.Join(dir, "bad.yml")
	if err := os.WriteFile(bad, []byte("groups: [{name: x, rules: [{alert: A, expr: 'sum('}]}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := promtest.Promtool(t, nil, "check", "rules", bad); err == nil {
		t.Fatalf("promtool accepted a bad file:\n%s", out)
	}
}

func TestPromDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "", 30 * time.Second: "30s", 90 * time.Second: "1m30s", 1500 * time.Millisecond: "1s500ms",
		2 * time.Hour: "2h", time.Hour + time.Millisecond: "1h1ms", 300 * time.Microsecond: "1ms",
	} {
		if got := promDuration(d); got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
	}
}

type fakeReload struct{ calls, fail int }

func (f *fakeReload) Reload(context.Context) error {
	f.calls++
	if f.fail > 0 {
		f.fail--
		return os.ErrDeadlineExceeded
	}
	return nil
}

// Apps come and go: their files follow, other files stay, each change is
// one reload, a failed reload is retried, and events say what happened.
func TestSyncerFollowsApps(t *testing.T) {
	cfg := loadRules(t)
	dir := t.TempDir()
	foreign := filepath.Join(dir, "operator.yml")
	if err := os.WriteFile(foreign, []byte("groups: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A file left by an earlier run for an app that no longer exists.
	if err := os.WriteFile(filepath.Join(dir, AppFile("gone")), []byte("groups: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var evs []events.Event
	rl := &fakeReload{}
	s := NewSyncer(dir, rl, func(e events.Event) { evs = append(evs, e) }, nil)
	ctx := context.Background()

	res, err := s.Sync(ctx, cfg.Apps, cfg.Pools)
	if err != nil || len(res.Written) != 6 || strings.Join(res.Removed, ",") != "hoist-app-gone.yml" || !res.Reloaded || rl.calls != 1 {
		t.Fatalf("first sync: %+v, %v, reloads %d", res, err, rl.calls)
	}
	// Nothing changed: no write, no reload.
	if res, err = s.Sync(ctx, cfg.Apps, cfg.Pools); err != nil || len(res.Written)+len(res.Removed) != 0 || rl.calls != 1 {
		t.Fatalf("idle sync: %+v, %v, reloads %d", res, err, rl.calls)
	}
	// web goes; Prometheus is down at first.
	rl.fail = 1
	apps := cfg.Apps[1:]
	res, err = s.Sync(ctx, apps, cfg.Pools)
	if err == nil || strings.Join(res.Removed, ",") != "hoist-app-web.yml" || res.Reloaded {
		t.Fatalf("removal with Prometheus down: %+v, %v", res, err)
	}
	if _, err := os.Stat(filepath.Join(dir, AppFile("web"))); !os.IsNotExist(err) {
		t.Fatalf("web's file is still there: %v", err)
	}
	// The owed reload happens on the next sync although no file changed.
	if res, err = s.Sync(ctx, apps, cfg.Pools); err != nil || !res.Reloaded || rl.calls != 3 {
		t.Fatalf("retry: %+v, %v, reloads %d", res, err, rl.calls)
	}
	if _, err := os.Stat(foreign); err != nil {
		t.Fatalf("a file hoist does not manage was touched: %v", err)
	}
	var kinds []string
	for _, e := range evs {
		if e.Kind != KindRules {
			t.Errorf("event kind %s", e.Kind)
		}
		if e.App == "web" {
			kinds = append(kinds, e.Reason)
		}
	}
	if len(kinds) != 2 || !strings.Contains(kinds[0], "written (HoistAppOverloaded, HoistAppUnderloaded)") || !strings.Contains(kinds[1], "removed") {
		t.Errorf("web's events: %q", kinds)
	}
	last := evs[len(evs)-1]
	if last.Reason != "Prometheus reloaded the rule files" || !strings.Contains(evs[len(evs)-2].Reason, "did not reload") {
		t.Errorf("reload events: %q, %q", evs[len(evs)-2].Reason, last.Reason)
	}
}

// With a real Prometheus: written files are loaded (rules API), removed ones
// are dropped, after the lifecycle reload.
func TestSyncerWithPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus")
	}
	srv := promtest.Start(t, "")
	cl, err := prom.New(config.Prometheus{URL: srv.URL, Timeout: config.Duration(5 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	cfg := loadRules(t)
	s := NewSyncer(srv.RulesDir, cl, nil, nil)
	ctx := context.Background()
	if _, err := s.Sync(ctx, cfg.Apps, cfg.Pools); err != nil {
		t.Fatal(err)
	}
	groups := loadedGroups(t, srv.URL)
	for _, g := range []string{"hoist-app-web", "hoist-app-api", "hoist-app-shop", "hoist-pool-workers", "hoist-pool-big", "hoist-pool-edge"} {
		if !groups[g] {
			t.Errorf("group %s not loaded; loaded: %v", g, groups)
		}
	}
	if _, err := s.Sync(ctx, cfg.Apps[1:], nil); err != nil {
		t.Fatal(err)
	}
	groups = loadedGroups(t, srv.URL)
	if groups["hoist-app-web"] || groups["hoist-pool-workers"] || !groups["hoist-app-api"] {
		t.Errorf("after web and the pools went: %v", groups)
	}
}

func loadedGroups(t *testing.T, url string) map[string]bool {
	t.Helper()
	resp, err := http.Get(url + "/api/v1/rules")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Data struct {
			Groups []struct {
				Name string `json:"name"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, g := range r.Data.Groups {
		out[g.Name] = true
	}
	return out
}

// TestSyncerNeverWritesWhatPrometheusRefuses: with a real Prometheus as
// checker, an app whose query Prometheus's parser refuses gets no rule file
// (an event says why, once), the others do, and promtool accepts every
// file in the directory; once the query is fixed, the file is written.
func TestSyncerNeverWritesWhatPrometheusRefuses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus")
	}
	srv := promtest.Start(t, "")
	cl, err := prom.New(config.Prometheus{URL: srv.URL, Timeout: config.Duration(10 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	cfg := loadRules(t)
	apps := append([]config.App(nil), cfg.Apps...)
	shop := &apps[2]
	shop.Policies = append([]config.Policy(nil), shop.Policies...)
	good := shop.Policies[0].Query
	for _, bad := range []string{`sum(*x)`, `up[5m]`} {
		shop.Policies[0].Query = bad
		var evs []events.Event
		s := NewSyncer(srv.RulesDir, cl, func(e events.Event) { evs = append(evs, e) }, nil)
		ctx := context.Background()
		for i := 0; i < 2; i++ {
			res, err := s.Sync(ctx, apps, cfg.Pools)
			if err == nil || !strings.Contains(err.Error(), AppFile("shop")+" not written") {
				t.Fatalf("%s: sync %d: %+v, %v", bad, i, res, err)
			}
		}
		if _, err := os.Stat(filepath.Join(srv.RulesDir, AppFile("shop"))); !os.IsNotExist(err) {
			t.Fatalf("%s: shop's file written: %v", bad, err)
		}
		n := 0
		for _, e := range evs {
			if e.App == "shop" && strings.Contains(e.Reason, "not written") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s: %d events about shop's file, want 1: %+v", bad, n, evs)
		}
		files, _ := filepath.Glob(filepath.Join(srv.RulesDir, "*.yml"))
		if len(files) != 5 {
			t.Fatalf("%s: files %v", bad, files)
		}
		if out, err := promtest.Promtool(t, nil, append([]string{"check", "rules"}, files...)...); err != nil {
			t.Fatalf("%s: promtool refuses a written file: %v\n%s", bad, err, out)
		}
	}
	shop.Policies[0].Query = good
	if _, err := NewSyncer(srv.RulesDir, cl, nil, nil).Sync(context.Background(), apps, cfg.Pools); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(srv.RulesDir, AppFile("shop"))); err != nil {
		t.Fatalf("the fixed query's file: %v", err)
	}
}
