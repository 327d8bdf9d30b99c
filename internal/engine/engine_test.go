package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/sim"
	"github.com/hoist/hoist/internal/store"
)

// scenario: one pool of 2-CPU machines (min 1, max 5), one app whose replicas
// reserve 1 CPU and serve 50 req/s each at 100 % CPU, scaled to 30 req/s per
// replica (request rate, unlike CPU, does not saturate, so the first decision
// sees the whole step). Load steps from 20 to 280 req/s at 2m and back at 12m.
const scenario = `
controller: {interval: 10s}
sim: {container_start: 2s}
pools:
  - name: workers
    min: 1
    max: 5
    machine: {cpus: 2, memory: 4GiB}
    boot_time: 40s
    cooldown: 2m
    scale_down: {below: 0.5, for: 2m}
apps:
  - name: web
    image: hoist/demoapp:latest
    pools: [workers]
    resources:
      limits: {cpus: 1, memory: 512MiB}
      reservations: {cpus: 1, memory: 512MiB}
    replicas: {min: 2, max: 8}
    policies:
      - type: target
        metric: rps
        target: 30
        window: 10s
        scale_up: {max_percent: 1000, period: 15s}
        scale_down: {stabilization: 1m, max_percent: 100, period: 15s}
    load:
      cpu_per_request: 20ms
      pattern: {shape: step, base: 20, peak: 280, at: 2m, duration: 10m}
`

