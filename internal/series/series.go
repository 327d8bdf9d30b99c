// Package series keeps, for the dashboard, every app's and pool's figures
// after each tick in bounded rings, so a page opened late still draws the
// history rather than only what the browser happened to see.
package series

import (
	"encoding/json"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/engine"
)

// DefaultPoints is how many samples each app and pool keeps: four hours of
// ticks at 10 s. 200 apps take about 16 MB.
const DefaultPoints = 1440

// Load is what only the simulator knows of an app: the load offered to it.
type Load struct {
	Offered float64 // requests/s
	P95     float64 // seconds
	CPU     float64 // percent of the CPU limit, per running replica
	// NetRx and NetTx are the bytes/s the app's tasks receive and send, all
	// together (NaN: not known).
	NetRx, NetTx float64
}

// LoadFunc reports an app's load; nil outside the simulator.
type LoadFunc func(app string) (Load, bool)

// Tick is what one sample is made of: Engine.Last, Engine.Machines and, on the
// simulator, its load.
type Tick struct {
	Plan     *engine.Plan
	Snapshot *engine.Snapshot
	Machines []cluster.MachineRecord
	Load     LoadFunc
}

// appRow is one app sample, compact: 200 apps x 1440 samples stay small.
type appRow struct {
	t                                         int64 // unix ms
	desired, running, pending, starting       int32
	min, max, wanted                          int32 // wanted < 0: no policy had data
	value, target, upper, lower, offered, p95 float32
	cpu                                       float32
	rate, forecast, forecastUpper             float32 // a predictive policy's
	netRx, netTx                              float32 // bytes/s, all tasks
}

type poolRow struct {
	t                                                  int64
	ready, booting, leaving, failed, needRoom          int32
	created, destroyed                                 int32
	cpuReserved, cpuCapacity, memReserved, memCapacity float64 // cores, bytes
	cpuUsed                                            float64 // cores; NaN: not known
}

// ring is a fixed-size circular buffer.
type ring[T any] struct {
	rows []T
	next int
	full bool
	// seen is the sample count when the subject was last present.
	seen int
}

func (r *ring[T]) push(v T) {
	r.rows[r.next] = v
	r.next = (r.next + 1) % len(r.rows)
	if r.next == 0 {
		r.full = true
	}
}

// each visits the rows oldest first.
func (r *ring[T]) each(f func(*T)) {
	if r.full {
		for i := r.next; i < len(r.rows); i++ {
			f(&r.rows[i])
		}
	}
	for i := 0; i < r.next; i++ {
		f(&r.rows[i])
	}
}

func (r *ring[T]) last() (*T, bool) {
	if !r.full && r.next == 0 {
		return nil, false
	}
	return &r.rows[(r.next+len(r.rows)-1)%len(r.rows)], true
}

// Recorder holds the rings. Safe for concurrent use.
type Recorder struct {
	mu      sync.RWMutex
	points  int
	samples int
	last    time.Time
	apps    map[string]*ring[appRow]
	metric  map[string]string // app -> label of its main metric
	meta    map[string]*AppLatest
	pools   map[string]*ring[poolRow]
	// phases is each machine's phase at the last sample; created and
	// destroyed count, per pool, the machines seen ordered or destroyed since
	// the recorder started.
	phases             map[string]cluster.Phase
	created, destroyed map[string]int32
}

// New returns a recorder keeping points samples per app and pool.
func New(points int) *Recorder {
	if points <= 0 {
		points = DefaultPoints
	}
	return &Recorder{points: points, apps: map[string]*ring[appRow]{}, metric: map[string]string{},
		meta: map[string]*AppLatest{}, pools: map[string]*ring[poolRow]{}, phases: map[string]cluster.Phase{},
		created: map[string]int32{}, destroyed: map[string]int32{}}
}

// Points is how many samples each series keeps.
func (r *Recorder) Points() int { return r.points }

