package engine_test

import (
	"context"
	"strings"
	"testing"
	"time"

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