func parse(t *testing.T, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func kinds(evs []events.Event, k events.Kind) []events.Event {
	var out []events.Event
	for _, e := range evs {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

// The whole two-level story on the simulator.
func TestScaleOutAndBackIn(t *testing.T) {
	ctx := context.Background()
	cfg := parse(t, scenario)
	s, err := sim.NewStack(cfg, sim.StackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	maxExists, maxRunning := 0, 0
	sawPendingForResources := false
	res, err := s.Run(ctx, sim.RunOptions{Duration: 30 * time.Minute, OnTick: func(s *sim.Stack, p *engine.Plan) {
		for _, a := range p.Apps {
			if a.Desired < 2 || a.Desired > 8 {
				t.Errorf("%s: desired %d outside 2..8", p.Time, a.Desired)
			}
		}
		exists := 0
		for _, r := range s.Engine.Machines() {
			if r.Phase.Exists() {
				exists++
			}
		}
		if exists > 5 || exists < 1 {
			t.Errorf("%s: %d machines outside 1..5", p.Time, exists)
		}
		maxExists = max(maxExists, exists)
		st := s.Cluster.App("web")
		maxRunning = max(maxRunning, st.Running)
		state, _ := s.Cluster.State(ctx)
		for _, tk := range state.Tasks {
			if tk.PendingForResources() {
				sawPendingForResources = true
			}
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Violations) > 0 {
		t.Fatalf("safety violations: %v", res.Violations)
	}
	evs := s.Events.List(events.Filter{})
	ups := kinds(evs, events.PoolScaleUp)
	// 280 req/s at 30 req/s per replica needs ceil(280/30) = 10 > max 8
	// replicas: 8 replicas of 1 CPU on 2-CPU machines are 4 machines, 3 more
	// than the one at min, ordered in ONE step.
	if len(ups) != 1 || ups[0].To-ups[0].From != 3 {
		t.Fatalf("want one order of 3 machines, got %d orders: %v", len(ups), ups)
	}
	if n := len(kinds(evs, events.MachineOrdered)); n != 3 {
		t.Errorf("machines ordered = %d, want 3", n)
	}
	if !sawPendingForResources {
		t.Error("no task ever went pending for resources")
	}
	if maxRunning != 8 || maxExists != 4 {
		t.Errorf("peak: running %d (want 8), machines %d (want 4)", maxRunning, maxExists)
	}
	// Load fell at 12m: replicas back to min, machines drained and destroyed to min.
	if st := s.Cluster.App("web"); st.Desired != 2 || st.Running != 2 {
		t.Errorf("after the load: %+v, want 2 running", st)
	}
	if ps := s.Cluster.Pool("workers"); ps.Ready != 1 || ps.Booting != 0 || ps.Draining != 0 {
		t.Errorf("after the load: pool %+v, want 1 ready", ps)
	}
	// Each removed machine went through the whole sequence, in order.
	for _, r := range s.Engine.Machines() {
		if r.Phase != cluster.PhaseDestroyed {
			continue
		}
		var seq []string
		for _, h := range r.History {
			seq = append(seq, string(h.Phase))
		}
		if got := strings.Join(seq, ">"); got != "ordered>booting>ready>selected>draining>drained>removed>destroyed" {
			t.Errorf("%s: lifecycle %s", r.Name, got)
		}
	}
	if n := len(kinds(evs, events.MachineDestroyed)); n != 3 {
		t.Errorf("machines destroyed = %d, want 3", n)
	}
	st := s.Cluster.Stats()
	if st.LostNodes != 0 {
		t.Errorf("%d nodes destroyed with tasks", st.LostNodes)
	}
	// Every decision that changed something has its reason.
	for _, e := range evs {
		if e.Reason == "" {
			t.Errorf("event without a reason: %+v", e)
		}
	}
}

// A task that fits no machine shape is an event, never an order.
func TestUnfitTaskIsAnEventNotAnOrder(t *testing.T) {
	ctx := context.Background()
	cfg := parse(t, scenario)
	big := cfg.Apps[0]
	big.Name, big.Load = "huge", nil
	big.Resources.Reservations.CPUs = 3 // machines have 2
	big.Replicas = config.Replicas{Min: 1, Max: 1}
	s, err := sim.NewStack(cfg, sim.StackOptions{ExtraApps: func(cluster.State) []config.App { return []config.App{big} }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(ctx, sim.RunOptions{Duration: 90 * time.Second}); err != nil {
		t.Fatal(err)
	}
	evs := s.Events.List(events.Filter{})
	unfit := kinds(evs, events.TaskUnschedulable)
	if len(unfit) != 1 || unfit[0].App != "huge" {
		t.Fatalf("want one unschedulable event for huge, got %v", unfit)
	}
	if n := len(kinds(evs, events.MachineOrdered)); n != 0 {
		t.Fatalf("%d machines ordered for a task that fits none", n)
	}
}

// flakyMetrics hides an app's metric after a point in time.
type flakyMetrics struct {
	src   engine.MetricSource
	clock interface{ Now() time.Time }
	after time.Time
}

func (f *flakyMetrics) Value(ctx context.Context, q engine.MetricQuery) (float64, error) {
	if f.clock.Now().After(f.after) {
		return 0, fmt.Errorf("scrape failed: %w", engine.ErrNoData)
	}
	return f.src.Value(ctx, q)
}

// No scale-down on missing data: the metric disappears while the app is big
// and the load has gone; replicas stay, and the hold says why.
func TestNoScaleDownOnMissingData(t *testing.T) {
	ctx := context.Background()
	cfg := parse(t, scenario)
	fm := &flakyMetrics{}
	s, err := sim.NewStack(cfg, sim.StackOptions{Metrics: fm})
	if err != nil {
		t.Fatal(err)
	}
	fm.src, fm.clock = s.Cluster, s.Cluster
	fm.after = s.Cluster.Now().Add(6 * time.Minute) // at peak
	if _, err := s.Run(ctx, sim.RunOptions{Duration: 30 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	if st := s.Cluster.App("web"); st.Desired != 8 {
		t.Fatalf("desired %d after the metric vanished, want 8 kept", st.Desired)
	}
	holds := kinds(s.Events.List(events.Filter{App: "web"}), events.AppHold)
	if len(holds) == 0 || !strings.Contains(holds[len(holds)-1].Reason, "no data") {
		t.Fatalf("want a hold event saying no data, got %v", holds)
	}
	if len(holds) > 3 {
		t.Errorf("%d hold events: a lasting condition must be one event", len(holds))
	}
}

// interrupted wraps a provider and "crashes" around Create: before the call
// reaches the provider, or after it returned but before hoist saw the answer.
type interrupted struct {
	engine.Provider
	mu          sync.Mutex
	failBefore  int
	failAfter   int
	createCalls map[string]int
}

var errCrash = errors.New("hoist died here")

func (p *interrupted) Create(ctx context.Context, name string) (cluster.Machine, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.createCalls[name]++
	if p.failBefore > 0 {
		p.failBefore--
		return cluster.Machine{}, errCrash
	}
	m, err := p.Provider.Create(ctx, name)
	if p.failAfter > 0 {
		p.failAfter--
		return cluster.Machine{}, errCrash
	}
	return m, err
}

// newEngine builds an engine on an existing simulated cluster and store, as a
// restarted hoist would be.
func newEngine(t *testing.T, cfg *config.Config, c *sim.Cluster, st engine.Store, ev *events.Memory, provs map[string]engine.Provider) *engine.Engine {
	t.Helper()
	e, err := engine.New(cfg, engine.Deps{Orchestrator: c, Providers: provs, Metrics: c, Clock: c, Store: st, Events: ev})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func tickFor(t *testing.T, e *engine.Engine, c *sim.Cluster, d time.Duration) {
	t.Helper()
	for end := c.Now().Add(d); c.Now().Before(end); {
		if _, err := e.Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
		c.Advance(10 * time.Second)
	}
}

// A restart in the middle of creating machines orders none twice and orphans
// none; a restart in the middle of a drain resumes it.
func TestRestartMidCreateAndMidDrain(t *testing.T) {
	cfg := parse(t, scenario)
	c, err := sim.New(cfg, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := store.NewMemory()
	ev := events.NewMemory(10000)
	prov := &interrupted{Provider: c.Provider("workers"), failBefore: 1, failAfter: 1, createCalls: map[string]int{}}
	provs := map[string]engine.Provider{"workers": prov}

	// First life: run into the load step; two of the three creates "crash".
	e1 := newEngine(t, cfg, c, st, ev, provs)
	tickFor(t, e1, c, 2*time.Minute+20*time.Second)
	ordered := kinds(ev.List(events.Filter{}), events.MachineOrdered)
	if len(ordered) != 3 {
		t.Fatalf("first life ordered %d machines, want 3", len(ordered))
	}

	// Second life: a new engine on the same store and cluster.
	e2 := newEngine(t, cfg, c, st, ev, provs)
	tickFor(t, e2, c, 3*time.Minute)
	if n := len(kinds(ev.List(events.Filter{}), events.MachineOrdered)); n != 3 {
		t.Fatalf("after restart %d machines ordered in all, want still 3", n)
	}
	machines, _ := c.Provider("workers").List(context.Background())
	if len(machines) != 4 {
		t.Fatalf("provider has %d machines, want 4 (1 + 3)", len(machines))
	}
	// The machine whose call "crashed" before reaching the provider was asked
	// again under its name; the one that crashed after was found at the
	// provider and not asked again: 4 calls for 3 machines, never 2 machines.
	calls := 0
	for _, n := range prov.createCalls {
		calls += n
	}
	if calls != 4 || len(prov.createCalls) != 3 {
		t.Errorf("create calls %v, want 4 calls for 3 names", prov.createCalls)
	}

	// Load falls at 12m; run until a node is draining, then restart again.
	var draining string
	for i := 0; i < 200 && draining == ""; i++ {
		tickFor(t, e2, c, 10*time.Second)
		for _, r := range e2.Machines() {
			if r.Phase == cluster.PhaseDraining {
				draining = r.Name
			}
		}
	}
	if draining == "" {
		t.Fatal("no machine ever drained")
	}
	e3 := newEngine(t, cfg, c, st, ev, provs)
	tickFor(t, e3, c, 10*time.Minute)
	for _, r := range e3.Machines() {
		if r.Name == draining && r.Phase != cluster.PhaseDestroyed {
			t.Fatalf("%s stuck in %s after the restart", draining, r.Phase)
		}
	}
	machines, _ = c.Provider("workers").List(context.Background())
	if len(machines) != 1 {
		t.Fatalf("%d machines left, want the min 1", len(machines))
	}
	if lost := c.Stats().LostNodes; lost != 0 {
		t.Fatalf("%d nodes destroyed with tasks", lost)
	}
}

// A restart that lost its state (no --data) finds a drained machine of its
// own: it takes it up as draining, never leaves the node drained forever.
// Here, at peak, its room is needed, so the drain is cancelled.
func TestRestartWithoutStateFinishesDrain(t *testing.T) {
	cfg := parse(t, scenario)
	c, err := sim.New(cfg, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ev := events.NewMemory(10000)
	e1 := newEngine(t, cfg, c, store.NewMemory(), ev, c.Providers())
	tickFor(t, e1, c, 4*time.Minute)
	var victim cluster.MachineRecord
	for _, r := range e1.Machines() {
		if r.Phase == cluster.PhaseReady && r.Name != "workers-init0" {
			victim = r
		}
	}
	if victim.Name == "" {
		t.Fatal("no extra machine at peak")
	}
	// hoist drained it by hand, then died and lost its records.
	if err := c.Drain(context.Background(), victim.NodeID); err != nil {
		t.Fatal(err)
	}
	e2 := newEngine(t, cfg, c, store.NewMemory(), ev, c.Providers())
	tickFor(t, e2, c, time.Minute)
	evs := ev.List(events.Filter{Machine: victim.Name})
	if a := kinds(evs, events.MachineAdopted); len(a) != 1 || !strings.Contains(a[0].Reason, "found drained") {
		t.Fatalf("adoption: %v", a)
	}
	st, _ := c.State(context.Background())
	for _, n := range st.Nodes {
		if n.Machine == victim.Name && n.Availability != cluster.Active {
			t.Fatalf("%s left %s", victim.Name, n.Availability)
		}
	}
	if lost := c.Stats().LostNodes; lost != 0 {
		t.Fatalf("%d nodes lost", lost)
	}
}

// A machine that dies is replaced; a create that keeps failing is retried
// with backoff, then given up, and the loop goes on.
func TestMachineDeathAndCreateFailures(t *testing.T) {
	cfg := parse(t, scenario)
	s, err := sim.NewStack(cfg, sim.StackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := s.Cluster
	tickFor(t, s.Engine, c, 30*time.Second)
	c.Kill("workers-init0")
	tickFor(t, s.Engine, c, time.Minute) // the load step comes at 2m
	evs := s.Events.List(events.Filter{})
	if len(kinds(evs, events.MachineFailed)) == 0 || len(kinds(evs, events.MachineOrdered)) != 1 {
		t.Fatalf("dead machine not failed and replaced: %v", evs)
	}
	if ps := c.Pool("workers"); ps.Ready != 1 {
		t.Fatalf("pool %+v, want the replacement ready", ps)
	}

	// Now every create fails for a while: the order is retried, never doubled.
	c.FailCreates("workers", 3)
	tickFor(t, s.Engine, c, 10*time.Minute)
	evs = s.Events.List(events.Filter{})
	fails := 0
	for _, e := range kinds(evs, events.MachineFailed) {
		if strings.Contains(e.Reason, "injected failure") {
			fails++
		}
	}
	if fails != 3 {
		t.Errorf("%d failed create attempts recorded, want 3", fails)
	}
	names := map[string]bool{}
	for _, e := range kinds(evs, events.MachineOrdered) {
		if names[e.Machine] {
			t.Errorf("%s ordered twice", e.Machine)
		}
		names[e.Machine] = true
	}
	if st := c.App("web"); st.Running != 8 {
		t.Errorf("web running %d at peak after the failures, want 8", st.Running)
	}
}

// Dry run decides and records, never acts.
func TestDryRun(t *testing.T) {
	cfg := parse(t, scenario)
	cfg.Controller.DryRun = true
	s, err := sim.NewStack(cfg, sim.StackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(context.Background(), sim.RunOptions{Duration: 5 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	st, _ := s.Cluster.State(context.Background())
	if len(st.Services) != 0 {
		t.Fatalf("dry run deployed %d services", len(st.Services))
	}
	evs := s.Events.List(events.Filter{})
	if len(evs) == 0 {
		t.Fatal("dry run recorded nothing")
	}
	for _, e := range evs {
		if !e.DryRun && e.Kind != events.MachineAdopted {
			t.Errorf("event not marked dry run: %+v", e)
		}
	}
}

// When load comes back while a node drains, the drain is cancelled and the
// node returns to service instead of a new machine being bought.
func TestDrainCancelledWhenRoomIsNeeded(t *testing.T) {
	cfg := parse(t, strings.Replace(scenario, "pattern: {shape: step, base: 20, peak: 280, at: 2m, duration: 10m}",
		"pattern: {shape: constant, base: 20}", 1))
	cfg.Controller.DrainTimeout = config.Duration(time.Hour)
	s, err := sim.NewStack(cfg, sim.StackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := s.Cluster
	tickFor(t, s.Engine, c, 20*time.Second)
	// Two machines by hand; the app is small, so after 2m one becomes unneeded.
	if _, err := s.Engine.RequestPoolChange(ctx, "workers", 3, "test"); err != nil {
		t.Fatal(err)
	}
	var draining *cluster.MachineRecord
	for i := 0; i < 100 && draining == nil; i++ {
		tickFor(t, s.Engine, c, 10*time.Second)
		for _, r := range s.Engine.Machines() {
			if r.Phase == cluster.PhaseDraining || r.Phase == cluster.PhaseSelected {
				r := r
				draining = &r
			}
		}
	}
	if draining == nil {
		t.Fatal("nothing drained")
	}
	// The sim drains instantly; hold the node in draining by cancelling through the API path.
	if err := s.Engine.CancelDrain(ctx, draining.Name); err != nil && !errors.Is(err, engine.ErrNotCancellable) {
		t.Fatal(err)
	}
	tickFor(t, s.Engine, c, 10*time.Second)
	for _, r := range s.Engine.Machines() {
		if r.Name == draining.Name && r.Phase != cluster.PhaseReady && r.Phase != cluster.PhaseDrained && r.Phase.Exists() {
			t.Fatalf("%s in %s after cancel", r.Name, r.Phase)
		}
	}
}

// Swarm spreads tasks, so nodes sit together just above Cluster Autoscaler's
// 50 %: its rule keeps them all. Consolidation removes a node when its tasks
// fit on the others below the consolidation share.
func TestConsolidation(t *testing.T) {
	const desc = `
pools:
  - name: workers
    min: 1
    max: 4
    machine: {cpus: 4, memory: 16GiB}
    cooldown: 1m
    scale_down: {below: 0.5, for: 2m, consolidate: CONSOLIDATE}
apps:
  - name: steady
    image: hoist/demoapp:latest
    pools: [workers]
    replicas: {min: 9, max: 9}
    resources: {reservations: {cpus: 1, memory: 1GiB}}
`
	for _, tc := range []struct {
		consolidate string
		want        int
	}{{"0", 4}, {"0.75", 3}} {
		cfg := parse(t, strings.Replace(desc, "CONSOLIDATE", tc.consolidate, 1))
		app := cfg.Apps[0]
		cfg.Apps = nil
		var c *sim.Cluster
		// The app arrives once 4 nodes are ready, so Swarm spreads its 9
		// one-CPU tasks as 3, 2, 2, 2 (75 %, 50 %, 50 %, 50 %).
		// Once there, it stays (an app that went away would be pruned).
		arrived := false
		late := func(cluster.State) []config.App {
			if !arrived && c.Pool("workers").Ready < 4 {
				return nil
			}
			arrived = true
			return []config.App{app}
		}
		s, err := sim.NewStack(cfg, sim.StackOptions{ExtraApps: late})
		if err != nil {
			t.Fatal(err)
		}
		c = s.Cluster
		if _, err := s.Engine.RequestPoolChange(context.Background(), "workers", 4, "test"); err != nil {
			t.Fatal(err)
		}
		tickFor(t, s.Engine, s.Cluster, 20*time.Minute)
		if ps := s.Cluster.Pool("workers"); ps.Ready != tc.want {
			t.Errorf("consolidate %s: %d nodes, want %d", tc.consolidate, ps.Ready, tc.want)
		}
		if st := s.Cluster.App("steady"); st.Running != 9 {
			t.Errorf("consolidate %s: %d running, want 9", tc.consolidate, st.Running)
		}
	}
}

// GET /v1/plan's meaning: the loop's own plan while it is current, else one
// dry run shared by the callers; never a change to what the loop decides.
func TestPlanServesTheCurrentPlanOrADryRun(t *testing.T) {
	ctx := context.Background()
	cfg := parse(t, scenario)
	s, err := sim.NewStack(cfg, sim.StackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	twin, err := sim.NewStack(parse(t, scenario), sim.StackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	plan := func() *engine.Plan {
		t.Helper()
		p, err := s.Engine.Plan(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	dry := plan()
	if len(dry.Apps) != 1 || dry.Apps[0].Action != engine.ActDeploy {
		t.Fatalf("dry run before any tick: %+v", dry.Apps)
	}
	if again := plan(); again != dry {
		t.Error("a second caller within the interval did not get the same dry run")
	}
	for i := 0; i < 30; i++ {
		tp, err := s.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want, err := twin.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Dry runs between ticks change nothing the loop decides.
		if fmt.Sprint(tp.Apps, tp.Pools) != fmt.Sprint(want.Apps, want.Pools) {
			t.Fatalf("tick %d with dry runs between ticks:\n%+v\nwithout:\n%+v", i, tp, want)
		}
		// Step advanced the clock by the interval: the tick's plan is out of
		// date, and a dry run observes afresh.
		p := plan()
		if p == tp || !p.Time.Equal(s.Cluster.Now()) {
			t.Fatalf("tick %d: plan of %s served at %s, want a fresh dry run", i, p.Time, s.Cluster.Now())
		}
	}
	tp, err := s.Engine.Tick(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p := plan(); p != tp {
		t.Error("the tick's own plan was not served while current")
	}
	if _, err := s.Engine.RequestPoolChange(ctx, "workers", 3, "test"); err != nil {
		t.Fatal(err)
	}
	if p := plan(); p == tp {
		t.Error("after a manual request, the plan from before it was served")
	}
}

// metricsFunc is a MetricSource from a function.
type metricsFunc func(ctx context.Context, q engine.MetricQuery) (float64, error)

func (f metricsFunc) Value(ctx context.Context, q engine.MetricQuery) (float64, error) {
	return f(ctx, q)
}

// While a tick waits on a metric source, the reads answer; an app deleted in
// the meantime is not deployed by that tick.
func TestReadsDoNotWaitForATicksObservation(t *testing.T) {
	ctx := context.Background()
	cfg := parse(t, scenario)
	extra := cfg.Apps[0]
	extra.Name, extra.Load = "extra", nil
	extra.Policies = append([]config.Policy(nil), extra.Policies...)
	extra.Policies[0].Metric, extra.Policies[0].Query = "", `sum(rate(requests_total{app="extra"}[1m]))`
	var mu sync.Mutex
	registered := []config.App{extra}
	entered, gate := make(chan struct{}), make(chan struct{})
	var s *sim.Stack
	src := metricsFunc(func(ctx context.Context, q engine.MetricQuery) (float64, error) {
		if q.App == "extra" {
			entered <- struct{}{}
			<-gate
			return 10, nil
		}
		return s.Cluster.Value(ctx, q)
	})
	s, err := sim.NewStack(cfg, sim.StackOptions{Metrics: src, ExtraApps: func(cluster.State) []config.App {
		mu.Lock()
		defer mu.Unlock()
		return append([]config.App(nil), registered...)
	}})
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		p   *engine.Plan
		err error
	}
	done := make(chan result)
	go func() {
		p, err := s.Engine.Tick(ctx)
		done <- result{p, err}
	}()
	<-entered
	// The tick is inside its observation: everything but a tick answers.
	s.Engine.Config()
	s.Engine.Last()
	s.Engine.Machines()
	s.Engine.Existing()
	if _, err := s.Engine.RequestPoolChange(ctx, "workers", 1, "test"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	registered = nil
	mu.Unlock()
	close(gate)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	for _, a := range r.p.Apps {
		if a.App == "extra" {
			t.Errorf("the tick decided on a deleted app: %+v", a)
		}
	}
	st, _ := s.Cluster.State(ctx)
	for _, svc := range st.Services {
		if svc.Name == "extra" {
			t.Error("the tick deployed an app deleted while it observed")
		}
	}
	if len(r.p.Apps) != 1 || r.p.Apps[0].App != "web" || r.p.Apps[0].Action != engine.ActDeploy {
		t.Errorf("web: %+v", r.p.Apps)
	}
}
