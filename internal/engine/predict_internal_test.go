package engine

import (
	"testing"
	"time"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
)

func TestBootTimeIsTheLongestRecentBoot(t *testing.T) {
	m := newMemory()
	t0 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	ix := &index{records: map[string]*cluster.MachineRecord{}}
	if _, ok := m.bootTime("p"); ok {
		t.Fatal("a boot time before any boot")
	}
	for i, boot := range []time.Duration{90 * time.Second, 120 * time.Second, 80 * time.Second} {
		name := string(rune('a' + i))
		ix.records[name] = &cluster.MachineRecord{Name: name, Pool: "p", OrderedAt: t0}
		learnBoots([]MachineAction{
			{Machine: name, From: cluster.PhaseBooting, To: cluster.PhaseReady, Action: MActObserve},
			{Machine: name, From: cluster.PhaseReady, To: cluster.PhaseReady, Action: MActNodeIDSet}, // not a boot
		}, ix, m, t0.Add(boot))
	}
	// An adopted machine says nothing about boots.
	ix.records["x"] = &cluster.MachineRecord{Name: "x", Pool: "p", OrderedAt: t0}
	learnBoots([]MachineAction{{Machine: "x", To: cluster.PhaseReady, Action: MActAdopt}}, ix, m, t0.Add(time.Hour))
	if b, ok := m.bootTime("p"); !ok || b != 120*time.Second {
		t.Errorf("boot time %s, want the longest, 2m0s", b)
	}
	for i := 0; i < 2*bootSamples; i++ {
		ix.records["y"] = &cluster.MachineRecord{Name: "y", Pool: "p", OrderedAt: t0}
		learnBoots([]MachineAction{{Machine: "y", From: cluster.PhaseOrdered, To: cluster.PhaseReady, Action: MActObserve}}, ix, m, t0.Add(30*time.Second))
	}
	if b, _ := m.bootTime("p"); b != 30*time.Second || len(m.boots["p"]) != bootSamples {
		t.Errorf("after many 30 s boots: %s over %d samples", b, len(m.boots["p"]))
	}
}

func TestKeepForCountsPlacedWaitingAndForecastTasks(t *testing.T) {
	one := cluster.Resources{MilliCPU: 1000, Memory: 1 << 30}
	pool := &config.Pool{Name: "p", Machine: config.Shape{CPUs: 4, Memory: 8 << 30}}
	ix := &index{nodes: map[string]*cluster.Node{
		"n1": {ID: "n1", Pool: "p"}, "n2": {ID: "n2", Pool: "p"}, "n3": {ID: "n3", Pool: "q"},
	}, onNode: map[string][]*cluster.Task{
		"n1": {{Reservation: one}, {Reservation: one}, {Reservation: one, Global: true}},
		"n2": {{Reservation: one}},
		"n3": {{Reservation: one}, {Reservation: one}, {Reservation: one}, {Reservation: one}},
	}}
	for _, c := range []struct {
		extra int
		want  int
	}{{0, 1}, {1, 1}, {2, 2}, {5, 2}, {6, 3}} {
		extra := make([]cluster.Resources, c.extra)
		for i := range extra {
			extra[i] = one
		}
		if got := keepFor(pool, ix, extra); got != c.want {
			t.Errorf("3 placed tasks + %d: keep %d machines, want %d", c.extra, got, c.want)
		}
	}
}

// Room for the forecast is ordered for the replicas it needs beyond those
// wanted now, except while the anomaly guard holds the app's scale-ups.
func TestAheadItemsHeldByTheGuard(t *testing.T) {
	one := cluster.Resources{MilliCPU: 1000, Memory: 1 << 30}
	cfg := &config.Config{Pools: []config.Pool{{Name: "p", Max: 10}}}
	app := &config.App{Name: "web", Pools: []string{"p"}}
	for _, c := range []struct {
		name   string
		ahead  int
		action Action
		held   bool
		want   int
	}{
		{"no forecast", 0, ActNone, false, 0},
		{"forecast above the service", 7, ActNone, false, 4},
		{"forecast above a scale-up", 7, ActScale, false, 2},
		{"forecast under what is wanted", 3, ActNone, false, 0},
		{"guard holds", 7, ActNone, true, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			ix := &index{exists: map[string]int{"p": 1}}
			ix.byName = []appView{{app: app, svc: &cluster.Service{Name: "web", Desired: 3, Reservation: one},
				tasks: []*cluster.Task{{}, {}, {}}, d: &AppDecision{App: "web", Action: c.action, Desired: 5, Ahead: c.ahead},
				pool: poolFor(cfg, app, ix)}}
			s := &Snapshot{AnomalyHold: map[string]string{}}
			if c.held {
				s.AnomalyHold["web"] = "score 0.99"
			}
			items, apps := aheadItems("p", s, ix)
			if len(items) != c.want || len(apps) != c.want {
				t.Errorf("%d items for the forecast, want %d", len(items), c.want)
			}
		})
	}
}

// The pool's room counts a machine on its way once, as a whole machine less
// what is placed on it, also when its node is ready before the provider
// lists it (the record still ordered); leaving machines give no room. The
// machine decision and the predictive policy's room read the same bins.
func TestPoolBinsCountAMachineOnItsWayOnce(t *testing.T) {
	shape := cluster.Resources{MilliCPU: 4000, Memory: 8 << 30}
	one := cluster.Resources{MilliCPU: 1000, Memory: 1 << 30}
	node := func(id, machine string) *cluster.Node {
		return &cluster.Node{ID: id, Machine: machine, Pool: "p", Ready: true, Availability: cluster.Active, Capacity: shape}
	}
	ix := &index{
		nodes: map[string]*cluster.Node{"n1": node("n1", "a"), "n2": node("n2", "b"), "n4": node("n4", "d")},
		records: map[string]*cluster.MachineRecord{
			"a": {Name: "a", Pool: "p", Phase: cluster.PhaseReady, NodeID: "n1"},
			"b": {Name: "b", Pool: "p", Phase: cluster.PhaseOrdered, NodeID: "n2"}, // node ready, provider lags
			"c": {Name: "c", Pool: "p", Phase: cluster.PhaseBooting},
			"d": {Name: "d", Pool: "p", Phase: cluster.PhaseDraining, NodeID: "n4"},
		},
		reserved: map[string]cluster.Resources{"n1": one, "n2": one.Add(one), "n4": one},
	}
	got := map[string]cluster.Resources{}
	for _, b := range poolBins(ix, "p", shape) {
		if _, twice := got[b.ID]; twice {
			t.Errorf("bin %s twice", b.ID)
		}
		got[b.ID] = b.Free
	}
	want := map[string]cluster.Resources{"n1": shape.Sub(one), "machine:b": shape.Sub(one.Add(one)), "machine:c": shape}
	if len(got) != len(want) {
		t.Errorf("bins %v, want %v", got, want)
	}
	for id, free := range want {
		if got[id] != free {
			t.Errorf("bin %s free %v, want %v (all: %v)", id, got[id], free, got)
		}
	}
}
