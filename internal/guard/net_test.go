package guard

import (
	"bytes"
	"context"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/throttle"
)

func TestContributors(t *testing.T) {
	for _, c := range []struct {
		name string
		in   map[string]float64
		want []string
	}{
		{"one flooding among three", map[string]float64{"a": 1e3, "b": 1.1e3, "c": 5e6}, []string{"c"}},
		{"two of four", map[string]float64{"a": 1e3, "b": 4e6, "c": 900, "d": 5e6}, []string{"d", "b"}},
		{"one of two", map[string]float64{"a": 10, "b": 5e6}, []string{"b"}},
		{"even rise: all", map[string]float64{"a": 1e6, "b": 1.2e6, "c": 0.9e6}, []string{"b", "a", "c"}},
		{"single task", map[string]float64{"a": 5}, []string{"a"}},
		{"silent tasks are no contributors", map[string]float64{"a": 0, "b": 0}, []string{}},
		{"nothing", nil, []string{}},
	} {
		got := Contributors(c.in)
		if len(got) == 0 && len(c.want) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

type traffic struct{ per map[string]float64 }

func (f *traffic) TaskBytes(_ context.Context, app, metric string, _ time.Duration) (map[string]float64, error) {
	return f.per, nil
}

// A traffic anomaly of a throttle app limits the task that made it, holds
// scale-ups while the limit lasts, renews on another anomaly and lifts at
// expiry, with an event each time; by hand the same.
func TestThrottleOnTrafficAnomaly(t *testing.T) {
	src := &fixed{v: map[string]float64{"rps": 10, "net_tx": 1000}}
	tr := &traffic{per: map[string]float64{"t1": 500, "t2": 500}}
	log := events.NewMemory(1000)
	book := throttle.NewBook()
	g, err := NewWithNet(config.Anomaly{Detector: "robustz", Hold: config.Duration(5 * time.Minute), Threshold: 0.5}, src, log, Net{Book: book, Traffic: tr})
	if err != nil {
		t.Fatal(err)
	}
	lim := &config.Throttle{Rate: 3e6, For: config.Duration(10 * time.Minute)}
	apps := []config.App{{Name: "a", OnAnomaly: config.OnAnomalyThrottle, Throttle: lim}, {Name: "b", OnAnomaly: config.OnAnomalyHold}}
	running := map[string]int{"a": 2, "b": 2}
	now := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	tick := func(tx float64) {
		now = now.Add(10 * time.Second)
		src.v["net_tx"] = tx
		g.Observe(context.Background(), now, apps, running, 10*time.Second)
	}
	for i := range 400 {
		tick(1000 + float64(i%3))
	}
	if held, _ := g.HoldScaleUp("a", now); held || len(book.Active(now)) != 0 {
		t.Fatal("held or throttled on a flat stream")
	}
	// t2 floods.
	tr.per = map[string]float64{"t1": 500, "t2": 5e6}
	tick(5e6)
	start := now
	e, ok := book.Get("a", now)
	if !ok || !reflect.DeepEqual(e.Tasks, []string{"t2"}) || e.Limit.Rate != 3e6 || !e.Until.Equal(start.Add(10*time.Minute)) || e.By != "anomaly" {
		t.Fatalf("book entry %+v %v", e, ok)
	}
	if held, why := g.HoldScaleUp("a", now); !held || !strings.Contains(why, "t2 throttled (3Mbit)") {
		t.Fatalf("hold %v %q", held, why)
	}
	if held, _ := g.HoldScaleUp("b", now); held {
		t.Fatal("the other app held")
	}
	kinds := func(k events.Kind) []events.Event { return log.List(events.Filter{App: "a", Kinds: []events.Kind{k}}) }
	an := kinds(events.AppAnomaly)
	if len(an) != 1 || !strings.Contains(an[0].Reason, "tasks t2: throttled") {
		t.Fatalf("anomaly events %v", an)
	}
	if th := kinds(events.AppThrottle); len(th) != 1 || !strings.Contains(th[0].Reason, "throttle applied by anomaly: t2 limited to 3Mbit") {
		t.Fatalf("throttle events %v", th)
	}
	// By hand: renews, keeping t2, adding t1.
	if _, err := g.Throttle(now, "a", []string{"t1"}, config.Throttle{Rate: 3e6, For: config.Duration(20 * time.Minute)}, "ops"); err != nil {
		t.Fatal(err)
	}
	e, _ = book.Get("a", now)
	if !reflect.DeepEqual(e.Tasks, []string{"t1", "t2"}) || !e.Since.Equal(start) || !e.Until.Equal(now.Add(20*time.Minute)) {
		t.Fatalf("renewed entry %+v", e)
	}
	if _, err := g.Throttle(now, "a", nil, config.Throttle{Rate: 10}, "ops"); err == nil {
		t.Fatal("a 10 bit/s limit accepted")
	}
	// The flood goes on at the same level: the limit lasts until it expires.
	for now.Before(start.Add(20*time.Minute - 10*time.Second)) {
		tick(5e6)
	}
	if _, ok := book.Get("a", now); !ok {
		t.Fatal("limit gone before its end")
	}
	tick(1000)
	tick(1000)
	if _, ok := book.Get("a", now); ok {
		t.Fatal("limit outlasted its end")
	}
	if held, _ := g.HoldScaleUp("a", now); held {
		t.Fatal("held after the limit ended")
	}
	th := kinds(events.AppThrottle)
	if len(th) != 3 || !strings.Contains(th[1].Reason, "renewed by ops") || !strings.Contains(th[2].Reason, "lifted (expired)") {
		t.Fatalf("throttle events %v", th)
	}
	// Lift by hand.
	if _, err := g.Throttle(now, "a", nil, *lim, "ops"); err != nil {
		t.Fatal(err)
	}
	if _, ok := g.Lift(now, "a", "ops"); !ok {
		t.Fatal("nothing lifted")
	}
	if _, ok := g.Lift(now, "a", "ops"); ok {
		t.Fatal("lifted twice")
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(g)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
			t.Fatal(err)
		}
	}
	text := buf.String()
	for _, want := range []string{`hoist_throttles_total{action="applied",app="a"} 2`, `hoist_throttles_total{action="renewed",app="a"} 1`,
		`hoist_throttles_total{action="lifted",app="a"} 2`, `hoist_app_throttled{app="a"} 0`, `hoist_anomaly_score{app="a",metric="net_tx"}`} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s:\n%s", want, text)
		}
	}
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
	// Without a book, by hand is refused.
	g2, _ := New(config.Anomaly{Detector: "robustz"}, src, log)
	if _, err := g2.Throttle(now, "a", nil, *lim, "ops"); err == nil {
		t.Fatal("throttled without a book")
	}
}