// Record adds one sample per app and pool of the tick, unless its plan was
// recorded already (the feeder polls Engine.Last). It reports whether it did.
func (r *Recorder) Record(tk Tick) bool {
	p, s := tk.Plan, tk.Snapshot
	if p == nil || s == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !p.Time.After(r.last) {
		return false
	}
	r.last = p.Time
	r.samples++
	ms := p.Time.UnixMilli()

	apps := map[string]*config.App{}
	cpuPct := map[string]float64{} // app -> CPU percent of the limit per replica, when known
	for i := range s.Apps {
		apps[s.Apps[i].Name] = &s.Apps[i]
	}
	starting := map[string]int32{}
	for _, t := range s.State.Tasks {
		if t.State == cluster.TaskStarting {
			starting[t.Service]++
		}
	}
	for i := range p.Apps {
		d := &p.Apps[i]
		row := appRow{t: ms, desired: int32(d.Desired), running: int32(d.Running), pending: int32(d.Pending),
			starting: starting[d.App], min: int32(d.Min), max: int32(d.Max), wanted: -1}
		nan := float32(math.NaN())
		row.value, row.target, row.upper, row.lower, row.offered, row.p95, row.cpu = nan, nan, nan, nan, nan, nan, nan
		row.rate, row.forecast, row.forecastUpper = nan, nan, nan
		row.netRx, row.netTx = nan, nan
		if f := d.Forecast; f != nil {
			row.rate, row.forecast, row.forecastUpper = float32(f.Rate), float32(f.Point), float32(f.Upper)
		}
		for _, v := range d.Votes {
			if v.HasValue && int32(v.Replicas) > row.wanted {
				row.wanted = int32(v.Replicas)
			}
		}
		label := ""
		if a := apps[d.App]; a != nil {
			if i, pol := mainPolicy(a); pol != nil {
				label = policyLabel(pol)
				switch pol.Type {
				case config.PolicyTarget:
					row.target = float32(pol.Target)
				case config.PolicyPredictive:
					// Its value is the request rate; its reference is the
					// forecast (Forecast, ForecastUpper), not a threshold.
				default:
					row.upper = float32(pol.Upper)
					if pol.Lower != nil {
						row.lower = float32(*pol.Lower)
					}
				}
				for _, v := range d.Votes {
					if v.Policy == i && v.HasValue {
						row.value = float32(v.Value)
					}
				}
			}
		}
		if tk.Load != nil {
			if l, ok := tk.Load(d.App); ok {
				row.offered, row.p95, row.cpu = float32(l.Offered), float32(l.P95*1000), float32(l.CPU)
				row.netRx, row.netTx = float32(l.NetRx), float32(l.NetTx)
				if !math.IsNaN(l.CPU) {
					cpuPct[d.App] = l.CPU
				}
			}
		}
		rg := r.apps[d.App]
		if rg == nil {
			rg = &ring[appRow]{rows: make([]appRow, r.points)}
			r.apps[d.App] = rg
		}
		rg.push(row)
		rg.seen = r.samples
		r.metric[d.App] = label
		r.meta[d.App] = &AppLatest{Action: string(d.Action), Reason: d.Reason, HoldKind: string(d.HoldKind)}
	}
	r.recordPools(tk, ms, cpuPct)
	// An app gone for a whole ring's worth of samples is forgotten.
	for name, rg := range r.apps {
		if r.samples-rg.seen > r.points {
			delete(r.apps, name)
			delete(r.metric, name)
			delete(r.meta, name)
		}
	}
	return true
}

