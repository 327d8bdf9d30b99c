package bench

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/sim"
	"github.com/hoist/hoist/internal/workload"
)

// testConfig is examples/bench.yaml's shape, small: 4-CPU machines booting in
// 60 s, 1-CPU replicas serving 50 req/s each.
func testConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg := &config.Config{
		Controller: config.Controller{Interval: config.Duration(10 * time.Second)},
		Pools: []config.Pool{{Name: "workers", Provider: "sim", Min: 1, Max: 12,
			Machine: config.Shape{CPUs: 4, Memory: 8 << 30}, BootTime: config.Duration(60 * time.Second)}},
		Apps: []config.App{{Name: "web", Image: "x", Pools: []string{"workers"},
			Resources: config.Resources{Limits: config.Shape{CPUs: 1, Memory: 1 << 30}, Reservations: config.Shape{CPUs: 1, Memory: 1 << 30}},
			Replicas:  config.Replicas{Min: 1, Max: 48}, SLO: config.SLO{LatencyP95: config.Duration(250 * time.Millisecond)},
			Policies: []config.Policy{{Type: config.PolicyTarget, Metric: "cpu", Target: 60}},
			Load:     &config.Workload{CPUPerRequest: config.Duration(20 * time.Millisecond), Queue: 100}}},
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// step is a load of base req/s with peak from `at` for `dur`.
func step(base, peak float64, at, dur time.Duration) workload.Source {
	return workload.Pattern{Shape: config.ShapeStep, Base: base, Peak: peak, At: config.Duration(at), Duration: config.Duration(dur)}
}

// recorder wraps a run's seams and writes down every action with its time.
type recorder struct {
	Cluster
	prov  engine.Provider
	clock interface{ Now() time.Time }
	mu    sync.Mutex
	acts  []act
}

type act struct {
	t        time.Time
	kind     string // scale, create, drain, remove, destroy
	from, to int
	id       string
}

func (r *recorder) add(a act) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a.t = r.clock.Now()
	r.acts = append(r.acts, a)
}

func (r *recorder) Scale(ctx context.Context, svc string, n int) error {
	st, _ := r.Cluster.State(ctx)
	from := 0
	for _, s := range st.Services {
		if s.Name == svc {
			from = s.Desired
		}
	}
	r.add(act{kind: "scale", from: from, to: n})
	return r.Cluster.Scale(ctx, svc, n)
}

func (r *recorder) DrainStopFirst(ctx context.Context, id string) error {
	r.add(act{kind: "drain", id: id})
	return r.Cluster.DrainStopFirst(ctx, id)
}

func (r *recorder) RemoveNode(ctx context.Context, id string) error {
	r.add(act{kind: "remove", id: id})
	return r.Cluster.RemoveNode(ctx, id)
}

type recProvider struct{ r *recorder }

func (p recProvider) Create(ctx context.Context, name string) (cluster.Machine, error) {
	p.r.add(act{kind: "create", id: name})
	return p.r.prov.Create(ctx, name)
}

func (p recProvider) Destroy(ctx context.Context, name string) error {
	p.r.add(act{kind: "destroy", id: name})
	return p.r.prov.Destroy(ctx, name)
}

func (p recProvider) List(ctx context.Context) ([]cluster.Machine, error) { return p.r.prov.List(ctx) }

// run benchmarks one policy on load for d (no warm-up: actions are timed
// from the load's start) and returns its result and its recorded actions.
func run(t *testing.T, cfg *config.Config, policy string, load workload.Source, d time.Duration) (*Result, *recorder) {
	t.Helper()
	return runWarm(t, cfg, policy, load, d, testWarmup)
}