// controller.anomaly.streams gives the traffic streams a detector with a
// short warm-up: a flood 25 ticks after the app started is throttled, while
// the other streams keep the default (still silent) and the same guard
// without the setting sees nothing yet.
func TestStreamWarmup(t *testing.T) {
	run := func(cfg config.Anomaly) (*throttle.Book, *events.Memory) {
		src := &fixed{v: map[string]float64{"rps": 10, "cpu": 20, "net_rx": 1000}}
		tr := &traffic{per: map[string]float64{"t1": 500, "t2": 500}}
		log := events.NewMemory(100)
		book := throttle.NewBook()
		g, err := NewWithNet(cfg, src, log, Net{Book: book, Traffic: tr})
		if err != nil {
			t.Fatal(err)
		}
		apps := []config.App{{Name: "a", OnAnomaly: config.OnAnomalyThrottle, Throttle: &config.Throttle{Rate: 3e6}}}
		now := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
		for i := range 25 {
			now = now.Add(2 * time.Second)
			src.v["net_rx"] = 1000 + float64(i%5)*10
			src.v["rps"] = 10 + float64(i%3)
			g.Observe(context.Background(), now, apps, map[string]int{"a": 2}, 2*time.Second)
		}
		if n := len(log.List(events.Filter{})); n != 0 {
			t.Fatalf("events before the flood: %v", log.List(events.Filter{}))
		}
		now = now.Add(2 * time.Second)
		src.v["net_rx"], src.v["rps"] = 5e6, 1000
		tr.per = map[string]float64{"t1": 500, "t2": 5e6}
		g.Observe(context.Background(), now, apps, map[string]int{"a": 2}, 2*time.Second)
		return book, log
	}
	base := config.Anomaly{Detector: "default", Hold: config.Duration(time.Minute), Threshold: 0.5}
	short := base
	short.Streams = map[string]config.AnomalyStream{"net_rx": {Detector: "robustz", Warmup: 20}, "net_tx": {Detector: "robustz", Warmup: 20}}
	book, log := run(short)
	now := time.Date(2026, 1, 5, 0, 0, 52, 0, time.UTC)
	if e, ok := book.Get("a", now); !ok || !reflect.DeepEqual(e.Tasks, []string{"t2"}) {
		t.Fatalf("short warm-up: entry %+v %v; events %v", e, ok, log.List(events.Filter{}))
	}
	if an := log.List(events.Filter{Kinds: []events.Kind{events.AppAnomaly}}); len(an) != 1 || !strings.Contains(an[0].Reason, "net_rx") {
		t.Fatalf("want one net_rx anomaly (rps keeps the default warm-up), got %v", an)
	}
	if book, log := run(base); len(book.Active(now)) != 0 || len(log.List(events.Filter{})) != 0 {
		t.Fatalf("the default warm-up scored after 26 values: %v", log.List(events.Filter{}))
	}
	bad := base
	bad.Streams = map[string]config.AnomalyStream{"net_rx": {Detector: "knn", Warmup: 20}}
	if _, err := New(bad, &fixed{}, events.NewMemory(1)); err == nil || !strings.Contains(err.Error(), "controller.anomaly.streams.net_rx") {
		t.Fatalf("knn with a warm-up: %v", err)
	}
}

