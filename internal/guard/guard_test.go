package guard_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/sim"
	"github.com/hoist/hoist/internal/workload"
)

const desc = `
controller: {interval: 10s, anomaly: {hold: 5m}}
pools:
  - {name: workers, min: 1, max: 6, machine: {cpus: 2, memory: 4GiB}, boot_time: 60s}
apps:
  - name: web
    image: hoist/demoapp:latest
    pools: [workers]
    on_anomaly: ON_ANOMALY
    replicas: {min: 2, max: 20}
    resources: {limits: {cpus: 1}, reservations: {cpus: 0.5}}
    policies:
      - {type: target, metric: cpu, target: 60, window: 10s}
    load: {cpu_per_request: 20ms}
`

// load is 20 req/s with a little noise, a one-minute spike to 400 req/s at
// 3h (an attack, or a glitch), and a real rise to 250 req/s from 5h on.
func load() *workload.Series {
	s := &workload.Series{Step: 10 * time.Second}
	for i := 0; i < 8*360; i++ {
		t := time.Duration(i) * s.Step
		v := 20 + 2*math.Sin(float64(i)*0.7) + math.Sin(float64(i)*1.9)
		switch {
		case t >= 3*time.Hour && t < 3*time.Hour+time.Minute:
			v = 400
		case t >= 5*time.Hour:
			v = 250 + 5*math.Sin(float64(i)*0.7)
		}
		s.Values = append(s.Values, v)
	}
	return s
}

type outcome struct {
	ordersAtSpike  int           // machines ordered from the spike to 3h30m
	firstRiseOrder time.Duration // first machine order after the rise, from 5h
	runningAtEnd   int
	anomalyEvents  []events.Event
	heldScaleUps   int
}

func run(t *testing.T, onAnomaly string) outcome {
	t.Helper()
	cfg, err := config.Parse("t.yaml", []byte(strings.Replace(desc, "ON_ANOMALY", onAnomaly, 1)))
	if err != nil {
		t.Fatal(err)
	}
	s, err := sim.NewStack(cfg, sim.StackOptions{Options: sim.Options{Loads: map[string]workload.Source{"web": load()}}})
	if err != nil {
		t.Fatal(err)
	}
	start := s.Cluster.Now()
	res, err := s.Run(context.Background(), sim.RunOptions{Duration: 7 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Violations) > 0 {
		t.Fatal(res.Violations)
	}
	o := outcome{firstRiseOrder: -1, runningAtEnd: s.Cluster.App("web").Running}
	for _, e := range s.Events.List(events.Filter{}) {
		at := e.Time.Sub(start)
		switch e.Kind {
		case events.MachineOrdered:
			if at >= 3*time.Hour && at < 3*time.Hour+30*time.Minute {
				o.ordersAtSpike++
			}
			if at >= 5*time.Hour && o.firstRiseOrder < 0 {
				o.firstRiseOrder = at - 5*time.Hour
			}
		case events.AppAnomaly:
			o.anomalyEvents = append(o.anomalyEvents, e)
		case events.AppHold:
			if strings.Contains(e.Reason, "anomaly guard") {
				o.heldScaleUps++
			}
		}
	}
	return o
}

// Without the guard the one-minute spike buys machines; with hold_scale_up
// it buys none, and the real rise two hours later still scales once the
// bounded hold has passed.
func TestHoldScaleUpOnAnomalousSpike(t *testing.T) {
	plain := run(t, "alert_only")
	if plain.ordersAtSpike == 0 {
		t.Fatalf("without the guard the spike should have ordered machines (the test would prove nothing)")
	}
	if len(plain.anomalyEvents) == 0 {
		t.Fatalf("alert_only: the spike was not detected")
	}
	for _, e := range plain.anomalyEvents {
		if !strings.Contains(e.Reason, "alert only") {
			t.Errorf("alert_only event says %q", e.Reason)
		}
	}

	held := run(t, "hold_scale_up")
	if held.ordersAtSpike != 0 {
		t.Fatalf("hold_scale_up: the spike ordered %d machines", held.ordersAtSpike)
	}
	if held.heldScaleUps == 0 {
		t.Fatalf("no hold event recorded")
	}
	if held.firstRiseOrder < 0 {
		t.Fatalf("the real rise never scaled")
	}
	// The rise may itself look anomalous at first: at most one hold (5m)
	// delays it, plus a tick or two.
	if held.firstRiseOrder > 6*time.Minute {
		t.Errorf("the real rise scaled %s after it began; the hold is bounded to 5m", held.firstRiseOrder)
	}
	if held.runningAtEnd < 8 {
		t.Errorf("after the rise only %d replicas run", held.runningAtEnd)
	}
	for _, e := range held.anomalyEvents {
		t.Log(e.String())
	}
	t.Logf("spike: %d machines ordered without the guard, %d with; rise scaled after %s; %d anomaly events",
		plain.ordersAtSpike, held.ordersAtSpike, held.firstRiseOrder, len(held.anomalyEvents))
}