func (r *Recorder) recordPools(tk Tick, ms int64, cpuPct map[string]float64) {
	p, s := tk.Plan, tk.Snapshot
	// Machines: count arrivals (first seen ordered or booting after the
	// first sample: adopted ones were there before) and destructions.
	phases := make(map[string]cluster.Phase, len(tk.Machines))
	first := r.samples == 1
	for _, m := range tk.Machines {
		phases[m.Name] = m.Phase
		prev, known := r.phases[m.Name]
		if !known && !first && len(m.History) > 0 &&
			(m.History[0].Phase == cluster.PhaseOrdered || m.History[0].Phase == cluster.PhaseBooting) {
			r.created[m.Pool]++
		}
		if m.Phase == cluster.PhaseDestroyed && known && prev != cluster.PhaseDestroyed {
			r.destroyed[m.Pool]++
		}
	}
	r.phases = phases
	counts := map[string]*poolRow{}
	row := func(pool string) *poolRow {
		if c := counts[pool]; c != nil {
			return c
		}
		c := &poolRow{t: ms, cpuUsed: math.NaN()}
		counts[pool] = c
		return c
	}
	for i := range p.Pools {
		row(p.Pools[i].Pool).needRoom = int32(p.Pools[i].NeedRoom)
	}
	for _, m := range tk.Machines {
		c := row(m.Pool)
		switch m.Phase {
		case cluster.PhaseOrdered, cluster.PhaseBooting:
			c.booting++
		case cluster.PhaseReady:
			c.ready++
		case cluster.PhaseSelected, cluster.PhaseDraining, cluster.PhaseDrained, cluster.PhaseRemoved:
			c.leaving++
		case cluster.PhaseFailed:
			c.failed++
		}
	}
	reserved := s.State.Reserved()
	for _, n := range s.State.Nodes {
		if n.Pool == "" || !n.Ready {
			continue
		}
		c := row(n.Pool)
		c.cpuCapacity += float64(n.Capacity.MilliCPU) / 1000
		c.memCapacity += float64(n.Capacity.Memory)
		c.cpuReserved += float64(reserved[n.ID].MilliCPU) / 1000
		c.memReserved += float64(reserved[n.ID].Memory)
	}
	// CPU used: each running task's share of its limit (of its reservation
	// without one, as the collector measures it), on its node's pool.
	used := usedCores(s.State, cpuPct)
	for pool, v := range used {
		if c := counts[pool]; c != nil {
			c.cpuUsed = v
		}
	}
	for name, c := range counts {
		c.created, c.destroyed = r.created[name], r.destroyed[name]
		rg := r.pools[name]
		if rg == nil {
			rg = &ring[poolRow]{rows: make([]poolRow, r.points)}
			r.pools[name] = rg
		}
		rg.push(*c)
		rg.seen = r.samples
	}
	for name, rg := range r.pools {
		if r.samples-rg.seen > r.points {
			delete(r.pools, name)
		}
	}
}

// usedCores sums, per pool, the CPU the running tasks use: the app's CPU
// (percent of the limit, per running replica) times its limit, for each
// task on a ready node of the pool. Pools with no app of known CPU are
// absent.
func usedCores(st cluster.State, cpuPct map[string]float64) map[string]float64 {
	if len(cpuPct) == 0 {
		return nil
	}
	per := map[string]float64{} // service -> cores per running task
	for _, sv := range st.Services {
		pct, ok := cpuPct[sv.Name]
		if !ok {
			continue
		}
		milli := sv.Limit.MilliCPU
		if milli == 0 {
			milli = sv.Reservation.MilliCPU
		}
		per[sv.Name] = pct / 100 * float64(milli) / 1000
	}
	pools := map[string]string{}
	for _, n := range st.Nodes {
		if n.Ready {
			pools[n.ID] = n.Pool
		}
	}
	out := map[string]float64{}
	for _, t := range st.Tasks {
		c, ok := per[t.Service]
		pool := pools[t.NodeID]
		if !ok || pool == "" || t.State != cluster.TaskRunning {
			continue
		}
		out[pool] += c
	}
	return out
}

// mainPolicy is the app's first policy that is not a schedule: the one its
// charts show against its target or thresholds.
func mainPolicy(a *config.App) (int, *config.Policy) {
	for i := range a.Policies {
		if a.Policies[i].Type != config.PolicySchedule {
			return i, &a.Policies[i]
		}
	}
	return -1, nil
}

