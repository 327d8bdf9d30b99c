package series

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/hoist/hoist/examples"
	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/sim"
)

var t0 = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)

func tick(at time.Duration, running int, value float64, machines ...cluster.MachineRecord) Tick {
	lower := 20.0
	return Tick{
		Plan: &engine.Plan{Time: t0.Add(at),
			Apps: []engine.AppDecision{
				{App: "web", Action: engine.ActScale, Desired: running + 1, Running: running, Pending: 1, Min: 2, Max: 10, Reason: "why",
					Votes: []engine.PolicyVote{{Policy: 1, Type: "target", Value: value, HasValue: true, Replicas: running + 2}}},
				{App: "api", Action: engine.ActNone, Desired: 1, Running: 1, Min: 1, Max: 4,
					Votes: []engine.PolicyVote{{Policy: 0, Type: "threshold", HasValue: false}}},
			},
			Pools: []engine.PoolDecision{{Pool: "workers", NeedRoom: 1}},
		},
		Snapshot: &engine.Snapshot{
			Apps: []config.App{
				{Name: "web", Policies: []config.Policy{{Type: config.PolicySchedule}, {Type: config.PolicyTarget, Metric: "cpu", Target: 60}}},
				{Name: "api", Policies: []config.Policy{{Type: config.PolicyThreshold, Metric: "cpu", Upper: 80, Lower: &lower}}},
			},
			State: cluster.State{
				Services: []cluster.Service{{Name: "web", Limit: cluster.Resources{MilliCPU: 1000}}, {Name: "api", Reservation: cluster.Resources{MilliCPU: 250}}},
				Nodes:    []cluster.Node{{ID: "n1", Pool: "workers", Ready: true, Capacity: cluster.Resources{MilliCPU: 2000, Memory: 4 << 30}}},
				Tasks: []cluster.Task{
					{Service: "web", NodeID: "n1", State: cluster.TaskRunning, Reservation: cluster.Resources{MilliCPU: 500, Memory: 256 << 20}},
					{Service: "web", State: cluster.TaskStarting},
				},
			},
		},
		Machines: machines,
		Load:     func(string) (Load, bool) { return Load{Offered: 120, P95: 0.25, CPU: value}, true },
	}
}

func machine(name string, phases ...cluster.Phase) cluster.MachineRecord {
	r := cluster.MachineRecord{Name: name, Pool: "workers"}
	for i, p := range phases {
		r.SetPhase(p, t0.Add(time.Duration(i)*time.Second), "")
	}
	return r
}

