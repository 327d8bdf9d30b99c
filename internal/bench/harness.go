// Package bench is hoist's benchmark: hoist against the field's autoscaling
// policies on the same simulated cluster, the same traces and the same machine
// boot time, scored with the SPEC Research Group's elasticity metrics.
//
// The reference policies (hpa-ca, micado, elascale, static-peak, oracle) are
// reimplemented from their documented behaviour (params.go lists every figure
// and its source). Each drives the simulated cluster through the same seams
// hoist's engine uses on Docker Swarm, on its own loop on the virtual clock.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/hoist/hoist/internal/capacity"
	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/sim"
	"github.com/hoist/hoist/internal/workload"
)

// Cluster is what a controller drives: the seams hoist's engine drives too.
type Cluster interface {
	State(ctx context.Context) (cluster.State, error)
	Scale(ctx context.Context, service string, replicas int) error
	Deploy(ctx context.Context, app config.App, replicas int) error
	// DrainStopFirst drains a node as Swarm's availability drain and
	// Kubernetes' eviction do: its tasks stop, then start elsewhere (hoist's
	// engine drains make-before-break, through Drain).
	DrainStopFirst(ctx context.Context, nodeID string) error
	RemoveNode(ctx context.Context, nodeID string) error
	Value(ctx context.Context, q engine.MetricQuery) (float64, error)
}

// Ticker is hoist's engine as the harness sees it.
type Ticker interface {
	Tick(ctx context.Context) (*engine.Plan, error)
}

// Env is what a controller works with.
type Env struct {
	Cluster  Cluster
	Provider engine.Provider // the pool's machines
	Engine   Ticker          // hoist's engine on the same cluster (only hoist ticks it)
	Config   *config.Config
	App      *config.App
	Pool     *config.Pool
	// Demand is the whole run's demand; only the oracle and static-peak may look ahead.
	Demand *Demand
	Start  time.Time
	Log    *slog.Logger
}

// Controller is one autoscaling policy. Step is called once per simulated
// second, before the cluster advances; a controller keeps its own loop period.
type Controller interface {
	Step(ctx context.Context, now time.Time) error
}

// Policy is a named autoscaler the harness can run.
type Policy struct {
	Name string
	// Doc is one line for the report.
	Doc string
	// Prepare may change the descriptor before the cluster is built (initial
	// machines, hoist's policy).
	Prepare func(cfg *config.Config, d *Demand)
	New     func(env *Env) (Controller, error)
}

// Policies are the ones the harness knows, in report order.
func Policies() []Policy {
	return []Policy{hoistPolicy(), hoistReactivePolicy(), hpaCAPolicy(), micadoPolicy(), elascalePolicy(), staticPeakPolicy(), oraclePolicy(), hoistDescriptorPolicy()}
}

// DefaultPolicies are what `hoist bench` runs when none are named.
var DefaultPolicies = []string{"hoist", "hoist-reactive", "hpa-ca", "micado", "elascale", "static-peak", "oracle"}

// ErrUnknownPolicy is returned for a policy name the harness does not know.
var ErrUnknownPolicy = errors.New("unknown policy")

// ErrShape is returned for a descriptor the benchmark cannot compare on.
var ErrShape = errors.New("the benchmark needs a descriptor with exactly one app on exactly one pool")

// Spec is one benchmark.
type Spec struct {
	Config *config.Config
	// Load is the app's offered load (requests/s) from the start of the measured span.
	Load     workload.Source
	Duration time.Duration // measured span
	// Warmup replays the load's first value before the measured span, so every
	// policy starts measured time from its own steady state (default 10m).
	Warmup   time.Duration
	Policies []string
	Logger   *slog.Logger
	// instrument, in tests, wraps a run's seams before its controller is made.
	instrument func(policy string, env *Env)
}

// Series are a run's per-second samples over the measured span.
type Series struct {
	Step           time.Duration
	Offered        []float32 // requests/s
	DemandReplicas []int32
	SupplyReplicas []int32
	DemandMachines []int32
	SupplyMachines []int32
	// ExistingMachines counts machines that exist (booting and draining too): what is paid for.
	ExistingMachines []int32
}

