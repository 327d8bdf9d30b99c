package guard_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/guard"
	"github.com/hoist/hoist/internal/sim"
	"github.com/hoist/hoist/internal/store"
	"github.com/hoist/hoist/internal/throttle"
)

const throttleDesc = `
controller: {interval: 10s}
sim: {container_start: 2s}
pools:
  - {name: workers, min: 1, max: 5, machine: {cpus: 2, memory: 4GiB}, boot_time: 40s}
apps:
  - name: web
    image: hoist/demoapp:latest
    pools: [workers]
    on_anomaly: ON_ANOMALY
    throttle: {rate: 3Mbit, for: 10m}
    resources: {reservations: {cpus: 0.5, memory: 256MiB}}
    replicas: {min: 2, max: 8}
    policies:
      - {type: target, metric: rps, target: 30, window: 10s}
    load:
      cpu_per_request: 20ms
      pattern: {shape: step, base: 20, peak: 280, at: 1m, duration: 30m}
`

// While a limit is on some of an app's tasks the engine holds its
// scale-ups (through the guard, as hoist run wires them); once lifted, the
// app scales. With on_anomaly unset, the same limit holds nothing.
func TestEngineHoldsScaleUpsWhileThrottled(t *testing.T) {
	scaleUps := func(onAnomaly string, liftAt time.Duration) (before, after, holds int) {
		cfg, err := config.Parse("t.yaml", []byte(strings.Replace(throttleDesc, "ON_ANOMALY", onAnomaly, 1)))
		if err != nil {
			t.Fatal(err)
		}
		c, err := sim.New(cfg, sim.Options{})
		if err != nil {
			t.Fatal(err)
		}
		ev := events.NewMemory(10000)
		book := throttle.NewBook()
		g, err := guard.NewWithNet(cfg.Controller.Anomaly, c, ev, guard.Net{Book: book})
		if err != nil {
			t.Fatal(err)
		}
		e, err := engine.New(cfg, engine.Deps{Orchestrator: c, Providers: map[string]engine.Provider{"workers": c.Provider("workers")},
			Metrics: c, Clock: c, Store: store.NewMemory(), Events: ev, Guard: g})
		if err != nil {
			t.Fatal(err)
		}
		start := c.Now()
		if _, err := g.Throttle(start, "web", []string{"t1"}, *cfg.Apps[0].Throttle, "ops"); err != nil {
			t.Fatal(err)
		}
		for c.Now().Before(start.Add(2 * liftAt)) {
			if c.Now().Sub(start) >= liftAt {
				g.Lift(c.Now(), "web", "ops")
			}
			if _, err := e.Tick(context.Background()); err != nil {
				t.Fatal(err)
			}
			c.Advance(10 * time.Second)
		}
		for _, x := range ev.List(events.Filter{App: "web"}) {
			switch {
			case x.Kind == events.AppScale && x.To > x.From && x.Time.Sub(start) < liftAt:
				before++
			case x.Kind == events.AppScale && x.To > x.From:
				after++
			case x.Kind == events.AppHold && strings.Contains(x.Reason, "t1 throttled (3Mbit)"):
				holds++
			}
		}
		return before, after, holds
	}
	before, after, holds := scaleUps("throttle", 5*time.Minute)
	if before != 0 || holds == 0 {
		t.Errorf("on_anomaly throttle: %d scale-ups while throttled (want 0), %d holds (want some)", before, holds)
	}
	if after == 0 {
		t.Error("on_anomaly throttle: no scale-up after the limit was lifted")
	}
	if before, _, _ := scaleUps("alert_only", 5*time.Minute); before == 0 {
		t.Error("alert_only: no scale-up under the load (the test would prove nothing)")
	}
}