func TestRecordAppColumns(t *testing.T) {
	r := New(4)
	if !r.Record(tick(0, 2, 50)) {
		t.Fatal("first tick not recorded")
	}
	if r.Record(tick(0, 2, 50)) {
		t.Fatal("the same plan was recorded twice")
	}
	for i := 1; i <= 5; i++ {
		r.Record(tick(time.Duration(i)*10*time.Second, 2+i, 50+float64(i)))
	}
	s, ok := r.App("web", time.Time{})
	if !ok {
		t.Fatal("no series for web")
	}
	// The ring keeps the last 4 of 6 samples, oldest first.
	if len(s.T) != 4 || s.T[0] != float64(t0.Add(20*time.Second).Unix()) || s.T[3] != float64(t0.Add(50*time.Second).Unix()) {
		t.Fatalf("t = %v", s.T)
	}
	if s.Running[3] != 7 || s.Desired[3] != 8 || s.Wanted[3] != 9 || s.Pending[3] != 1 || s.Starting[3] != 1 {
		t.Fatalf("replicas: running %v desired %v wanted %v pending %v starting %v", s.Running, s.Desired, s.Wanted, s.Pending, s.Starting)
	}
	// The main policy is the first that is not a schedule: its vote's value
	// and its target.
	if s.Metric != "cpu" || s.Value[3] != 55 || s.Target[3] != 60 || !math.IsNaN(s.Upper[3]) {
		t.Fatalf("metric %q value %v target %v upper %v", s.Metric, s.Value, s.Target, s.Upper)
	}
	if s.Offered[3] != 120 || s.P95Ms[3] != 250 {
		t.Fatalf("load: %v %v", s.Offered, s.P95Ms)
	}
	later, _ := r.App("web", t0.Add(40*time.Second))
	if len(later.T) != 1 || later.T[0] != float64(t0.Add(50*time.Second).Unix()) {
		t.Fatalf("after 40s: %v", later.T)
	}
	api, _ := r.App("api", time.Time{})
	if api.Upper[0] != 80 || api.Lower[0] != 20 || !math.IsNaN(api.Value[0]) || !math.IsNaN(api.Wanted[0]) {
		t.Fatalf("api: upper %v lower %v value %v wanted %v", api.Upper, api.Lower, api.Value, api.Wanted)
	}
	// No value is null in JSON, not NaN (which encoding/json refuses).
	data, err := json.Marshal(api)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"value":[null,null,null,null]`) {
		t.Fatalf("json: %s", data)
	}
	if _, ok := r.App("nope", time.Time{}); ok {
		t.Fatal("an unknown app has a series")
	}
	empty, _ := r.App("nope", time.Time{})
	if data, _ := json.Marshal(empty); !strings.Contains(string(data), `"t":[]`) {
		t.Fatalf("empty series: %s", data)
	}
}

func TestRecordPools(t *testing.T) {
	r := New(10)
	r.Record(tick(0, 2, 50, machine("init", cluster.PhaseReady)))
	r.Record(tick(10*time.Second, 2, 50, machine("init", cluster.PhaseReady), machine("m1", cluster.PhaseOrdered, cluster.PhaseBooting)))
	r.Record(tick(20*time.Second, 2, 50, machine("init", cluster.PhaseReady, cluster.PhaseSelected, cluster.PhaseDraining),
		machine("m1", cluster.PhaseOrdered, cluster.PhaseBooting, cluster.PhaseReady)))
	r.Record(tick(30*time.Second, 2, 50, machine("init", cluster.PhaseReady, cluster.PhaseSelected, cluster.PhaseDestroyed),
		machine("m1", cluster.PhaseOrdered, cluster.PhaseBooting, cluster.PhaseReady)))
	p, ok := r.Pool("workers", time.Time{})
	if !ok || len(p.T) != 4 {
		t.Fatalf("pool series: %+v", p)
	}
	want := map[string]Col{
		"ready": {1, 1, 1, 1}, "booting": {0, 1, 0, 0}, "leaving": {0, 0, 1, 0},
		// The adopted machine of the first sample was not created by hoist.
		"created": {0, 1, 1, 1}, "destroyed": {0, 0, 0, 1},
	}
	got := map[string]Col{"ready": p.Ready, "booting": p.Booting, "leaving": p.Leaving, "created": p.Created, "destroyed": p.Destroyed}
	for k, w := range want {
		for i := range w {
			if got[k][i] != w[i] {
				t.Errorf("%s = %v, want %v", k, got[k], w)
				break
			}
		}
	}
	if p.CPUCapacity[0] != 2 || p.CPUReserved[0] != 0.5 || p.MemReserved[0] != 256<<20 || p.NeedRoom[0] != 1 {
		t.Fatalf("resources: cpu %v/%v mem %v need %v", p.CPUReserved, p.CPUCapacity, p.MemReserved, p.NeedRoom)
	}
	// CPU used: web's one running task at 50 % of its 1-core limit (the
	// starting one uses nothing yet; api has no task on a node).
	if p.CPUUsed[0] != 0.5 {
		t.Fatalf("cpu used: %v", p.CPUUsed)
	}
	l := r.Latest()
	if u := l.Pools["workers"].CPUUsed; u == nil || *u != 0.5 {
		t.Fatalf("latest cpu used: %v", u)
	}
	if !l.Time.Equal(t0.Add(30*time.Second)) || l.Pools["workers"].Destroyed != 1 || l.Apps["web"].Reason != "why" ||
		*l.Apps["web"].Target != 60 || l.Apps["api"].Value != nil || l.Points != 10 {
		t.Fatalf("latest: %+v", l)
	}
}

// An app gone from the plans leaves Latest at once and the recorder once a
// ring's worth of samples has passed.
func TestGoneAppsAreForgotten(t *testing.T) {
	r := New(3)
	r.Record(tick(0, 2, 50))
	for i := 1; i <= 4; i++ {
		tk := tick(time.Duration(i)*time.Second, 2, 50)
		tk.Plan.Apps = tk.Plan.Apps[1:] // web is gone
		r.Record(tk)
		if _, ok := r.Latest().Apps["web"]; ok {
			t.Fatal("a gone app is in Latest")
		}
	}
	if _, ok := r.App("web", time.Time{}); ok {
		t.Fatal("a long-gone app still has a series")
	}
	if _, ok := r.App("api", time.Time{}); !ok {
		t.Fatal("api was forgotten")
	}
}

// The recorder on the real engine and simulator: the quickstart's first
// ticks fill every column.
func TestRecordFromSimulator(t *testing.T) {
	cfg, err := config.Parse(examples.QuickstartName, examples.Quickstart)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sim.NewStack(cfg, sim.StackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := New(0)
	load := func(app string) (Load, bool) {
		a := st.Cluster.App(app)
		return Load{Offered: a.Offered, P95: a.P95, CPU: a.CPU}, true
	}
	for i := 0; i < 30; i++ {
		if _, err := st.Step(context.Background()); err != nil {
			t.Fatal(err)
		}
		p, s := st.Engine.Last()
		r.Record(Tick{Plan: p, Snapshot: s, Machines: st.Engine.Machines(), Load: load})
	}
	web, _ := r.App("web", time.Time{})
	if len(web.T) != 30 || web.Metric != "cpu" || web.Target[29] != 60 || math.IsNaN(web.Value[29]) || web.Offered[29] <= 0 || web.Running[29] < 2 {
		t.Fatalf("web: %d samples, metric %q, target %v, value %v, offered %v, running %v",
			len(web.T), web.Metric, web.Target[29], web.Value[29], web.Offered[29], web.Running[29])
	}
	pool, _ := r.Pool("workers", time.Time{})
	if pool.Ready[29] < 1 || pool.CPUCapacity[29] < 2 {
		t.Fatalf("workers: ready %v capacity %v", pool.Ready[29], pool.CPUCapacity[29])
	}
	if r.Points() != DefaultPoints {
		t.Fatalf("points %d", r.Points())
	}
}

// A predictive policy's forecast is recorded beside the load; an app without
// one has nulls there.
func TestRecordForecast(t *testing.T) {
	r := New(4)
	tk := tick(0, 2, 50)
	tk.Plan.Apps[0].Forecast = &engine.AppForecast{Mode: "predictive", Rate: 100, Point: 110, Upper: 140}
	r.Record(tk)
	s, _ := r.App("web", time.Time{})
	if s.Rate[0] != 100 || s.Forecast[0] != 110 || s.ForecastUpper[0] != 140 {
		t.Fatalf("rate %v forecast %v upper %v", s.Rate, s.Forecast, s.ForecastUpper)
	}
	api, _ := r.App("api", time.Time{})
	data, err := json.Marshal(api)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"forecast_upper":[null]`) {
		t.Fatalf("json: %s", data)
	}
}

