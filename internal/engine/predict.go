package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/hoist/hoist/internal/capacity"
	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/policy"
)

// What the engine adds around policy.Predict (predictive policies): the
// observations it fetches, each pool's measured order-to-ready time (the
// machines' reaction horizon), and the replicas the forecast needs ahead,
// which the machine decision orders room for and keeps.

// bootSamples is how many recent order-to-ready times a pool remembers; the
// horizon is the longest of them (a slow boot is the one that hurts).
const bootSamples = 8

// observePredictive fetches what a predictive policy learns from: request
// rate per replica, CPU and p95 latency, over one tick. Its sample is the
// rate per replica (what events show); without rate or CPU it has no data.
func (e *Engine) observePredictive(ctx context.Context, app string, win time.Duration) (Sample, policy.Observation) {
	var o policy.Observation
	var errs []error
	get := func(metric string, v *float64, ok *bool) {
		x, err := e.d.Metrics.Value(ctx, MetricQuery{App: app, Metric: metric, Window: win})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", metric, err))
			return
		}
		*v, *ok = x, true
	}
	get("rps", &o.RPS, &o.HasRPS)
	get("cpu", &o.CPU, &o.HasCPU)
	get("latency_p95", &o.P95, &o.HasP95)
	o.P95 /= 1000 // the built-in metric is in ms
	if !o.HasRPS || !o.HasCPU {
		return Sample{Err: errors.Join(errs...).Error()}, o
	}
	return Sample{Value: o.RPS, OK: true}, o
}

// learnBoots records the order-to-ready time of machines this decision saw
// become ready.
func learnBoots(acts []MachineAction, ix *index, m *memory, now time.Time) {
	for _, a := range acts {
		if a.To != cluster.PhaseReady || (a.From != cluster.PhaseOrdered && a.From != cluster.PhaseBooting) || a.Action != MActObserve {
			continue
		}
		r := ix.records[a.Machine]
		if r == nil || r.OrderedAt.IsZero() || now.Before(r.OrderedAt) {
			continue
		}
		b := append(m.boots[r.Pool], now.Sub(r.OrderedAt))
		if len(b) > bootSamples {
			b = b[len(b)-bootSamples:]
		}
		m.boots[r.Pool] = b
	}
}

// bootTime is the pool's measured order-to-ready time (false before any boot
// was seen).
func (m *memory) bootTime(pool string) (time.Duration, bool) {
	var longest time.Duration
	for _, d := range m.boots[pool] {
		longest = max(longest, d)
	}
	return longest, len(m.boots[pool]) > 0
}

// predictVote runs predictive policy i of app: the vote, and the replicas
// the forecast needs within the machines' horizon.
func predictVote(cfg *config.Config, app *config.App, i int, in policy.Input, s *Snapshot, ix *index, am *appMemory, m *memory) (policy.Recommendation, int, int, string, *AppForecast) {
	p := &app.Policies[i]
	tick := cfg.Interval()
	// A new replica serves after its container starts (seconds) and the
	// next tick: two ticks cover both. A new machine adds its boot.
	short := 2 * tick
	long := short
	for _, name := range app.Pools {
		if b, ok := m.bootTime(name); ok {
			long = max(long, b+short)
		}
	}
	set := policy.PredictSettings{SLO: app.SLO.LatencyP95.D(), FallbackCPU: p.Target, ForecastOnly: p.ForecastOnly, SeasonBucket: p.SeasonBucket.D()}
	for _, d := range p.Seasons {
		set.Seasons = append(set.Seasons, d.D())
	}
	if p.ScaleDown != nil && p.ScaleDown.Stabilization != nil {
		set.DownWindow = p.ScaleDown.Stabilization.D()
	}
	if p.KeepWindow > 0 {
		set.KeepWindow = p.KeepWindow.D()
	}
	switch b := app.SLO.Budget; {
	case b == nil: // the default
	case *b == 0:
		set.Budget = -1 // written 0: no adaptation
	default:
		set.Budget = *b
	}
	st := &am.predict[i]
	was := st.Mode
	room, known := appRoom(cfg, app, ix)
	pr := policy.Predict(set, st, policy.PredictInput{Input: in, Obs: s.Observed[app.Name], Step: tick, Short: short, Long: long, Room: room, RoomKnown: known})
	notice := ""
	if st.Mode != was && st.Mode != "" && (was != "" || st.Mode == "reactive") {
		notice = fmt.Sprintf("%s predictive: now %s", p.Label(i), st.Mode)
		if st.ModeWhy != "" {
			notice += " (" + st.ModeWhy + ")"
		}
	}
	return pr.Recommendation, pr.Ahead, max(pr.Keep, pr.Ahead), notice, appForecast(pr)
}