func runWarm(t *testing.T, cfg *config.Config, policy string, load workload.Source, d, warmup time.Duration) (*Result, *recorder) {
	t.Helper()
	var rec *recorder
	res, err := Run(context.Background(), Spec{Config: cfg, Load: load, Duration: d, Warmup: warmup, Policies: []string{policy},
		instrument: func(_ string, env *Env) {
			rec = &recorder{Cluster: env.Cluster, prov: env.Provider, clock: env.Cluster.(*sim.Cluster)}
			env.Cluster, env.Provider = rec, recProvider{rec}
		}})
	if err != nil {
		t.Fatal(err)
	}
	r := res[policy]
	if r.LostNodes != 0 {
		t.Errorf("%s destroyed %d machines with their node in the cluster", policy, r.LostNodes)
	}
	checkRemovals(t, rec)
	return r, rec
}

// checkRemovals: every destroyed machine's node was drained, then removed, first.
func checkRemovals(t *testing.T, rec *recorder) {
	t.Helper()
	drained, removed := map[string]bool{}, map[string]bool{}
	for _, a := range rec.acts {
		switch a.kind {
		case "drain":
			drained[a.id] = true
		case "remove":
			if !drained[a.id] {
				t.Errorf("%s: node %s removed without a drain", a.t.Format(time.TimeOnly), a.id)
			}
			removed[a.id] = true
		case "destroy":
			if node := "node-" + a.id; drained[node] && !removed[node] {
				t.Errorf("%s: machine %s destroyed before its node was removed", a.t.Format(time.TimeOnly), a.id)
			}
		}
	}
}

func (r *recorder) of(kind string) []act {
	var out []act
	for _, a := range r.acts {
		if a.kind == kind {
			out = append(out, a)
		}
	}
	return out
}

func (r *recorder) scales(up bool) []act {
	var out []act
	for _, a := range r.of("scale") {
		if (a.to > a.from) == up && a.to != a.from {
			out = append(out, a)
		}
	}
	return out
}

// testWarmup is the runs' warm-up: the load starts this long after the clock.
const testWarmup = time.Second

// loadStart is when the load's time 0 falls on the cluster's clock.
func loadStart(t *testing.T, cfg *config.Config) time.Time {
	t.Helper()
	s, err := time.Parse(time.RFC3339, cfg.Sim.Start)
	if err != nil {
		t.Fatal(err)
	}
	return s.Add(testWarmup)
}

func since(start time.Time, a act) time.Duration { return a.t.Sub(start) }

func TestHPAScaleUpRateAndDownStabilisation(t *testing.T) {
	cfg := testConfig(t)
	// 100 -> 1200 req/s at 5 min, back to 100 at 20 min.
	rise, drop := 5*time.Minute, 20*time.Minute
	_, rec := run(t, cfg, "hpa-ca", step(100, 1200, rise, drop-rise), 40*time.Minute)
	start := loadStart(t, cfg)
	ups := rec.scales(true)
	if len(ups) < 2 {
		t.Fatalf("hpa scaled up %d times on a 12x step, want several", len(ups))
	}
	for i, u := range ups {
		if lim := max(2*u.from, u.from+HPAUpPods); u.to > lim {
			t.Errorf("scale-up %d -> %d above max(+100%%, +4) = %d", u.from, u.to, lim)
		}
		if i > 0 && u.t.Sub(ups[i-1].t) < HPASync {
			t.Errorf("scale-ups %s apart, want at least the %s sync", u.t.Sub(ups[i-1].t), HPASync)
		}
	}
	var downs []act
	for _, a := range rec.scales(false) {
		if since(start, a) >= drop {
			downs = append(downs, a)
		}
	}
	if len(downs) == 0 {
		t.Fatal("hpa never scaled down after the load dropped")
	}
	first := since(start, downs[0])
	if first < drop+HPADownStabilize {
		t.Errorf("first scale-down %s after the drop, want no sooner than %s", first-drop, HPADownStabilize)
	}
	if first > drop+HPADownStabilize+2*HPASync+HPAMetricWindow {
		t.Errorf("first scale-down %s after the drop, want soon after %s", first-drop, HPADownStabilize)
	}
}