// Result is one policy's figures.
type Result struct {
	Policy   string     `json:"policy"`
	Replicas Elasticity `json:"replicas"`
	Machines Elasticity `json:"machines"`
	// ElasticSpeedup against hpa-ca (1 for hpa-ca itself; 0 when it was not
	// run; +Inf or NaN where a metric is exactly 0, see Speedup).
	ElasticSpeedup Speedups `json:"elastic_speedup"`
	// SLOViolationSeconds: seconds with p95 latency over the SLO or more than 0.1 % dropped.
	SLOViolationSeconds float64 `json:"slo_violation_seconds"`
	// BadRequestShare: share of offered requests dropped or served slower than the SLO.
	BadRequestShare float64 `json:"bad_request_share"`
	RequestsTotal   float64 `json:"requests_total"`
	ReplicaHours    float64 `json:"replica_hours"`
	MachineHours    float64 `json:"machine_hours"`
	ScalingActions  Counts  `json:"scaling_actions"`
	MachinesCreated int     `json:"machines_created"`
	PendingTaskSec  float64 `json:"pending_task_seconds"`
	// LostNodes counts machines destroyed with their node still in the cluster: must be 0.
	LostNodes   int     `json:"lost_nodes"`
	WallSeconds float64 `json:"wall_seconds"`
	Series      *Series `json:"-"`
}

// Speedups are the elastic speedups of replicas and machines.
type Speedups struct {
	Replicas Ratio `json:"replicas"`
	Machines Ratio `json:"machines"`
}

// Counts are scaling actions: replica changes (Scale calls that changed the
// count) and machine changes (machines created or destroyed).
type Counts struct {
	Replicas int `json:"replicas"`
	Machines int `json:"machines"`
}

// Baseline is the policy the elastic speedup is measured against.
const Baseline = "hpa-ca"

// Run runs every policy of spec and scores it.
func Run(ctx context.Context, spec Spec) (map[string]*Result, error) {
	if spec.Warmup == 0 {
		spec.Warmup = DefaultWarmup
	}
	if spec.Logger == nil {
		spec.Logger = slog.New(slog.DiscardHandler)
	}
	if len(spec.Policies) == 0 {
		spec.Policies = DefaultPolicies
	}
	if spec.Load == nil {
		return nil, errors.New("bench: no load")
	}
	if spec.Duration < time.Second {
		return nil, fmt.Errorf("bench: duration %s is too short", spec.Duration)
	}
	app, pool, err := shape(spec.Config)
	if err != nil {
		return nil, err
	}
	byName := map[string]Policy{}
	for _, p := range Policies() {
		byName[p.Name] = p
	}
	for _, n := range spec.Policies {
		if _, ok := byName[n]; !ok {
			return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknownPolicy, n, strings.Join(names(), ", "))
		}
	}
	load := shifted{src: spec.Load, by: spec.Warmup}
	demand, err := NewDemand(app, pool, load, spec.Warmup+spec.Duration)
	if err != nil {
		return nil, err
	}
	out := map[string]*Result{}
	for _, n := range spec.Policies {
		spec.Logger.Info("bench: running", "policy", n)
		r, err := runOne(ctx, spec, byName[n], demand, load)
		if err != nil {
			return nil, fmt.Errorf("policy %s: %w", n, err)
		}
		out[n] = r
	}
	if base, ok := out[Baseline]; ok {
		for _, r := range out {
			r.ElasticSpeedup = Speedups{Speedup(base.Replicas, r.Replicas), Speedup(base.Machines, r.Machines)}
		}
	}
	return out, nil
}

func names() []string {
	var out []string
	for _, p := range Policies() {
		out = append(out, p.Name)
	}
	return out
}

// shape returns the one app and its one pool.
func shape(cfg *config.Config) (*config.App, *config.Pool, error) {
	if len(cfg.Apps) != 1 || len(cfg.Pools) != 1 {
		return nil, nil, fmt.Errorf("%w (it has %d apps, %d pools)", ErrShape, len(cfg.Apps), len(cfg.Pools))
	}
	app, pool := &cfg.Apps[0], &cfg.Pools[0]
	if len(app.Pools) != 1 || app.Pools[0] != pool.Name {
		return nil, nil, fmt.Errorf("%w (app %s is on pools %v)", ErrShape, app.Name, app.Pools)
	}
	if pool.Provider != "sim" {
		return nil, nil, fmt.Errorf("%w: pool %s is not simulated", ErrShape, pool.Name)
	}
	if app.Resources.Reservations.CPUs <= 0 && app.Resources.Reservations.Memory <= 0 {
		return nil, nil, fmt.Errorf("%w: app %s needs reservations, or no machine count can follow from its replicas", ErrShape, app.Name)
	}
	return app, pool, nil
}

// shifted replays the source's first value during the warm-up.
type shifted struct {
	src workload.Source
	by  time.Duration
}

func (s shifted) Rate(t time.Duration) float64 { return s.src.Rate(max(0, t-s.by)) }
func (s shifted) Length() time.Duration {
	if l := s.src.Length(); l > 0 {
		return l + s.by
	}
	return 0
}

// cloneConfig deep-copies a descriptor (each policy changes its own copy).
func cloneConfig(cfg *config.Config) (*config.Config, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("copy descriptor: %w", err)
	}
	var out config.Config
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("copy descriptor: %w", err)
	}
	return &out, nil
}