// netThrottleGuard is a guard whose net_rx stream has its own robust
// z-score with a warm-up of 16, two tasks sharing the traffic evenly.
func netThrottleGuard(t *testing.T) (*Guard, *fixed, *events.Memory, *throttle.Book) {
	t.Helper()
	src := &fixed{v: map[string]float64{"net_rx": 1000}}
	tr := &traffic{per: map[string]float64{"t1": 500, "t2": 500}}
	log := events.NewMemory(100)
	book := throttle.NewBook()
	cfg := config.Anomaly{Detector: "default", Hold: config.Duration(time.Minute), Threshold: 0.5,
		Streams: map[string]config.AnomalyStream{"net_rx": {Detector: "robustz", Warmup: 16}}}
	g, err := NewWithNet(cfg, src, log, Net{Book: book, Traffic: tr})
	if err != nil {
		t.Fatal(err)
	}
	return g, src, log, book
}

// A fall of traffic (the end of a flood) is an anomaly, but throttles
// nothing.
func TestTrafficFallThrottlesNothing(t *testing.T) {
	g, src, log, book := netThrottleGuard(t)
	apps := []config.App{{Name: "a", OnAnomaly: config.OnAnomalyThrottle, Throttle: &config.Throttle{Rate: 3e6}}}
	now := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	tick := func(v float64) {
		now = now.Add(2 * time.Second)
		src.v["net_rx"] = v
		g.Observe(context.Background(), now, apps, map[string]int{"a": 2}, 2*time.Second)
	}
	for i := range 20 {
		tick(1e6 + float64(i%4)*1e4)
	}
	tick(1000)
	an := log.List(events.Filter{Kinds: []events.Kind{events.AppAnomaly}})
	if len(an) != 1 || !strings.Contains(an[0].Reason, "a fall, nothing throttled") {
		t.Fatalf("anomalies %v", an)
	}
	if len(book.Active(now)) != 0 {
		t.Fatalf("throttled on a fall: %+v", book.Active(now))
	}
}

// The streams start when the app first runs: the ticks of its deployment
// (no replica yet) do not count towards the warm-up, so its first load is
// not a record that throttles it.
func TestStreamsStartWhenTheAppRuns(t *testing.T) {
	g, src, log, _ := netThrottleGuard(t)
	apps := []config.App{{Name: "a", OnAnomaly: config.OnAnomalyThrottle, Throttle: &config.Throttle{Rate: 3e6}}}
	now := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	tick := func(running int, v float64) {
		now = now.Add(2 * time.Second)
		src.v["net_rx"] = v
		g.Observe(context.Background(), now, apps, map[string]int{"a": running}, 2*time.Second)
	}
	for range 30 {
		tick(0, 0) // deploying
	}
	for range 3 {
		tick(2, 50) // running, idle
	}
	for i := range 20 {
		tick(2, 1e5+float64(i%3)*1e3) // the load arrives
	}
	if an := log.List(events.Filter{}); len(an) != 0 {
		t.Fatalf("events: %v", an)
	}
}

func TestRiseContributors(t *testing.T) {
	for _, c := range []struct {
		name      string
		prev, now map[string]float64
		want      []string
	}{
		{"a flood's first seconds: one task rose", map[string]float64{"a": 200, "b": 200, "c": 195}, map[string]float64{"a": 290, "b": 201, "c": 196}, []string{"a"}},
		{"one stands out: the level says", map[string]float64{"a": 200, "b": 200}, map[string]float64{"a": 5000, "b": 300}, []string{"a"}},
		{"an even rise: all", map[string]float64{"a": 100, "b": 100, "c": 100}, map[string]float64{"a": 300, "b": 290, "c": 310}, []string{"c", "a", "b"}},
		{"no tick before: every task", nil, map[string]float64{"a": 290, "b": 201}, []string{"a", "b"}},
		{"nothing rose: every task", map[string]float64{"a": 300, "b": 300}, map[string]float64{"a": 290, "b": 280}, []string{"a", "b"}},
		{"a new task is not a rise", map[string]float64{"a": 200, "b": 200}, map[string]float64{"a": 260, "b": 200, "n": 250}, []string{"a"}},
	} {
		if got := RiseContributors(c.prev, c.now); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