func TestCAScaleUpOnPendingAndScaleDownDelays(t *testing.T) {
	cfg := testConfig(t)
	// 1200 req/s needs ~28 replicas: 7 machines; it ends at 15 min.
	rise, drop := 2*time.Minute, 15*time.Minute
	res, rec := run(t, cfg, "hpa-ca", step(50, 1200, rise, drop-rise), 50*time.Minute)
	creates, removes := rec.of("create"), rec.of("remove")
	if len(creates) == 0 || len(removes) == 0 {
		t.Fatalf("ca created %d machines and removed %d nodes on a step up and down, want both", len(creates), len(removes))
	}
	lastUp := creates[len(creates)-1].t
	for _, r := range removes {
		if r.t.Sub(lastUp) < CADelayAfterAdd {
			t.Errorf("node removed %s after the last scale-up, want at least %s", r.t.Sub(lastUp), CADelayAfterAdd)
		}
	}
	// A node becomes unneeded only once the HPA has shed replicas, no sooner
	// than the drop plus the HPA's stabilisation; then it waits the unneeded time.
	start := loadStart(t, cfg)
	if first := removes[0].t.Sub(start); first < drop+HPADownStabilize+CAUnneededTime {
		t.Errorf("first node removed %s after the drop, want at least %s", first-drop, HPADownStabilize+CAUnneededTime)
	}
	// CA orders only for pending pods: the cluster had pending task time.
	if res.PendingTaskSec == 0 {
		t.Error("no task was ever pending, yet CA ordered machines")
	}
}

func TestMicadoAddsOnePer40s(t *testing.T) {
	cfg := testConfig(t)
	rise := 3 * time.Minute
	_, rec := run(t, cfg, "micado", step(40, 1000, rise, 0), 20*time.Minute)
	ups := rec.scales(true)
	if len(ups) < 3 {
		t.Fatalf("micado scaled up %d times under sustained overload, want several", len(ups))
	}
	start := loadStart(t, cfg)
	if first := since(start, ups[0]); first < rise+MicadoFor {
		t.Errorf("first scale-up %s after the rise, want at least the %s 'for'", first-rise, MicadoFor)
	}
	gaps := map[time.Duration]int{}
	for i, u := range ups {
		if u.to != u.from+1 {
			t.Errorf("scale-up %d -> %d, want +1", u.from, u.to)
		}
		if i > 0 {
			gap := u.t.Sub(ups[i-1].t)
			gaps[gap]++
			if gap < MicadoRepeat {
				t.Errorf("scale-ups %s apart, want at least %s", gap, MicadoRepeat)
			}
		}
	}
	if gaps[MicadoRepeat] == 0 {
		t.Errorf("no two scale-ups exactly %s apart (gaps %v): the alert does not repeat", MicadoRepeat, gaps)
	}
}

func TestElascaleOnePerLoop(t *testing.T) {
	cfg := testConfig(t)
	rise := 2 * time.Minute
	_, rec := run(t, cfg, "elascale", step(40, 1000, rise, 10*time.Minute), 25*time.Minute)
	ups, downs := rec.scales(true), rec.scales(false)
	if len(ups) < 3 || len(downs) < 3 {
		t.Fatalf("elascale: %d ups, %d downs on a step up and down, want several of each", len(ups), len(downs))
	}
	consecutive := 0
	for _, list := range [][]act{ups, downs} {
		for i, a := range list {
			if d := a.to - a.from; d != 1 && d != -1 {
				t.Errorf("change %d -> %d, want one replica", a.from, a.to)
			}
			if i > 0 {
				gap := a.t.Sub(list[i-1].t)
				if gap < ElascaleLoop {
					t.Errorf("changes %s apart, want one per %s loop", gap, ElascaleLoop)
				}
				if gap == ElascaleLoop {
					consecutive++
				}
			}
		}
	}
	if consecutive == 0 {
		t.Error("never two changes in consecutive loops under sustained overload")
	}
	// The macro rule waits for a booting VM: machine orders are at least a boot time apart.
	creates := rec.of("create")
	for i := 1; i < len(creates); i++ {
		if gap := creates[i].t.Sub(creates[i-1].t); gap < cfg.Pools[0].BootTime.D() {
			t.Errorf("machines ordered %s apart, want one VM at a time (boot %s)", gap, cfg.Pools[0].BootTime)
		}
	}
}