// appRoom is how many tasks of app its pool holds without a new order: those
// placed, plus what fits in the pool's room (poolBins: its schedulable nodes
// in service and its machines ordered or booting). With other apps on the
// pool the free room is shared, so this is an upper bound. Unknown (false)
// without a pool or a reservation (no machine count follows from replicas).
func appRoom(cfg *config.Config, app *config.App, ix *index) (int, bool) {
	pool, ok := cfg.Pool(poolFor(cfg, app, ix))
	if !ok {
		return 0, false
	}
	svc, tasks := ix.service(app.Name)
	res := reservation(app, svc)
	if res.IsZero() {
		return 0, false
	}
	room := 0
	for _, t := range tasks {
		if t.State != cluster.TaskPending {
			room++
		}
	}
	shape := cluster.Resources{MilliCPU: cluster.CPUs(pool.Machine.CPUs), Memory: int64(pool.Machine.Memory)}
	for _, b := range poolBins(ix, pool.Name, shape) {
		n := math.MaxInt
		if res.MilliCPU > 0 {
			n = min(n, int(max(b.Free.MilliCPU, 0)/res.MilliCPU))
		}
		if res.Memory > 0 {
			n = min(n, int(max(b.Free.Memory, 0)/res.Memory))
		}
		room += n
	}
	return room, true
}

// appForecast is the plan's summary of a prediction (nil before the policy
// had data).
func appForecast(pr policy.Prediction) *AppForecast {
	if pr.Mode == "" {
		return nil
	}
	f := pr.Forecast
	out := &AppForecast{Mode: pr.Mode, Why: pr.ModeWhy, Rate: pr.Rate, Point: f.Point, Upper: f.Upper,
		HorizonSeconds: pr.Horizon.Seconds(), Quantile: pr.Quantile, Coverage: f.Coverage, Errors: f.Errors,
		PerReplica: pr.Capacity.PerReplica, Learned: pr.Capacity.Learned, SizedAt: pr.SizedAt}
	if f.Errors > 0 && !math.IsInf(f.MASE, 0) && !math.IsNaN(f.MASE) {
		mase := f.MASE
		out.MASE = &mase
	}
	return out
}

// aheadItems are the tasks the forecast will need in pool beyond those the
// apps want now: room is ordered for them so machines are ready before the
// rise. An app whose scale-up the anomaly guard holds gets none.
func aheadItems(pool string, s *Snapshot, ix *index) (out []cluster.Resources, apps []string) {
	for _, v := range ix.byName {
		if v.d.Ahead == 0 || v.pool != pool {
			continue
		}
		name := v.app.Name
		if _, held := s.AnomalyHold[name]; held {
			continue
		}
		res := reservation(v.app, v.svc)
		if res.IsZero() {
			continue
		}
		for k := wantNow(v.d, v.svc, len(v.tasks)); k < v.d.Ahead; k++ {
			out = append(out, res)
			apps = append(apps, name)
		}
	}
	return out, apps
}

// wantNow is how many tasks the app's decision wants now: the tasks it has,
// or more if it scales (or deploys) to more or its service asks for more.
func wantNow(ad *AppDecision, svc *cluster.Service, tasks int) int {
	want := tasks
	if ad.Action == ActScale || ad.Action == ActDeploy {
		want = max(want, ad.Desired)
	} else if svc != nil {
		want = max(want, svc.Desired)
	}
	return want
}

// keepItems are the tasks beyond those the apps want now and the forecast's
// (aheadItems) that predictive policies keep room for at scale-in.
func keepItems(pool string, ix *index) []cluster.Resources {
	var out []cluster.Resources
	for _, v := range ix.byName {
		if v.d.Keep == 0 || v.pool != pool {
			continue
		}
		res := reservation(v.app, v.svc)
		if res.IsZero() {
			continue
		}
		for k := max(wantNow(v.d, v.svc, len(v.tasks)), v.d.Ahead); k < v.d.Keep; k++ {
			out = append(out, res)
		}
	}
	return out
}

// forecasting reports whether an app placed in pool has a predictive policy
// (its decision carries the replicas the forecast needs ahead).
func forecasting(pool string, ix *index) bool {
	for _, v := range ix.byName {
		if v.d.Ahead > 0 && v.pool == pool {
			return true
		}
	}
	return false
}

// keepFor is how many machines of the pool's shape hold, at the least, the
// tasks placed on it and extra (tasks waiting or about to be created, and
// the forecast's): scale-in never goes below it.
func keepFor(pool *config.Pool, ix *index, extra []cluster.Resources) int {
	items := append([]cluster.Resources(nil), extra...)
	for _, n := range ix.sortedNodes() {
		if n.Pool != pool.Name {
			continue
		}
		for _, t := range ix.onNode[n.ID] {
			if !t.Global && !t.Reservation.IsZero() {
				items = append(items, t.Reservation)
			}
		}
	}
	shape := cluster.Resources{MilliCPU: cluster.CPUs(pool.Machine.CPUs), Memory: int64(pool.Machine.Memory)}
	return capacity.Pack(shape, nil, items).NewMachines
}

// recordNotice reports a predictive policy's change of mode.
func (e *Engine) recordNotice(d *AppDecision, now time.Time, dry bool) {
	if d.Notice != "" {
		e.d.Events.Record(events.Event{Time: now, Kind: events.EngineInfo, App: d.App, Reason: d.Notice, DryRun: dry})
	}
}
