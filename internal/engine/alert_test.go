package engine_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/hoist/hoist/internal/alerting"
	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/sim"
)

// An app scaled only by alerts: Alertmanager's notifications reach the
// executor, and the engine's alert policy turns them into replica changes
// within the app's bounds and cooldowns, each an event.
const alertScenario = `
controller: {interval: 10s}
pools:
  - name: workers
    min: 2
    max: 2
    machine: {cpus: 8, memory: 16GiB}
apps:
  - name: web
    image: hoist/demoapp:latest
    pools: [workers]
    resources:
      reservations: {cpus: 0.5, memory: 256MiB}
    replicas: {min: 2, max: 4}
    cooldown: {up: 30s, down: 1m}
    policies:
      - {type: alert, upper: 80, lower: 20, for: 30s, repeat: 40s}
    load:
      pattern: {shape: constant, base: 10}
`

func notify(t *testing.T, h http.Handler, file string, replace ...string) {
	t.Helper()
	b, err := os.ReadFile("../alerting/testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	b = []byte(strings.NewReplacer(replace...).Replace(string(b)))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/alerts/webhook", bytes.NewReader(b)))
	if w.Code != 200 {
		t.Fatalf("webhook: %d %s", w.Code, w.Body)
	}
}

func TestAlertPolicyFollowsExecutor(t *testing.T) {
	ctx := context.Background()
	cfg := parse(t, alertScenario)
	s, err := sim.NewStack(cfg, sim.StackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	step := func(n int) {
		t.Helper()
		for i := 0; i < n; i++ {
			if _, err := s.Step(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	desired := func() int { return s.Cluster.App("web").Desired }
	step(2) // deploy at min 2
	// Without an executor an alert policy has no data: held, said so.
	holds := s.Events.List(events.Filter{App: "web", Kinds: []events.Kind{events.AppHold}})
	if len(holds) != 1 || !strings.Contains(holds[0].Reason, "no alert executor") {
		t.Fatalf("holds without an executor: %+v", holds)
	}

	x := alerting.NewExecutor(s.Engine, 0, nil)
	s.Engine.SetAlertSource(x)
	step(1)
	if desired() != 2 {
		t.Fatalf("scaled with no alert: %d", desired())
	}
	seq := s.Events.LastSeq()
	notify(t, x, "alertmanager-0.25-firing.json")
	step(1)
	if desired() != 3 {
		t.Fatalf("overloaded: desired %d, want 3", desired())
	}
	scales := s.Events.List(events.Filter{App: "web", Kinds: []events.Kind{events.AppScale}, AfterSeq: seq})
	if len(scales) != 1 || scales[0].From != 2 || scales[0].To != 3 || !strings.Contains(scales[0].Reason, "alert HoistAppOverloaded firing for 0s: +1") {
		t.Fatalf("scale events: %+v", scales)
	}
	if fired := s.Events.List(events.Filter{App: "web", Kinds: []events.Kind{alerting.KindFiring}}); len(fired) != 1 {
		t.Fatalf("firing events: %+v", fired)
	}
	// Alertmanager repeats the notification; ticks go on: one step per repeat (40s).
	notify(t, x, "alertmanager-0.25-firing.json")
	step(3) // 30s after the step
	if desired() != 3 {
		t.Fatalf("stepped twice within repeat: %d", desired())
	}
	step(1) // 40s: again
	if desired() != 4 {
		t.Fatalf("after repeat: desired %d, want 4", desired())
	}
	step(5) // at max 4: held, one event
	if desired() != 4 {
		t.Fatalf("above max: %d", desired())
	}
	if h := s.Events.List(events.Filter{App: "web", Kinds: []events.Kind{events.AppHold}, AfterSeq: seq}); len(h) != 1 || !strings.Contains(h[0].Reason, "held at max 4") {
		t.Fatalf("max holds: %+v", h)
	}
	// Resolved: no more steps; underloaded: down, after the cooldown, not below min.
	notify(t, x, "alertmanager-0.25-resolved.json")
	notify(t, x, "alertmanager-0.25-firing.json", "HoistAppOverloaded", "HoistAppUnderloaded", "c690c7a69ae14fea", "0000000000000001")
	step(1)
	if desired() != 3 {
		t.Fatalf("underloaded: desired %d, want 3", desired())
	}
	step(4) // 40s later: the repeat is due, but the 1m down cooldown holds it
	if desired() != 3 {
		t.Fatalf("down cooldown ignored: %d", desired())
	}
	step(2)
	if desired() != 2 {
		t.Fatalf("second step down: desired %d, want 2", desired())
	}
	step(20)
	if desired() != 2 {
		t.Fatalf("below min: %d", desired())
	}
}

// The engine reads the executor under its lock while the webhook asks the
// engine for pool changes: no lock-order inversion (a deadlock would hang
// here), no race (go test -race).
func TestExecutorConcurrentWithTicks(t *testing.T) {
	ctx := context.Background()
	cfg := parse(t, strings.Replace(alertScenario, "    machine: {cpus: 8, memory: 16GiB}",
		"    machine: {cpus: 8, memory: 16GiB}\n    alert: {upper: 0.8, lower: 0.1, repeat: 10s}", 1))
	s, err := sim.NewStack(cfg, sim.StackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	x := alerting.NewExecutor(s.Engine, 0, nil)
	s.Engine.SetAlertSource(x)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 2000; i++ {
			name := []string{"HoistPoolOverloaded", "HoistAppOverloaded"}[i%2]
			notify(t, x, "alertmanager-0.25-firing.json", "HoistAppOverloaded", name, `"hoist_app":"web"`, map[bool]string{true: `"hoist_pool":"workers"`, false: `"hoist_app":"web"`}[i%2 == 0])
			x.Step(ctx)
		}
	}()
	for i := 0; i < 2000; i++ {
		if _, err := s.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	<-done
}

// A quiet alert policy abstains: the app's target policy scales it down
// alone when the load falls, and no alert fires.
func TestQuietAlertPolicyLetsOthersScaleDown(t *testing.T) {
	ctx := context.Background()
	cfg := parse(t, strings.NewReplacer(
		"      - {type: alert, upper: 80, lower: 20, for: 30s, repeat: 40s}",
		"      - {type: target, metric: rps, target: 20, scale_down: {stabilization: 0s, max_percent: 100, period: 10s}}\n      - {type: alert, upper: 80, lower: 20, for: 30s}",
		"pattern: {shape: constant, base: 10}", "pattern: {shape: step, base: 5, peak: 80, at: 0s, duration: 2m}",
		"cooldown: {up: 30s, down: 1m}", "cooldown: {up: 0s, down: 0s}",
	).Replace(alertScenario))
	s, err := sim.NewStack(cfg, sim.StackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Engine.SetAlertSource(alerting.NewExecutor(s.Engine, 0, nil))
	peak := 0
	for i := 0; i < 60; i++ {
		if _, err := s.Step(ctx); err != nil {
			t.Fatal(err)
		}
		peak = max(peak, s.Cluster.App("web").Desired)
	}
	if peak < 4 || s.Cluster.App("web").Desired != 2 {
		t.Fatalf("peak %d, end %d: want up to 4 and back to min 2", peak, s.Cluster.App("web").Desired)
	}
}