func TestOracleNeverUnderProvisions(t *testing.T) {
	cfg := testConfig(t)
	// Up, down, and a spike: every kind of change, with machines coming and going.
	load := sumSource{step(60, 900, 5*time.Minute, 15*time.Minute), step(0, 500, 35*time.Minute, 2*time.Minute)}
	res, rec := runWarm(t, cfg, "oracle", load, 50*time.Minute, time.Minute)
	s := res.Series
	for i := range s.DemandReplicas {
		if s.SupplyReplicas[i] < s.DemandReplicas[i] {
			t.Fatalf("second %d: %d replicas running, demand %d", i+1, s.SupplyReplicas[i], s.DemandReplicas[i])
		}
		if s.SupplyMachines[i] < s.DemandMachines[i] {
			t.Fatalf("second %d: %d machines ready, demand %d", i+1, s.SupplyMachines[i], s.DemandMachines[i])
		}
	}
	if res.SLOViolationSeconds != 0 {
		t.Errorf("oracle broke the SLO for %.0f s", res.SLOViolationSeconds)
	}
	if len(rec.of("create")) == 0 || len(rec.of("destroy")) == 0 {
		t.Error("the oracle neither added nor removed machines on a step up and down")
	}
	// And it is the cost limit: it never holds more than a boot time's worth above demand.
	if res.Replicas.ThetaO > 10 {
		t.Errorf("oracle over-provisions replicas by %.1f %%", res.Replicas.ThetaO)
	}
}

// sumSource adds loads.
type sumSource []workload.Source

func (s sumSource) Rate(t time.Duration) float64 {
	v := 0.0
	for _, x := range s {
		v += x.Rate(t)
	}
	return v
}
func (s sumSource) Length() time.Duration { return 0 }

func TestStaticPeakHoldsThePeak(t *testing.T) {
	cfg := testConfig(t)
	res, rec := run(t, cfg, "static-peak", step(60, 900, 10*time.Minute, 5*time.Minute), 30*time.Minute)
	s := res.Series
	peak := int32(0)
	for _, d := range s.DemandReplicas {
		peak = max(peak, d)
	}
	for i := 10; i < len(s.SupplyReplicas); i++ { // after the first container start
		if s.SupplyReplicas[i] != peak {
			t.Fatalf("second %d: %d replicas, want the peak %d all the time", i, s.SupplyReplicas[i], peak)
		}
	}
	if n := len(rec.of("scale")) + len(rec.of("create")) + len(rec.of("drain")); n != 0 {
		t.Errorf("static-peak acted %d times", n)
	}
	if res.Replicas.TauU != 0 && res.Replicas.TauU > 100*10/float64(len(s.SupplyReplicas)) {
		t.Errorf("static-peak under-provisioned %.2f %% of the time", res.Replicas.TauU)
	}
}

