package metrics_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/metrics"
	"github.com/hoist/hoist/internal/prom/promtest"
	"github.com/hoist/hoist/internal/sim"
	"github.com/hoist/hoist/internal/store"
)

// An app under a predictive policy on a repeating ramp: long enough for the
// forecaster to score its first forecasts, so coverage and MASE exist.
const predictiveDescriptor = `
controller: {interval: 10s}
pools:
  - name: workers
    min: 1
    max: 4
    machine: {cpus: 4, memory: 8GiB}
    boot_time: 30s
apps:
  - name: web
    image: hoist/demoapp:latest
    pools: [workers]
    resources:
      limits: {cpus: 1, memory: 512MiB}
      reservations: {cpus: 1, memory: 512MiB}
    replicas: {min: 1, max: 12}
    slo: {latency_p95: 250ms}
    policies:
      - {type: predictive, target: 60}
    load:
      pattern: {shape: sine, base: 20, peak: 300, duration: 20m}
`

// The exporter shows the forecast the last plan carries: its upper bound,
// coverage, MASE, mode and the learned capacity per replica.
func TestExporterForecast(t *testing.T) {
	cfg, err := config.Parse("test.yaml", []byte(predictiveDescriptor))
	if err != nil {
		t.Fatal(err)
	}
	c, err := sim.New(cfg, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(cfg, engine.Deps{Orchestrator: c, Providers: c.Providers(), Metrics: metrics.NewRouter(c, nil),
		Clock: c, Store: store.NewMemory(), Events: events.NewMemory(1000)})
	if err != nil {
		t.Fatal(err)
	}
	s := &sim.Stack{Cluster: c, Engine: eng}
	x := metrics.New(s.Engine, s.Cluster)
	for i := 0; i < 180; i++ { // 30 simulated minutes
		if _, err := s.Step(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	plan, _ := eng.Last()
	var f *engine.AppForecast
	for i := range plan.Apps {
		if plan.Apps[i].App == "web" {
			f = plan.Apps[i].Forecast
		}
	}
	if f == nil || f.MASE == nil || f.Errors == 0 {
		t.Fatalf("the plan carries no scored forecast after 30 minutes: %+v", f)
	}
	for name, want := range map[string]float64{
		"hoist_app_forecast_upper_requests_per_second": f.Upper,
		"hoist_app_forecast_requests_per_second":       f.Point,
		"hoist_app_forecast_coverage_ratio":            f.Coverage,
		"hoist_app_forecast_mase":                      *f.MASE,
		"hoist_app_capacity_requests_per_replica":      f.PerReplica,
		"hoist_app_headroom_quantile":                  f.SizedAt,
	} {
		if got := gatherOne(t, x, name); math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
			t.Errorf("%s = %v, the plan says %v", name, got, want)
		}
	}
	if f.Upper < f.Point || f.Coverage <= 0 || f.Coverage > 1 || f.PerReplica <= 0 || f.SizedAt < 0.5 || f.SizedAt > 0.995 {
		t.Errorf("implausible forecast %+v", f)
	}
	mode := gatherOne(t, x, "hoist_app_forecast_predictive")
	if (mode == 1) != (f.Mode == "predictive") {
		t.Errorf("hoist_app_forecast_predictive %v, mode %q", mode, f.Mode)
	}
	if out, err := promtest.Promtool(t, []byte(scrape(t, x)), "check", "metrics"); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
	// An app without a predictive policy has no forecast series.
	_, x2 := stack(t)
	if body := scrape(t, x2); strings.Contains(body, "hoist_app_forecast_") {
		t.Errorf("forecast series for an app without a predictive policy")
	}
}