func policyLabel(p *config.Policy) string {
	if p.Type == config.PolicyPredictive {
		return "rate"
	}
	if p.Metric != "" {
		return p.Metric
	}
	return p.Query
}

// Col is a column of numbers; NaN (no value) is written as null.
type Col []float64

// MarshalJSON implements json.Marshaler.
func (c Col) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 2+len(c)*6)
	b = append(b, '[')
	for i, v := range c {
		if i > 0 {
			b = append(b, ',')
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			b = append(b, "null"...)
			continue
		}
		b = strconv.AppendFloat(b, v, 'f', -1, 64)
	}
	return append(b, ']'), nil
}

var _ json.Marshaler = Col(nil)

// round32 turns a stored float32 back into a float64 without the binary
// noise (51.6185517 rather than 51.61855316162109).
func round32(v float32) float64 {
	if math.IsNaN(float64(v)) {
		return math.NaN()
	}
	f, _ := strconv.ParseFloat(strconv.FormatFloat(float64(v), 'g', 7, 32), 64)
	return f
}

// AppSeries is one app's samples as columns (uPlot draws columns).
type AppSeries struct {
	App string `json:"app"`
	// Metric labels the main policy's metric (value, target, upper, lower).
	Metric string `json:"metric,omitempty"`
	// T is each sample's tick time, in Unix seconds.
	T        Col `json:"t"`
	Desired  Col `json:"desired"`
	Running  Col `json:"running"`
	Pending  Col `json:"pending"`
	Starting Col `json:"starting"`
	Min      Col `json:"min"`
	Max      Col `json:"max"`
	// Wanted is the largest recommendation of the policies (null: no data):
	// above Desired while a cooldown or max holds the app.
	Wanted Col `json:"wanted"`
	Value  Col `json:"value"`
	Target Col `json:"target"`
	Upper  Col `json:"upper"`
	Lower  Col `json:"lower"`
	// Offered (requests/s), P95Ms and CPU (percent) come from the simulator.
	Offered Col `json:"offered"`
	P95Ms   Col `json:"p95_ms"`
	CPU     Col `json:"cpu"`
	// Rate is the request rate a predictive policy observed (requests/s),
	// Forecast its forecast of the peak over the machines' horizon and
	// ForecastUpper that forecast's upper bound (null without one).
	Rate          Col `json:"rate"`
	Forecast      Col `json:"forecast"`
	ForecastUpper Col `json:"forecast_upper"`
	// NetRx and NetTx are the bytes/s the app's tasks received and sent,
	// all together (null: not known).
	NetRx Col `json:"net_rx"`
	NetTx Col `json:"net_tx"`
}

// PoolSeries is one pool's samples as columns.
type PoolSeries struct {
	Pool    string `json:"pool"`
	T       Col    `json:"t"`
	Ready   Col    `json:"ready"`
	Booting Col    `json:"booting"` // ordered or booting
	Leaving Col    `json:"leaving"` // selected, draining, drained, removed
	Failed  Col    `json:"failed"`
	// NeedRoom is the tasks waiting for room (pending, or about to be created).
	NeedRoom Col `json:"need_room"`
	// Created and Destroyed count machines since hoist started.
	Created     Col `json:"created"`
	Destroyed   Col `json:"destroyed"`
	CPUReserved Col `json:"cpu_reserved"` // cores, ready nodes
	CPUCapacity Col `json:"cpu_capacity"`
	MemReserved Col `json:"memory_reserved"` // bytes
	MemCapacity Col `json:"memory_capacity"`
	// CPUUsed is what the running tasks use, cores (null: not known).
	CPUUsed Col `json:"cpu_used"`
}