// The app's traffic (all tasks together) is recorded as the backend reports
// it; not known is null, not zero.
func TestRecordTraffic(t *testing.T) {
	r := New(4)
	tk := tick(0, 2, 50)
	tk.Load = func(app string) (Load, bool) {
		if app == "web" {
			return Load{Offered: 120, P95: 0.25, CPU: 50, NetRx: 1500, NetTx: 375000}, true
		}
		return Load{Offered: 1, P95: 0.1, CPU: 10, NetRx: math.NaN(), NetTx: math.NaN()}, true
	}
	r.Record(tk)
	s, _ := r.App("web", time.Time{})
	if s.NetRx[0] != 1500 || s.NetTx[0] != 375000 {
		t.Fatalf("net_rx %v net_tx %v", s.NetRx, s.NetTx)
	}
	api, _ := r.App("api", time.Time{})
	data, err := json.Marshal(api)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"net_rx":[null]`) || !strings.Contains(string(data), `"net_tx":[null]`) {
		t.Fatalf("json: %s", data)
	}
}

// A predictive policy's value is the request rate, labelled so, with no
// threshold (its reference is the forecast, in Latest too).
func TestRecordPredictive(t *testing.T) {
	r := New(4)
	tk := tick(0, 2, 50)
	tk.Snapshot.Apps[0].Policies = []config.Policy{{Type: config.PolicyPredictive, Target: 60}}
	tk.Plan.Apps[0].Votes = []engine.PolicyVote{{Policy: 0, Type: config.PolicyPredictive, Value: 95, HasValue: true, Replicas: 3}}
	tk.Plan.Apps[0].Forecast = &engine.AppForecast{Mode: "predictive", Rate: 95, Point: 110, Upper: 140}
	r.Record(tk)
	l := r.Latest().Apps["web"]
	if l.Metric != "rate" || l.Value == nil || *l.Value != 95 || l.Upper != nil || l.Target != nil || l.Lower != nil {
		t.Fatalf("latest %+v", l)
	}
	if l.Forecast == nil || *l.Forecast != 110 || l.ForecastUpper == nil || *l.ForecastUpper != 140 {
		t.Fatalf("latest forecast %v, upper %v", l.Forecast, l.ForecastUpper)
	}
	s, _ := r.App("web", time.Time{})
	if s.Metric != "rate" || !math.IsNaN(s.Upper[0]) || !math.IsNaN(s.Target[0]) {
		t.Fatalf("series metric %q upper %v target %v", s.Metric, s.Upper, s.Target)
	}
}
