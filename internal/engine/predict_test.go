package engine_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/sim"
)

// predictive is the scenario's app under a predictive policy.
var predictive = strings.Replace(scenario, `      - type: target
        metric: rps
        target: 30
        window: 10s
        scale_up: {max_percent: 1000, period: 15s}
        scale_down: {stabilization: 1m, max_percent: 100, period: 15s}`, `      - type: predictive
    slo: {latency_p95: 250ms}`, 1)

// A predictive policy scales with the load within the app's bounds, learns
// the pool's boot time, and never scales down when its metrics vanish.
func TestPredictiveScalesWithinBoundsAndHoldsOnMissingData(t *testing.T) {
	if predictive == scenario {
		t.Fatal("the scenario's policy was not replaced")
	}
	ctx := context.Background()
	cfg := parse(t, predictive)
	fm := &flakyMetrics{}
	s, err := sim.NewStack(cfg, sim.StackOptions{Metrics: fm})
	if err != nil {
		t.Fatal(err)
	}
	fm.src, fm.clock = s.Cluster, s.Cluster
	fm.after = s.Cluster.Now().Add(8 * time.Minute) // at the peak
	peak := 0
	for s.Cluster.Now().Before(fm.after) {
		p, err := s.Engine.Tick(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range p.Apps {
			if d.Desired < 2 || d.Desired > 8 {
				t.Fatalf("desired %d outside 2..8: %s", d.Desired, d.Reason)
			}
		}
		s.Cluster.Advance(10 * time.Second)
		peak = max(peak, s.Cluster.App("web").Desired)
	}
	// 280 req/s at 50 req/s per replica and at most ~76 % busy: 8 (the max).
	if peak < 7 {
		t.Fatalf("peak desired %d under the step to 280 req/s", peak)
	}
	if _, err := s.Run(ctx, sim.RunOptions{Duration: 20 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	if st := s.Cluster.App("web"); st.Desired < peak {
		t.Fatalf("desired %d after the metrics vanished, want %d kept", st.Desired, peak)
	}
	holds := kinds(s.Events.List(events.Filter{App: "web"}), events.AppHold)
	if len(holds) == 0 || !strings.Contains(holds[len(holds)-1].Reason, "no data") {
		t.Fatalf("want a hold event saying no data, got %v", holds)
	}
}

// costChange is an app at a constant load whose cost per request the world
// (the simulator) triples mid-run, as a new image might.
const costChange = `
controller: {interval: 10s}
pools:
  - name: workers
    min: 1
    max: 8
    machine: {cpus: 4, memory: 8GiB}
    boot_time: 60s
apps:
  - name: web
    image: hoist/demoapp:latest
    pools: [workers]
    resources:
      limits: {cpus: 1, memory: 512MiB}
      reservations: {cpus: 1, memory: 512MiB}
    replicas: {min: 1, max: 30}
    slo: {latency_p95: 250ms}
    policies:
      - {type: predictive, target: 60}
    load:
      cpu_per_request: 10ms
      pattern: {shape: constant, base: 300}
`

// The policy learns the capacity from what it observes only: when the world's
// cost per request triples, it notices from rate and CPU, relearns, and
// serves the same load with about three times the replicas within the SLO.
func TestPredictiveRelearnsWhenTheWorldsCostChanges(t *testing.T) {
	ctx := context.Background()
	s, err := sim.NewStack(parse(t, costChange), sim.StackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	forecastAt := func() *engine.AppForecast {
		plan, _ := s.Engine.Last()
		return plan.Apps[0].Forecast
	}
	if _, err := s.Run(ctx, sim.RunOptions{Duration: time.Hour}); err != nil {
		t.Fatal(err)
	}
	before := forecastAt()
	// 10 ms a request: 100 req/s at full CPU; the p95 reaches 250 ms near 88 %.
	if before == nil || !before.Learned || before.PerReplica < 70 || before.PerReplica > 90 {
		t.Fatalf("after an hour at 10 ms a request: %+v", before)
	}
	replicasBefore := s.Cluster.App("web").Desired
	if err := s.Cluster.SetCPUPerRequest("web", 30*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(ctx, sim.RunOptions{Duration: time.Hour}); err != nil {
		t.Fatal(err)
	}
	after := forecastAt()
	// 30 ms: 33 req/s at full CPU; the p95 reaches 250 ms near 64 %: ~21 req/s.
	if after == nil || !after.Learned || after.PerReplica < 15 || after.PerReplica > 23 {
		t.Fatalf("an hour after the cost tripled: %+v", after)
	}
	app := s.Cluster.App("web")
	if app.Desired < 2*replicasBefore || app.P95 > 0.25 || app.Dropped > 0.001*app.Offered {
		t.Errorf("after relearning: %d replicas (were %d), p95 %.3fs, %.1f req/s dropped", app.Desired, replicasBefore, app.P95, app.Dropped)
	}
	changed := false
	for _, e := range s.Events.List(events.Filter{App: "web"}) {
		changed = changed || strings.Contains(e.Reason, "cost per request changed")
	}
	if !changed {
		t.Error("no event says the cost per request changed")
	}
}