// App returns an app's samples after the given time (zero: all of them).
func (r *Recorder) App(name string, after time.Time) (AppSeries, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := AppSeries{App: name, Metric: r.metric[name]}
	rg, ok := r.apps[name]
	if !ok {
		return emptyApp(out), false
	}
	cut := int64(math.MinInt64)
	if !after.IsZero() {
		cut = after.UnixMilli()
	}
	rg.each(func(w *appRow) {
		if w.t <= cut {
			return
		}
		wanted := float64(w.wanted)
		if w.wanted < 0 {
			wanted = math.NaN()
		}
		out.T = append(out.T, float64(w.t)/1000)
		out.Desired = append(out.Desired, float64(w.desired))
		out.Running = append(out.Running, float64(w.running))
		out.Pending = append(out.Pending, float64(w.pending))
		out.Starting = append(out.Starting, float64(w.starting))
		out.Min = append(out.Min, float64(w.min))
		out.Max = append(out.Max, float64(w.max))
		out.Wanted = append(out.Wanted, wanted)
		out.Value = append(out.Value, round32(w.value))
		out.Target = append(out.Target, round32(w.target))
		out.Upper = append(out.Upper, round32(w.upper))
		out.Lower = append(out.Lower, round32(w.lower))
		out.Offered = append(out.Offered, round32(w.offered))
		out.P95Ms = append(out.P95Ms, round32(w.p95))
		out.CPU = append(out.CPU, round32(w.cpu))
		out.Rate = append(out.Rate, round32(w.rate))
		out.Forecast = append(out.Forecast, round32(w.forecast))
		out.ForecastUpper = append(out.ForecastUpper, round32(w.forecastUpper))
		out.NetRx = append(out.NetRx, round32(w.netRx))
		out.NetTx = append(out.NetTx, round32(w.netTx))
	})
	return emptyApp(out), true
}

// emptyApp makes nil columns empty, so JSON has [] rather than null.
func emptyApp(s AppSeries) AppSeries {
	for _, c := range []*Col{&s.T, &s.Desired, &s.Running, &s.Pending, &s.Starting, &s.Min, &s.Max, &s.Wanted,
		&s.Value, &s.Target, &s.Upper, &s.Lower, &s.Offered, &s.P95Ms, &s.CPU, &s.Rate, &s.Forecast, &s.ForecastUpper, &s.NetRx, &s.NetTx} {
		if *c == nil {
			*c = Col{}
		}
	}
	return s
}

// Pool returns a pool's samples after the given time (zero: all of them).
func (r *Recorder) Pool(name string, after time.Time) (PoolSeries, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := PoolSeries{Pool: name}
	rg, ok := r.pools[name]
	cut := int64(math.MinInt64)
	if !after.IsZero() {
		cut = after.UnixMilli()
	}
	if ok {
		rg.each(func(w *poolRow) {
			if w.t <= cut {
				return
			}
			out.T = append(out.T, float64(w.t)/1000)
			out.Ready = append(out.Ready, float64(w.ready))
			out.Booting = append(out.Booting, float64(w.booting))
			out.Leaving = append(out.Leaving, float64(w.leaving))
			out.Failed = append(out.Failed, float64(w.failed))
			out.NeedRoom = append(out.NeedRoom, float64(w.needRoom))
			out.Created = append(out.Created, float64(w.created))
			out.Destroyed = append(out.Destroyed, float64(w.destroyed))
			out.CPUReserved = append(out.CPUReserved, w.cpuReserved)
			out.CPUCapacity = append(out.CPUCapacity, w.cpuCapacity)
			out.MemReserved = append(out.MemReserved, w.memReserved)
			out.MemCapacity = append(out.MemCapacity, w.memCapacity)
			out.CPUUsed = append(out.CPUUsed, round32(float32(w.cpuUsed)))
		})
	}
	for _, c := range []*Col{&out.T, &out.Ready, &out.Booting, &out.Leaving, &out.Failed, &out.NeedRoom,
		&out.Created, &out.Destroyed, &out.CPUReserved, &out.CPUCapacity, &out.MemReserved, &out.MemCapacity, &out.CPUUsed} {
		if *c == nil {
			*c = Col{}
		}
	}
	return out, ok
}