func TestRunAllPoliciesAndReport(t *testing.T) {
	cfg := testConfig(t)
	load := step(60, 900, 5*time.Minute, 10*time.Minute)
	names := append(append([]string(nil), DefaultPolicies...), "hoist-descriptor")
	res, err := Run(context.Background(), Spec{Config: cfg, Load: load, Duration: 30 * time.Minute, Warmup: 2 * time.Minute, Policies: names})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		r := res[n]
		if r == nil {
			t.Fatalf("no result for %s", n)
		}
		if r.LostNodes != 0 {
			t.Errorf("%s: %d lost nodes", n, r.LostNodes)
		}
		if len(r.Series.DemandReplicas) != 30*60 {
			t.Errorf("%s: %d samples, want one per measured second", n, len(r.Series.DemandReplicas))
		}
		if r.ReplicaHours <= 0 || r.MachineHours <= 0 || r.RequestsTotal <= 0 {
			t.Errorf("%s: empty totals %+v", n, r)
		}
	}
	if sp := res[Baseline].ElasticSpeedup; sp.Replicas != 1 || sp.Machines != 1 {
		t.Errorf("baseline speedup %+v, want 1", sp)
	}
	if res["oracle"].ReplicaHours >= res["static-peak"].ReplicaHours {
		t.Errorf("oracle %.1f replica-hours, static-peak %.1f: the oracle must cost less", res["oracle"].ReplicaHours, res["static-peak"].ReplicaHours)
	}
	// hoist-reactive sets the policy whatever the descriptor says (here the
	// same one, written out).
	if res["hoist-reactive"].ReplicaHours != res["hoist-descriptor"].ReplicaHours {
		t.Errorf("hoist-reactive %.3f vs hoist-descriptor %.3f replica-hours with the same policy written out", res["hoist-reactive"].ReplicaHours, res["hoist-descriptor"].ReplicaHours)
	}
	if _, err := Run(context.Background(), Spec{Config: cfg, Load: load, Duration: time.Minute, Policies: []string{"kubernetes"}}); err == nil {
		t.Error("an unknown policy was accepted")
	}
}

// fakeCluster records the calls a controller makes; nodes hold no tasks.
type fakeCluster struct {
	Cluster // nil: calls not listed here panic
	calls   []string
}

func (f *fakeCluster) State(context.Context) (cluster.State, error) { return cluster.State{}, nil }
func (f *fakeCluster) DrainStopFirst(_ context.Context, id string) error {
	f.calls = append(f.calls, "drain "+id)
	return nil
}
func (f *fakeCluster) RemoveNode(_ context.Context, id string) error {
	f.calls = append(f.calls, "remove "+id)
	return nil
}

type fakeProvider struct{ f *fakeCluster }

func (p fakeProvider) Create(_ context.Context, name string) (cluster.Machine, error) {
	p.f.calls = append(p.f.calls, "create "+name)
	return cluster.Machine{Name: name}, nil
}
func (p fakeProvider) Destroy(_ context.Context, name string) error {
	p.f.calls = append(p.f.calls, "destroy "+name)
	return nil
}
func (p fakeProvider) List(context.Context) ([]cluster.Machine, error) { return nil, nil }

// The CA's scale-down delay after a scale-up holds even for a node that has
// been unneeded for longer than the unneeded time.
func TestCANoScaleDownWithin10MinOfScaleUp(t *testing.T) {
	cfg := testConfig(t)
	fc := &fakeCluster{}
	env := &Env{Cluster: fc, Provider: fakeProvider{fc}, Config: cfg, App: &cfg.Apps[0], Pool: &cfg.Pools[0]}
	ca := &autoscaler{f: newFleet(env, "ca"), unneeded: map[string]time.Time{}}
	shape := cluster.Resources{MilliCPU: 4000, Memory: 8 << 30}
	one := cluster.Resources{MilliCPU: 1000, Memory: 1 << 30}
	node := func(id string, tasks int) nodeView {
		return nodeView{Node: cluster.Node{ID: id, Machine: id, Pool: "workers", Ready: true, Availability: cluster.Active, Capacity: shape},
			Tasks: tasks, Running: tasks, Reserved: cluster.Resources{MilliCPU: int64(tasks) * one.MilliCPU, Memory: int64(tasks) * one.Memory}}
	}
	quiet := func() *view { return &view{Nodes: []nodeView{node("a", 0), node("b", 3)}, Exists: 2} }
	t0 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration, v *view) {
		t.Helper()
		if err := ca.step(context.Background(), t0.Add(d), v); err != nil {
			t.Fatal(err)
		}
	}
	// Node a is empty, hence unneeded, from t0.
	at(0, quiet())
	at(9*time.Minute, quiet())
	// At 9m30s a task waits for room (the scheduler says so; CA takes its
	// word): CA orders a machine.
	big := quiet()
	big.Pending = []cluster.Task{{ID: "p", State: cluster.TaskPending, Reservation: one}}
	at(9*time.Minute+30*time.Second, big)
	if len(fc.calls) != 1 || fc.calls[0] != "create workers-ca-1" {
		t.Fatalf("calls %v, want one machine created", fc.calls)
	}
	// Node a has now been unneeded for over 10 minutes, but the scale-up was
	// less than 10 minutes ago: it stays.
	for d := 10 * time.Minute; d < 19*time.Minute+30*time.Second; d += CAScan {
		at(d, quiet())
	}
	if len(fc.calls) != 1 {
		t.Fatalf("calls %v within 10 min of the scale-up, want none", fc.calls[1:])
	}
	at(19*time.Minute+30*time.Second, quiet())
	want := []string{"drain a", "remove a", "destroy a"}
	if got := fc.calls[1:]; len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("calls after the delay %v, want %v", got, want)
	}
}

