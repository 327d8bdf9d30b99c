package metrics_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/metrics"
	"github.com/hoist/hoist/internal/prom/promtest"
	"github.com/hoist/hoist/internal/sim"
	"github.com/hoist/hoist/internal/store"
)

// One app whose load steps past what its two replicas serve, so the loop
// scales it and orders a machine: every family has something to show.
const descriptor = `
controller: {interval: 10s}
pools:
  - name: workers
    min: 1
    max: 3
    machine: {cpus: 2, memory: 4GiB}
    boot_time: 30s
apps:
  - name: web
    image: hoist/demoapp:latest
    pools: [workers]
    resources:
      limits: {cpus: 1, memory: 512MiB}
      reservations: {cpus: 1, memory: 512MiB}
    replicas: {min: 1, max: 6}
    policies:
      - {type: target, metric: cpu, target: 50}
      - {type: target, query: 'sum(rate(http_requests_total[1m]))', target: 10}
    load:
      pattern: {shape: step, base: 20, peak: 150, at: 1m}
`

func stack(t *testing.T) (*sim.Stack, *metrics.Exporter) {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(descriptor))
	if err != nil {
		t.Fatal(err)
	}
	// The simulator answers built-in metrics; the query has no Prometheus.
	c, err := sim.New(cfg, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mem := events.NewMemory(10_000)
	eng, err := engine.New(cfg, engine.Deps{Orchestrator: c, Providers: c.Providers(), Metrics: metrics.NewRouter(c, nil),
		Clock: c, Store: store.NewMemory(), Events: mem})
	if err != nil {
		t.Fatal(err)
	}
	s := &sim.Stack{Cluster: c, Engine: eng, Events: mem}
	x := metrics.New(s.Engine, s.Cluster)
	s.Engine.AddObserver(x)
	sub, stop := s.Events.Subscribe(4096)
	t.Cleanup(stop)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { x.Follow(ctx, sub); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	for i := 0; i < 30; i++ { // 5 simulated minutes
		if _, err := s.Step(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	return s, x
}

func scrape(t *testing.T, x *metrics.Exporter) string {
	t.Helper()
	srv := httptest.NewServer(x.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("scrape: %d %v", resp.StatusCode, err)
	}
	return string(b)
}

// promtool, the reference linter, accepts a real scrape, and every series
// is hoist's.
func TestPromtoolAcceptsScrape(t *testing.T) {
	_, x := stack(t)
	body := scrape(t, x)
	out, err := promtest.Promtool(t, []byte(body), "check", "metrics")
	if err != nil {
		t.Fatalf("promtool check metrics: %v\n%s\n--- scrape:\n%s", err, out, body)
	}
	for _, line := range strings.Split(body, "\n") {
		if line == "" || strings.HasPrefix(line, "# ") {
			continue
		}
		if !strings.HasPrefix(line, "hoist_") {
			t.Errorf("series without the hoist_ prefix: %s", line)
		}
	}
}

func TestExporterValues(t *testing.T) {
	s, x := stack(t)
	body := scrape(t, x)
	app := s.Cluster.App("web")
	pool := s.Cluster.Pool("workers")
	want := []string{
		`hoist_app_replicas{app="web",state="desired"} ` + strconv.Itoa(app.Desired),
		`hoist_app_replicas{app="web",state="running"} ` + strconv.Itoa(app.Running),
		`hoist_app_replicas_max{app="web"} 6`,
		`hoist_pool_machines{phase="ready",pool="workers"} ` + strconv.Itoa(pool.Ready),
		`hoist_pool_machines_max{pool="workers"} 3`,
		`hoist_ticks_total{result="ok"} 30`,
		`hoist_decisions_total{action="deploy",reason="new",subject="app"} 1`,
		`hoist_actions_total{kind="machine_order"}`,
		`hoist_provider_call_duration_seconds_count{op="list",pool="workers"} 30`,
		`hoist_events_total{kind="app.scale"}`,
		`hoist_node_reserved_ratio{node=`,
		`hoist_app_cpu_percent{app="web"}`,
		`hoist_app_requests_per_second{app="web"}`,
		// The query policy has no Prometheus: no data each tick.
		`hoist_errors_total{source="metric"}`,
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("scrape lacks %q", w)
		}
	}
	if app.Desired < 3 || pool.Ready+pool.Booting < 2 {
		t.Fatalf("the scenario did not scale (desired %d, machines %+v): the test shows nothing", app.Desired, pool)
	}
	// The per-app CPU hoist exports is the simulator's, the figure alert
	// rules compare.
	cpu, err := s.Cluster.Value(context.Background(), engine.MetricQuery{App: "web", Metric: "cpu", Window: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if got := gatherOne(t, x, "hoist_app_cpu_percent"); got != cpu {
		t.Errorf("cpu %v, simulator says %v", got, cpu)
	}
}

// totaler is the simulator's metric source with a total request rate of its
// own, as the collector has.
type totaler struct{ engine.MetricSource }

func (totaler) RequestRate(_ context.Context, app string, _ time.Duration) (float64, error) {
	if app != "web" {
		return 0, engine.ErrNoData
	}
	return 123.5, nil
}

// The app's request rate is the source's total when it has one (the
// collector), else the per-replica rate times the running replicas.
func TestExporterRequestTotal(t *testing.T) {
	s, x := stack(t)
	rps, err := s.Cluster.Value(context.Background(), engine.MetricQuery{App: "web", Metric: "rps", Window: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	running := s.Cluster.App("web").Running
	if got, want := gatherOne(t, x, metrics.AppRequests), rps*float64(running); got != want || running < 2 {
		t.Errorf("simulator: %v req/s, want %v (%d running)", got, want, running)
	}
	tx := metrics.New(s.Engine, totaler{s.Cluster})
	if got := gatherOne(t, tx, metrics.AppRequests); got != 123.5 {
		t.Errorf("with a total of the source's own: %v req/s, want 123.5", got)
	}
}

// gatherOne returns the value of a family's single gauge series.
func gatherOne(t *testing.T, x *metrics.Exporter, name string) float64 {
	t.Helper()
	mfs, err := x.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.Metric) == 1 {
			return mf.Metric[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no single series %s", name)
	return 0
}

func TestRouter(t *testing.T) {
	ctx := context.Background()
	b := fixed{v: 1}
	q := fixed{v: 2}
	r := metrics.NewRouter(b, q)
	if v, _ := r.Value(ctx, engine.MetricQuery{Metric: "cpu"}); v != 1 {
		t.Errorf("built-in went to %v", v)
	}
	if v, _ := r.Value(ctx, engine.MetricQuery{Query: "up"}); v != 2 {
		t.Errorf("query went to %v", v)
	}
	r = metrics.NewRouter(nil, nil)
	if _, err := r.Value(ctx, engine.MetricQuery{Query: "up"}); !errors.Is(err, metrics.ErrNoPrometheus) || !errors.Is(err, engine.ErrNoData) {
		t.Errorf("query without prometheus: %v", err)
	}
	if _, err := r.Value(ctx, engine.MetricQuery{Metric: "cpu"}); !errors.Is(err, engine.ErrNoData) {
		t.Errorf("built-in before it is set: %v", err)
	}
}

type fixed struct{ v float64 }

func (f fixed) Value(context.Context, engine.MetricQuery) (float64, error) { return f.v, nil }