func runOne(ctx context.Context, spec Spec, p Policy, demand *Demand, load workload.Source) (*Result, error) {
	wall := time.Now()
	cfg, err := cloneConfig(spec.Config)
	if err != nil {
		return nil, err
	}
	if p.Prepare != nil {
		p.Prepare(cfg, demand)
	}
	app, pool := &cfg.Apps[0], &cfg.Pools[0]
	stack, err := sim.NewStack(cfg, sim.StackOptions{
		Options:    sim.Options{Loads: map[string]workload.Source{app.Name: load}},
		EventLimit: 10_000,
	})
	if err != nil {
		return nil, err
	}
	c := stack.Cluster
	env := &Env{Cluster: c, Provider: c.Provider(pool.Name), Engine: stack.Engine, Config: cfg, App: app, Pool: pool,
		Demand: demand, Start: c.Now(), Log: spec.Logger.With("policy", p.Name)}
	if spec.instrument != nil {
		spec.instrument(p.Name, env)
	}
	ctl, err := p.New(env)
	if err != nil {
		return nil, err
	}
	warm := int(spec.Warmup / time.Second)
	total := warm + int(spec.Duration/time.Second)
	n := total - warm
	ser := &Series{Step: time.Second, Offered: make([]float32, 0, n),
		DemandReplicas: make([]int32, 0, n), SupplyReplicas: make([]int32, 0, n),
		DemandMachines: make([]int32, 0, n), SupplyMachines: make([]int32, 0, n), ExistingMachines: make([]int32, 0, n)}
	var base sim.Stats
	created0 := 0
	for k := 1; k <= total; k++ {
		if k%3600 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		if err := ctl.Step(ctx, c.Now()); err != nil {
			return nil, fmt.Errorf("step at %s: %w", c.Now().Sub(env.Start), err)
		}
		c.Advance(time.Second)
		if k == warm {
			base = c.Stats()
		}
		if k <= warm {
			continue
		}
		o := c.Observe(app.Name, pool.Name)
		as, ps := o, o.Pool
		ser.Offered = append(ser.Offered, float32(as.Offered))
		ser.DemandReplicas = append(ser.DemandReplicas, int32(demand.Replicas[k]))
		ser.SupplyReplicas = append(ser.SupplyReplicas, int32(as.Running))
		ser.DemandMachines = append(ser.DemandMachines, int32(demand.Machines[k]))
		ser.SupplyMachines = append(ser.SupplyMachines, int32(ps.Ready))
		ser.ExistingMachines = append(ser.ExistingMachines, int32(ps.Ready+ps.Booting+ps.Draining+ps.Down))
	}
	if warm == 0 {
		base = sim.Stats{Apps: map[string]*sim.AppStats{}, Pools: map[string]*sim.PoolStats{}}
		created0 = pool.Min // the initial machines are not scaling actions
	}
	end := c.Stats()
	r := &Result{Policy: p.Name, Series: ser, LostNodes: end.LostNodes}
	if r.Replicas, err = Measure(ser.DemandReplicas, ser.SupplyReplicas, time.Second); err != nil {
		return nil, err
	}
	if r.Machines, err = Measure(ser.DemandMachines, ser.SupplyMachines, time.Second); err != nil {
		return nil, err
	}
	a0, a1 := orZeroApp(base.Apps[app.Name]), orZeroApp(end.Apps[app.Name])
	p0, p1 := orZeroPool(base.Pools[pool.Name]), orZeroPool(end.Pools[pool.Name])
	r.SLOViolationSeconds = a1.SLOViolationSeconds - a0.SLOViolationSeconds
	r.RequestsTotal = a1.RequestsTotal - a0.RequestsTotal
	if r.RequestsTotal > 0 {
		bad := (a1.RequestsDropped - a0.RequestsDropped) + (a1.RequestsOverSLO - a0.RequestsOverSLO)
		r.BadRequestShare = bad / r.RequestsTotal
	}
	r.ReplicaHours = (a1.ReplicaSeconds - a0.ReplicaSeconds) / 3600
	r.MachineHours = (p1.NodeSeconds - p0.NodeSeconds) / 3600
	r.MachinesCreated = p1.MachinesCreated - p0.MachinesCreated - created0
	r.ScalingActions = Counts{
		Replicas: (a1.ScaleUps + a1.ScaleDowns) - (a0.ScaleUps + a0.ScaleDowns),
		Machines: r.MachinesCreated + p1.MachinesDestroyed - p0.MachinesDestroyed,
	}
	r.PendingTaskSec = end.PendingTaskSeconds - base.PendingTaskSeconds
	r.WallSeconds = time.Since(wall).Seconds()
	return r, nil
}

func orZeroApp(a *sim.AppStats) sim.AppStats {
	if a == nil {
		return sim.AppStats{}
	}
	return *a
}

