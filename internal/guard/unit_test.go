package guard

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/events"
)

type fixed struct{ v map[string]float64 }

func (f *fixed) Value(_ context.Context, q engine.MetricQuery) (float64, error) {
	v, ok := f.v[q.Metric]
	if !ok {
		return 0, engine.ErrNoData
	}
	return v, nil
}

// The hold lasts exactly Hold; another anomaly right after it does not start
// a new one for another Hold; alert_only apps are never held.
func TestBoundedHold(t *testing.T) {
	src := &fixed{v: map[string]float64{"rps": 10}}
	log := events.NewMemory(100)
	g, err := New(config.Anomaly{Detector: "robustz", Hold: config.Duration(5 * time.Minute), Threshold: 0.5}, src, log)
	if err != nil {
		t.Fatal(err)
	}
	apps := []config.App{{Name: "a", OnAnomaly: config.OnAnomalyHold}, {Name: "b", OnAnomaly: config.OnAnomalyAlert}}
	running := map[string]int{"a": 2, "b": 2}
	t0 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	now := t0
	tick := func(v float64) {
		now = now.Add(10 * time.Second)
		src.v["rps"] = v
		g.Observe(context.Background(), now, apps, running, 10*time.Second)
	}
	for i := 0; i < 400; i++ {
		tick(10 + float64(i%3))
	}
	if held, _ := g.HoldScaleUp("a", now); held {
		t.Fatal("held on a flat stream")
	}
	tick(1000)
	start := now
	if held, why := g.HoldScaleUp("a", now); !held || why == "" {
		t.Fatal("no hold after a jump")
	}
	if held, _ := g.HoldScaleUp("b", now); held {
		t.Fatal("alert_only app held")
	}
	if held, _ := g.HoldScaleUp("a", start.Add(5*time.Minute-time.Second)); !held {
		t.Fatal("hold ended early")
	}
	if held, _ := g.HoldScaleUp("a", start.Add(5*time.Minute)); held {
		t.Fatal("hold outlasted its bound")
	}
	// Observing the same instant twice (a dry-run plan) feeds nothing.
	n := len(log.List(events.Filter{}))
	g.Observe(context.Background(), now, apps, running, 10*time.Second)
	if len(log.List(events.Filter{})) != n {
		t.Fatal("a second observation at the same instant fed the detectors")
	}
	if st := g.Status(); len(st) != 2 {
		t.Fatalf("status %+v", st)
	}
	// The same state as Prometheus series, checked by the real promtool.
	reg := prometheus.NewRegistry()
	reg.MustRegister(g)
	var buf bytes.Buffer
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
			t.Fatal(err)
		}
	}
	text := buf.String()
	for _, want := range []string{`hoist_anomaly_score{app="a",metric="rps"}`, `hoist_anomalies_total{app="a"} 1`, `hoist_anomaly_hold{app="a"} 1`, `hoist_anomaly_hold{app="b"} 0`} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s:\n%s", want, text)
		}
	}
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
	if _, err := New(config.Anomaly{Detector: "nope"}, src, log); err == nil {
		t.Fatal("unknown detector accepted")
	}
}
