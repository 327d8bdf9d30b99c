package balancer

import (
	"context"
	"strings"
	"testing"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/sim"
	"github.com/hoist/hoist/internal/store"
)

// The descriptor's balancer section: every mistake is found with its place.
func TestBalancerValidation(t *testing.T) {
	base := `
pools:
  - {name: workers, provider: local, min: 1, max: 3, machine: {cpus: 1, memory: 1GiB}}
  - {name: edge, provider: local, min: 1, max: 2, machine: {cpus: 1, memory: 1GiB}}
apps:
  - name: web
    image: x
    pools: [workers]
    port: 8080
    balancer:
`
	cfg := parseCfg(t, base+"      pool: edge\n")
	b := cfg.Apps[0].Balancer
	if b.Algorithm != "leastconn" || b.Port != 80 || b.StatsPort != 8404 || b.Replicas != (config.Replicas{Min: 1, Max: 1}) {
		t.Errorf("defaults %+v", b)
	}
	for text, want := range map[string]string{
		"      port: 8080\n":                                                                               "apps[0].balancer.pool: is required",
		"      pool: nope\n":                                                                               `apps[0].balancer.pool: no pool named "nope"`,
		"      pool: edge\n      stats_port: 80\n":                                                         "apps[0].balancer.stats_port: must differ from port 80",
		"      pool: edge\n      check: healthz\n":                                                         "apps[0].balancer.check: must be an HTTP path",
		"      pool: edge\n      algorithm: first\n":                                                       `apps[0].balancer.algorithm: "first" is not one of`,
		"      pool: edge\n      replicas: {min: 3, max: 2}\n":                                             "apps[0].balancer.replicas.max: max 2 is less than min 3",
		"      pool: edge\n      resources: {reservations: {cpus: 2}}\n":                                   "apps[0].balancer.resources.reservations: 2 CPUs",
		"      pool: edge\n      policies: [{type: alert, metric: cpu, upper: 80, lower: 10}]\n":           "apps[0].balancer.policies[0].type: alert policies are not available",
		"      pool: edge\n      policies: [{type: target, metric: lb_nope, target: 5}]\n":                 `apps[0].balancer.policies[0].metric: "lb_nope" is not a built-in metric`,
		"      pool: edge\n      policies: [{type: threshold, metric: lb_rps, upper: 5, lower: 9}]\n":      "apps[0].balancer.policies[0].lower: lower 9 must be below upper 5",
		"      pool: edge\n  - {name: web-lb, image: x, pools: [workers]}\n":                               `apps[0].balancer: its app would be named "web-lb"`,
		"      pool: edge\n  - {name: api, image: x, pools: [workers], port: 1, balancer: {pool: edge}}\n": "apps[1].balancer.port: port 80 is already published on pool edge by the balancer of web",
	} {
		_, err := config.Parse("d.yaml", []byte(base+text))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", text, err, want)
		}
	}
	_, err := config.Parse("d.yaml", []byte(strings.Replace(base, "    port: 8080\n", "", 1)+"      pool: edge\n"))
	if err == nil || !strings.Contains(err.Error(), "apps[0].balancer: the app needs a port") {
		t.Errorf("no app port: %v", err)
	}
	// The lb metrics have no Prometheus series: not for alert policies.
	_, err = config.Parse("d.yaml", []byte(strings.Replace(base, "    balancer:\n", "    policies: [{type: alert, metric: lb_rps, upper: 80, lower: 10}]\n", 1)))
	if err == nil || !strings.Contains(err.Error(), `apps[0].policies[0].metric: "lb_rps" has no Prometheus series`) {
		t.Errorf("alert on lb_rps: %v", err)
	}
}

// lbMetrics answers lb_rps for the balancer app: high, then low.
type lbMetrics struct{ rps float64 }

func (m *lbMetrics) Value(_ context.Context, q engine.MetricQuery) (float64, error) {
	if q.Metric == "lb_rps" && q.App == "web-lb" {
		return m.rps, nil
	}
	return 0, engine.ErrNoData
}

// The balancer layer is scaled by the same engine as any app, machines
// included: on the simulator, its replicas grow on its own metric, the
// second one finds no room and the engine orders an edge machine for it;
// when the metric falls, the replica goes and so does the machine.
func TestEngineScalesTheBalancerLayer(t *testing.T) {
	cfg := parseCfg(t, `
controller: {interval: 10s}
sim: {container_start: 2s}
pools:
  - {name: workers, min: 1, max: 3, machine: {cpus: 2, memory: 4GiB}, boot_time: 20s, cooldown: 30s, scale_down: {below: 0.5, for: 30s}}
  - {name: edge, min: 1, max: 3, machine: {cpus: 1, memory: 1GiB}, boot_time: 20s, cooldown: 30s, scale_down: {below: 0.5, for: 30s}}
apps:
  - name: web
    image: hoist/demoapp:latest
    pools: [workers]
    port: 8080
    resources: {reservations: {cpus: 0.5, memory: 64MiB}}
    replicas: {min: 2, max: 4}
    balancer:
      pool: edge
      replicas: {min: 1, max: 3}
      policies:
        - {type: threshold, metric: lb_rps, upper: 60, lower: 30, for: 10s, step_up: 1, step_down: 1}
`)
	c, err := sim.New(cfg, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	layer := NewLayer()
	m := &lbMetrics{rps: 10}
	evs := events.NewMemory(10_000)
	eng, err := engine.New(cfg, engine.Deps{Orchestrator: c, Providers: c.Providers(), Metrics: m, Clock: c,
		Store: store.NewMemory(), Events: evs, Derive: layer.Derive})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	run := func(ticks int) {
		for i := 0; i < ticks; i++ {
			if _, err := eng.Tick(ctx); err != nil {
				t.Fatal(err)
			}
			c.Advance(cfg.Interval())
		}
	}
	count := func() (lbRunning, edge int) {
		st, err := c.State(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range st.Tasks {
			if tk.Service == "web-lb" && tk.State == cluster.TaskRunning {
				lbRunning++
			}
		}
		for _, n := range st.Nodes {
			if n.Pool == "edge" && n.Ready {
				edge++
			}
		}
		return
	}
	run(8)
	if lb, edge := count(); lb != 1 || edge != 1 {
		t.Fatalf("at rest: %d balancer replicas on %d edge machines, want 1 on 1", lb, edge)
	}
	m.rps = 200
	run(12)
	if lb, edge := count(); lb != 3 || edge != 3 {
		t.Fatalf("under load: %d balancer replicas on %d edge machines, want 3 on 3", lb, edge)
	}
	m.rps = 5
	run(40)
	if lb, edge := count(); lb != 1 || edge != 1 {
		t.Fatalf("load gone: %d balancer replicas on %d edge machines, want 1 on 1", lb, edge)
	}
	var kinds []string
	for _, e := range evs.List(events.Filter{}) {
		if e.Pool == "edge" || e.App == "web-lb" {
			kinds = append(kinds, string(e.Kind))
		}
	}
	joined := strings.Join(kinds, " ")
	for _, want := range []string{"app.scale", "pool.scale_up", "machine.drained", "machine.destroyed"} {
		if !strings.Contains(joined, want) {
			t.Errorf("no %s for the balancer layer: %s", want, joined)
		}
	}
}