// AppLatest is an app's last sample, for the overview's table.
type AppLatest struct {
	Desired  int      `json:"desired"`
	Running  int      `json:"running"`
	Pending  int      `json:"pending"`
	Starting int      `json:"starting"`
	Min      int      `json:"min"`
	Max      int      `json:"max"`
	Metric   string   `json:"metric,omitempty"`
	Value    *float64 `json:"value,omitempty"`
	Target   *float64 `json:"target,omitempty"`
	Upper    *float64 `json:"upper,omitempty"`
	Lower    *float64 `json:"lower,omitempty"`
	Offered  *float64 `json:"offered,omitempty"`
	// Forecast and ForecastUpper are a predictive policy's (req/s).
	Forecast      *float64 `json:"forecast,omitempty"`
	ForecastUpper *float64 `json:"forecast_upper,omitempty"`
	Action        string   `json:"action"`
	Reason        string   `json:"reason"`
	HoldKind      string   `json:"hold_kind,omitempty"`
}

// PoolLatest is a pool's last sample.
type PoolLatest struct {
	Ready       int      `json:"ready"`
	Booting     int      `json:"booting"`
	Leaving     int      `json:"leaving"`
	Failed      int      `json:"failed"`
	NeedRoom    int      `json:"need_room"`
	Created     int      `json:"created"`
	Destroyed   int      `json:"destroyed"`
	CPUReserved float64  `json:"cpu_reserved"`
	CPUCapacity float64  `json:"cpu_capacity"`
	MemReserved float64  `json:"memory_reserved"`
	MemCapacity float64  `json:"memory_capacity"`
	CPUUsed     *float64 `json:"cpu_used,omitempty"`
}

// Latest is the last sample of every app and pool: the overview's one request.
type Latest struct {
	// Time is the last tick recorded (zero before the first).
	Time time.Time `json:"time"`
	// Points is how many samples each series keeps.
	Points int                   `json:"points"`
	Apps   map[string]AppLatest  `json:"apps"`
	Pools  map[string]PoolLatest `json:"pools"`
}

func ptr(v float32) *float64 {
	if math.IsNaN(float64(v)) {
		return nil
	}
	f := round32(v)
	return &f
}

// Latest returns the last sample of every app and pool.
func (r *Recorder) Latest() Latest {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := Latest{Time: r.last, Points: r.points, Apps: map[string]AppLatest{}, Pools: map[string]PoolLatest{}}
	for name, rg := range r.apps {
		w, ok := rg.last()
		if !ok || rg.seen != r.samples {
			continue // not in the last tick: gone
		}
		a := AppLatest{Desired: int(w.desired), Running: int(w.running), Pending: int(w.pending), Starting: int(w.starting),
			Min: int(w.min), Max: int(w.max), Metric: r.metric[name], Value: ptr(w.value), Target: ptr(w.target),
			Upper: ptr(w.upper), Lower: ptr(w.lower), Offered: ptr(w.offered),
			Forecast: ptr(w.forecast), ForecastUpper: ptr(w.forecastUpper)}
		if m := r.meta[name]; m != nil {
			a.Action, a.Reason, a.HoldKind = m.Action, m.Reason, m.HoldKind
		}
		out.Apps[name] = a
	}
	for name, rg := range r.pools {
		w, ok := rg.last()
		if !ok || rg.seen != r.samples {
			continue
		}
		out.Pools[name] = PoolLatest{Ready: int(w.ready), Booting: int(w.booting), Leaving: int(w.leaving), Failed: int(w.failed),
			NeedRoom: int(w.needRoom), Created: int(w.created), Destroyed: int(w.destroyed), CPUReserved: w.cpuReserved,
			CPUCapacity: w.cpuCapacity, MemReserved: w.memReserved, MemCapacity: w.memCapacity, CPUUsed: ptr(float32(w.cpuUsed))}
	}
	return out
}
