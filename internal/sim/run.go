package sim

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"time"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/guard"
	"github.com/hoist/hoist/internal/store"
)

// Stack is a simulated cluster with an engine driving it: what `hoist run`
// and `hoist sim` run on when the descriptor's pools are simulated.
type Stack struct {
	Cluster *Cluster
	Engine  *engine.Engine
	Events  *events.Memory
	// Guard watches every app's load for anomalies (nil when StackOptions.Guard replaced it).
	Guard *guard.Guard
}

// StackOptions configure NewStack.
type StackOptions struct {
	Options
	// EventLimit bounds the events kept in memory (default 100,000).
	EventLimit int
	Logger     *slog.Logger
	// Guard replaces the default anomaly guard (internal/guard).
	Guard engine.Guard
	// Metrics replaces the simulator as metric source (tests, Prometheus).
	Metrics engine.MetricSource
	// Recorder receives events in place of Events.
	Recorder engine.Recorder
	// Store keeps machine records (default: in memory).
	Store engine.Store
	// ExtraApps adds apps beyond the descriptor's (registered through the API).
	ExtraApps func(cluster.State) []config.App
}

// NewStack builds a simulated cluster and an engine on it.
func NewStack(cfg *config.Config, opt StackOptions) (*Stack, error) {
	c, err := New(cfg, opt.Options)
	if err != nil {
		return nil, err
	}
	if opt.EventLimit == 0 {
		opt.EventLimit = 100_000
	}
	s := &Stack{Cluster: c, Events: events.NewMemory(opt.EventLimit)}
	var st engine.Store = store.NewMemory()
	if opt.Store != nil {
		st = opt.Store
	}
	var metrics engine.MetricSource = c
	if opt.Metrics != nil {
		metrics = opt.Metrics
	}
	var rec engine.Recorder = s.Events
	if opt.Recorder != nil {
		rec = opt.Recorder
	}
	if opt.Guard == nil {
		g, err := guard.New(cfg.Controller.Anomaly, metrics, rec)
		if err != nil {
			return nil, err
		}
		s.Guard, opt.Guard = g, g
	}
	s.Engine, err = engine.New(cfg, engine.Deps{
		Orchestrator: c, Providers: c.Providers(), Metrics: metrics, Clock: c,
		Store: st, Events: rec, Logger: opt.Logger, Guard: opt.Guard, ExtraApps: opt.ExtraApps,
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Step runs one tick of the engine, then advances the cluster by the interval.
func (s *Stack) Step(ctx context.Context) (*engine.Plan, error) {
	plan, err := s.Engine.Tick(ctx)
	s.Cluster.Advance(s.Engine.Config().Interval())
	return plan, err
}

// Result is a finished simulation.
type Result struct {
	Stats Stats         `json:"stats"`
	Ticks int           `json:"ticks"`
	Wall  time.Duration `json:"wall"`
	// Violations lists every safety rule broken (bounds, double orders); empty
	// in a correct run.
	Violations []string `json:"violations,omitempty"`
}

// RunOptions configure Run.
type RunOptions struct {
	Duration time.Duration
	// Timeline receives a CSV row per tick when set.
	Timeline io.Writer
	// OnTick is called after every tick (tests check invariants there).
	OnTick func(s *Stack, p *engine.Plan)
}

// Run drives the stack on the virtual clock as fast as it goes for d.
func (s *Stack) Run(ctx context.Context, opt RunOptions) (*Result, error) {
	start := time.Now()
	cfg := s.Engine.Config()
	var tw *timeline
	if opt.Timeline != nil {
		tw = newTimeline(opt.Timeline, cfg)
	}
	res := &Result{}
	check := newSafety(cfg)
	end := s.Cluster.Now().Add(opt.Duration)
	for s.Cluster.Now().Before(end) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		plan, err := s.Engine.Tick(ctx)
		if err != nil {
			return nil, fmt.Errorf("tick at %s: %w", s.Cluster.Now().Format(time.RFC3339), err)
		}
		res.Ticks++
		check.after(s, plan)
		if tw != nil {
			tw.row(s)
		}
		if opt.OnTick != nil {
			opt.OnTick(s, plan)
		}
		s.Cluster.Advance(cfg.Interval())
	}
	if tw != nil {
		if err := tw.flush(); err != nil {
			return nil, fmt.Errorf("timeline: %w", err)
		}
	}
	res.Stats = s.Cluster.Stats()
	res.Wall = time.Since(start)
	res.Violations = check.violations
	if res.Stats.LostNodes > 0 {
		res.Violations = append(res.Violations, fmt.Sprintf("%d machines destroyed while their node was in the cluster", res.Stats.LostNodes))
	}
	return res, nil
}

// safety checks the loop's promises after every tick: replicas within bounds
// (unless a schedule changed them), machines within the pool's bounds, and no
// machine name ordered twice.
type safety struct {
	cfg        *config.Config
	ordered    map[string]bool
	lastSeq    uint64
	violations []string
}

func newSafety(cfg *config.Config) *safety { return &safety{cfg: cfg, ordered: map[string]bool{}} }

func (c *safety) after(s *Stack, p *engine.Plan) {
	for _, d := range p.Apps {
		if d.Action == engine.ActNone || d.Action == engine.ActHold {
			continue
		}
		if d.Desired < d.Min || d.Desired > d.Max {
			c.violations = append(c.violations, fmt.Sprintf("%s: app %s desired %d outside %d..%d", p.Time.Format(time.RFC3339), d.App, d.Desired, d.Min, d.Max))
		}
	}
	for _, pc := range c.cfg.Pools {
		if n := s.Engine.ExistingIn(pc.Name); n > pc.Max {
			c.violations = append(c.violations, fmt.Sprintf("%s: pool %s has %d machines, max %d", p.Time.Format(time.RFC3339), pc.Name, n, pc.Max))
		}
	}
	for _, e := range s.Events.List(events.Filter{AfterSeq: c.lastSeq}) {
		c.lastSeq = e.Seq
		if e.Kind != events.MachineOrdered {
			continue
		}
		if c.ordered[e.Machine] {
			c.violations = append(c.violations, fmt.Sprintf("%s: machine %s ordered twice", p.Time.Format(time.RFC3339), e.Machine))
		}
		c.ordered[e.Machine] = true
	}
}

// timeline writes the per-tick CSV.
type timeline struct {
	w     *csv.Writer
	apps  []string
	pools []string
}

func newTimeline(w io.Writer, cfg *config.Config) *timeline {
	t := &timeline{w: csv.NewWriter(w)}
	head := []string{"time", "seconds"}
	for _, a := range cfg.Apps {
		t.apps = append(t.apps, a.Name)
		for _, col := range []string{"offered_rps", "served_rps", "dropped_rps", "p95_ms", "cpu_pct", "desired", "running", "pending", "demand"} {
			head = append(head, a.Name+"."+col)
		}
	}
	for _, p := range cfg.Pools {
		t.pools = append(t.pools, p.Name)
		for _, col := range []string{"ready", "booting", "draining", "reserved_cpu_pct"} {
			head = append(head, p.Name+"."+col)
		}
	}
	_ = t.w.Write(head)
	return t
}

func (t *timeline) row(s *Stack) {
	c := s.Cluster
	now := c.Now()
	rec := []string{now.UTC().Format(time.RFC3339), strconv.FormatFloat(now.Sub(c.Start()).Seconds(), 'f', 0, 64)}
	f := func(v float64) string {
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return ""
		}
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	for _, a := range t.apps {
		st := c.App(a)
		rec = append(rec, f(st.Offered), f(st.Served), f(st.Dropped), f(st.P95*1000), f(st.CPU),
			strconv.Itoa(st.Desired), strconv.Itoa(st.Running), strconv.Itoa(st.Pending), strconv.Itoa(st.Demand))
	}
	for _, p := range t.pools {
		st := c.Pool(p)
		share := 0.0
		if st.Capacity.MilliCPU > 0 {
			share = 100 * float64(st.Reserved.MilliCPU) / float64(st.Capacity.MilliCPU)
		}
		rec = append(rec, strconv.Itoa(st.Ready), strconv.Itoa(st.Booting), strconv.Itoa(st.Draining), f(share))
	}
	_ = t.w.Write(rec)
}

func (t *timeline) flush() error {
	t.w.Flush()
	return t.w.Error()
}