// dailyRamp is 100 req/s but for a rise to 900 at 10:00 over 15 minutes,
// held until 14:00, every day.
type dailyRamp struct{}

func (dailyRamp) Rate(t time.Duration) float64 {
	h := math.Mod(t.Hours(), 24)
	switch {
	case h < 10 || h >= 14:
		return 100
	case h < 10.25:
		return 100 + 800*(h-10)/0.25
	default:
		return 900
	}
}
func (dailyRamp) Length() time.Duration { return 0 }

// pendingTicker counts, before each of hoist's ticks, the tasks the
// cluster says wait for resources, as task-seconds per day.
type pendingTicker struct {
	Ticker
	c     Cluster
	start time.Time
	clock interface{ Now() time.Time }
	step  time.Duration
	days  map[int]float64
}

func (p *pendingTicker) Tick(ctx context.Context) (*engine.Plan, error) {
	if st, err := p.c.State(ctx); err == nil {
		n := 0
		for _, tk := range st.Tasks {
			if tk.PendingForResources() {
				n++
			}
		}
		p.days[int(p.clock.Now().Sub(p.start)/(24*time.Hour))] += float64(n) * p.step.Seconds()
	}
	return p.Ticker.Tick(ctx)
}

// Once hoist's predictive default has seen the ramp, machines are ordered
// ahead of it: issue 13's figure, the tasks pending for resources during
// the third day's ramp are at most a tenth of the first's (task-seconds,
// sampled at each of hoist's ticks; the load is flat but for the ramp).
func TestHoistPredictiveOrdersMachinesAheadOfARepeatedRamp(t *testing.T) {
	cfg := testConfig(t)
	var pt *pendingTicker
	res, err := Run(context.Background(), Spec{Config: cfg, Load: dailyRamp{}, Duration: 3 * 24 * time.Hour, Warmup: time.Minute, Policies: []string{"hoist"},
		instrument: func(_ string, env *Env) {
			pt = &pendingTicker{Ticker: env.Engine, c: env.Cluster, start: env.Start, clock: env.Cluster.(*sim.Cluster), step: cfg.Interval(), days: map[int]float64{}}
			env.Engine = pt
		}})
	if err != nil {
		t.Fatal(err)
	}
	s := res["hoist"].Series
	short := func(day int) (n int) {
		from := (day*24 + 10) * 3600
		for k := from - 600; k < from+3600; k++ {
			if s.SupplyMachines[k] < s.DemandMachines[k] {
				n++
			}
		}
		return n
	}
	first, third := pt.days[0], pt.days[2]
	t.Logf("task-seconds pending for resources: day 1 %.0f, day 2 %.0f, day 3 %.0f; seconds short of machines in the ramp: day 1 %d, day 3 %d",
		first, pt.days[1], third, short(0), short(2))
	if first == 0 {
		t.Fatal("no task waited for resources on the first day: the test shows nothing")
	}
	if third > first/10 {
		t.Errorf("day 3's ramp: %.0f task-seconds pending for resources, day 1's %.0f: want at most a tenth", third, first)
	}
}