func orZeroPool(p *sim.PoolStats) sim.PoolStats {
	if p == nil {
		return sim.PoolStats{}
	}
	return *p
}

// Demand is the fewest replicas and machines that meet the SLO, per second
// of the whole run (index k: the load at k seconds from the start).
type Demand struct {
	Replicas []int
	Machines []int
	// PerMachine is how many replicas one machine of the pool holds.
	PerMachine int
	shape      cluster.Resources
	res        cluster.Resources
	packMemo   map[int]int
}

// NewDemand computes the demand of app on pool under load for d.
//
// Replicas: the simulator's own rule (sim.MinReplicas: p95 latency within the
// SLO and at most 0.1 % dropped) at the offered rate. Machines: those replicas'
// reservations bin-packed onto the pool's machine shape.
func NewDemand(app *config.App, pool *config.Pool, load workload.Source, d time.Duration) (*Demand, error) {
	m := newDemandModel(app)
	dm := &Demand{
		shape:    cluster.Resources{MilliCPU: cluster.CPUs(pool.Machine.CPUs), Memory: int64(pool.Machine.Memory)},
		res:      cluster.Resources{MilliCPU: cluster.CPUs(app.Resources.Reservations.CPUs), Memory: int64(app.Resources.Reservations.Memory)},
		packMemo: map[int]int{},
	}
	if !dm.shape.Fits(dm.res) {
		return nil, fmt.Errorf("%w: a replica of %s (%s) fits no machine of %s (%s)", ErrShape, app.Name, dm.res, pool.Name, dm.shape)
	}
	dm.PerMachine = len(capacity.Pack(dm.shape, []capacity.Bin{{ID: "one", Free: dm.shape}}, repeat(dm.res, 1000)).Placed)
	n := int(d/time.Second) + 1
	dm.Replicas = make([]int, n)
	dm.Machines = make([]int, n)
	for k := 0; k < n; k++ {
		r := m.replicas(load.Rate(time.Duration(k) * time.Second))
		dm.Replicas[k] = r
		dm.Machines[k] = dm.MachinesFor(r)
	}
	return dm, nil
}

// MachinesFor bin-packs r replicas onto the pool's shape.
func (d *Demand) MachinesFor(r int) int {
	if r <= 0 {
		return 0
	}
	if m, ok := d.packMemo[r]; ok {
		return m
	}
	m := capacity.Pack(d.shape, nil, repeat(d.res, r)).NewMachines
	d.packMemo[r] = m
	return m
}

// MaxReplicas is the largest replica demand over seconds [from, to] (clamped to the run).
func (d *Demand) MaxReplicas(from, to int) int {
	from, to = max(from, 0), min(to, len(d.Replicas)-1)
	best := 0
	for k := from; k <= to; k++ {
		best = max(best, d.Replicas[k])
	}
	return best
}

// Peak is the largest replica demand of the run.
func (d *Demand) Peak() int { return d.MaxReplicas(0, len(d.Replicas)-1) }

func repeat(r cluster.Resources, n int) []cluster.Resources {
	out := make([]cluster.Resources, n)
	for i := range out {
		out[i] = r
	}
	return out
}

// demandModel mirrors the simulator's demand: sim.MinReplicas with the app's
// service rate, queue and SLO, and the simulator's 0.1 % drop threshold,
// at the rate rounded up to 0.1 req/s (memoised). Demand grows with the rate,
// so rounding up never understates it; the same function serves every policy.
type demandModel struct {
	mu, slo float64
	queue   int
	memo    map[int]int
}

func newDemandModel(app *config.App) *demandModel {
	cores := 1.0
	switch r := app.Resources; {
	case r.Limits.CPUs > 0:
		cores = r.Limits.CPUs
	case r.Reservations.CPUs > 0:
		cores = r.Reservations.CPUs
	}
	cpr, queue := config.DefaultCPUPerRequest.Seconds(), config.DefaultQueue
	if app.Load != nil {
		if app.Load.CPUPerRequest > 0 {
			cpr = app.Load.CPUPerRequest.D().Seconds()
		}
		if app.Load.Queue > 0 {
			queue = app.Load.Queue
		}
	}
	slo := app.SLO.LatencyP95.D().Seconds()
	if slo == 0 {
		slo = config.DefaultLatencySLO.Seconds()
	}
	return &demandModel{mu: cores / cpr, slo: slo, queue: queue, memo: map[int]int{}}
}

func (m *demandModel) replicas(rate float64) int {
	key := int(math.Ceil(rate*10 - 1e-9))
	if n, ok := m.memo[key]; ok {
		return n
	}
	n := sim.MinReplicas(float64(key)/10, m.mu, m.queue, m.slo, 0.001)
	m.memo[key] = n
	return n
}

// sortedKeys returns a map's keys in order (report output is deterministic).
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
