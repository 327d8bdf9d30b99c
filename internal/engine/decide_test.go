package engine

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
)

// Table tests of decide over hand-built snapshots: the rules one at a time,
// beside the simulator scenarios that run them together.

const decideConfig = `
controller: {interval: 10s}
pools:
  - name: workers
    min: 1
    max: 4
    machine: {cpus: 4, memory: 8GiB}
    cooldown: 2m
    scale_down: {below: 0.5, consolidate: 0.75, for: 3m}
apps:
  - name: web
    image: demo
    pools: [workers]
    resources:
      reservations: {cpus: 1, memory: 512MiB}
    replicas: {min: 2, max: 8}
    cooldown: {up: 5m, down: 5m}
    policies:
      - type: target
        metric: rps
        target: 30
        scale_up: {max_percent: 1000, period: 15s}
        scale_down: {stabilization: 0s, max_percent: 100, period: 15s}
`

var dt0 = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)

// dworld is a hand-built cluster: nodes of 4 CPUs in pool workers, each a
// machine hoist made (m1 on n1, ...), with web's tasks placed as given.
type dworld struct {
	nodes   []cluster.Node
	tasks   []cluster.Task
	stops   []cluster.Task
	records []cluster.MachineRecord
}

func cpu(n float64) cluster.Resources {
	return cluster.Resources{MilliCPU: cluster.CPUs(n), Memory: 512 << 20}
}

// node adds a ready machine in phase with tasks of web reserving 1 CPU each.
func (w *dworld) node(id string, phase cluster.Phase, tasks int) *dworld {
	avail := cluster.Active
	if phase == cluster.PhaseDraining || phase == cluster.PhaseSelected || phase == cluster.PhaseDrained {
		avail = cluster.Pause // hoist's make-before-break drain
	}
	m := "m" + strings.TrimPrefix(id, "n")
	w.nodes = append(w.nodes, cluster.Node{ID: id, Machine: m, Pool: "workers", Ready: true, Availability: avail,
		Capacity: cluster.Resources{MilliCPU: 4000, Memory: 8 << 30}})
	w.records = append(w.records, cluster.MachineRecord{Name: m, Pool: "workers", Phase: phase, NodeID: id,
		OrderedAt: dt0.Add(-time.Hour), Since: dt0.Add(-time.Minute)})
	for i := 0; i < tasks; i++ {
		w.tasks = append(w.tasks, cluster.Task{ID: id + "-t" + string(rune('a'+i)), Service: "web", NodeID: id,
			State: cluster.TaskRunning, Reservation: cpu(1)})
	}
	return w
}

// stopping adds n tasks of web told to stop on node id, still holding
// 1 CPU each there.
func (w *dworld) stopping(id string, n int) *dworld {
	for i := 0; i < n; i++ {
		w.stops = append(w.stops, cluster.Task{ID: id + "-s" + string(rune('a'+i)), Service: "web", NodeID: id,
			State: cluster.TaskRunning, Reservation: cpu(1)})
	}
	return w
}

// pending adds n tasks of web waiting for room.
func (w *dworld) pending(n int) *dworld {
	for i := 0; i < n; i++ {
		w.tasks = append(w.tasks, cluster.Task{ID: "p" + string(rune('a'+i)), Service: "web", State: cluster.TaskPending,
			Reason: "no suitable node (insufficient resources on 1 node)", Reservation: cpu(1)})
	}
	return w
}

// snapshot is the dworld at dt0 with web's service at desired replicas and one
// sample for its policy.
func (w *dworld) snapshot(cfg *config.Config, desired int, sample Sample) *Snapshot {
	machines := []cluster.Machine{}
	for _, r := range w.records {
		machines = append(machines, cluster.Machine{Name: r.Name, Status: cluster.MachineRunning})
	}
	return &Snapshot{
		Time: dt0,
		State: cluster.State{
			Services: []cluster.Service{{Name: "web", Desired: desired, Reservation: cpu(1)}},
			Tasks:    append([]cluster.Task(nil), w.tasks...),
			Stopping: append([]cluster.Task(nil), w.stops...),
			Nodes:    append([]cluster.Node(nil), w.nodes...),
		},
		Machines: map[string][]cluster.Machine{"workers": machines}, ProviderErr: map[string]string{},
		Records: append([]cluster.MachineRecord(nil), w.records...), Busy: map[string]bool{},
		Apps: cfg.Apps, Metrics: map[string][]Sample{"web": {sample}}, AnomalyHold: map[string]string{},
	}
}

func TestDecide(t *testing.T) {
	cfg, err := config.Parse("decide.yaml", []byte(decideConfig))
	if err != nil {
		t.Fatal(err)
	}
	rps := func(v float64) Sample { return Sample{Value: v, OK: true} }
	noData := Sample{Err: "scrape failed: no data"}
	cases := []struct {
		name   string
		snap   *Snapshot
		memory func(m *memory)
		app    AppDecision // Action, HoldKind, Desired; Reason when set: a prefix
		pool   PoolDecision
		acts   []MachineAction // Machine, Action, To
	}{
		{
			name: "no data holds replicas where they are",
			// 4 replicas at 0 req/s would go to min 2; without data they stay.
			snap: new(dworld).node("n1", cluster.PhaseReady, 2).node("n2", cluster.PhaseReady, 2).snapshot(cfg, 4, noData),
			app:  AppDecision{Action: ActHold, HoldKind: HoldNoData, Desired: 4, Reason: "no data: policies[0] (rps): scrape failed: no data"},
			pool: PoolDecision{Action: ActNone},
		},
		{
			name: "the data, once back, scales down",
			snap: new(dworld).node("n1", cluster.PhaseReady, 2).node("n2", cluster.PhaseReady, 2).snapshot(cfg, 4, rps(10)),
			app:  AppDecision{Action: ActScale, Desired: 2},
			pool: PoolDecision{Action: ActNone},
		},
		{
			name: "below min scales up inside the up cooldown",
			snap: new(dworld).node("n1", cluster.PhaseReady, 1).snapshot(cfg, 1, rps(10)),
			memory: func(m *memory) {
				m.app("web", 1).lastUp = dt0.Add(-time.Second)
				m.app("web", 1).lastMove = dt0.Add(-time.Second)
			},
			app: AppDecision{Action: ActScale, Desired: 2, Reason: "below min 2"},
		},
		{
			name: "above max scales down inside the down cooldown",
			snap: new(dworld).node("n1", cluster.PhaseReady, 4).node("n2", cluster.PhaseReady, 4).node("n3", cluster.PhaseReady, 2).snapshot(cfg, 10, rps(30)),
			memory: func(m *memory) {
				m.app("web", 1).lastMove = dt0.Add(-time.Second)
			},
			app: AppDecision{Action: ActScale, Desired: 8, Reason: "above max 8"},
		},
		{
			name: "within bounds, the up cooldown holds",
			snap: new(dworld).node("n1", cluster.PhaseReady, 2).snapshot(cfg, 2, rps(90)),
			memory: func(m *memory) {
				m.app("web", 1).lastUp = dt0.Add(-time.Minute)
			},
			app: AppDecision{Action: ActHold, HoldKind: HoldCooldown, Desired: 2, Reason: "wanted 6, held at 2: scale-up cooldown, 4m0s left"},
		},
		{
			name: "a draining node is taken back before a machine is bought",
			// n1 is full, one task waits; n2 drains, one task still on it.
			snap: new(dworld).node("n1", cluster.PhaseReady, 4).node("n2", cluster.PhaseDraining, 1).pending(1).snapshot(cfg, 6, rps(36)),
			app:  AppDecision{Action: ActNone, Desired: 6},
			pool: PoolDecision{Action: ActScale, Create: 0, Reclaim: []string{"m2"}, NeedRoom: 1, Reason: "returned m2 to service"},
			acts: []MachineAction{{Machine: "m2", Action: MActActivate, To: cluster.PhaseReady}},
		},
		{
			// Seen on the real stack (docs/bench, the ramp's R20): the node
			// left and a machine was ordered in the same tick.
			name: "a drained node about to be removed is taken back before a machine is bought",
			snap: new(dworld).node("n1", cluster.PhaseReady, 4).node("n2", cluster.PhaseDrained, 0).pending(1).snapshot(cfg, 5, rps(30)),
			app:  AppDecision{Action: ActNone, Desired: 5},
			pool: PoolDecision{Action: ActScale, Create: 0, Reclaim: []string{"m2"}, NeedRoom: 1, Reason: "returned m2 to service"},
			acts: []MachineAction{{Machine: "m2", Action: MActActivate, To: cluster.PhaseReady}},
		},
		{
			name: "a drained node no room needs is removed",
			snap: new(dworld).node("n1", cluster.PhaseReady, 4).node("n2", cluster.PhaseDrained, 0).snapshot(cfg, 4, rps(30)),
			app:  AppDecision{Action: ActNone, Desired: 4},
			acts: []MachineAction{{Machine: "m2", Action: MActRemove, To: cluster.PhaseRemoved}},
		},
		{
			name: "with no drain to take back, a machine is bought",
			snap: new(dworld).node("n1", cluster.PhaseReady, 4).pending(1).snapshot(cfg, 5, rps(37.5)),
			app:  AppDecision{Action: ActNone, Desired: 5},
			pool: PoolDecision{Action: ActScale, Create: 1, NeedRoom: 1, Reason: "1 task needs room; 1 machine of"},
		},
		{
			// Swarm frees a stopping task's room once it has stopped, in
			// seconds: no machine is ordered for a task waiting for it.
			name: "a task still stopping: its room frees, no machine",
			snap: new(dworld).node("n1", cluster.PhaseReady, 3).stopping("n1", 1).pending(1).snapshot(cfg, 4, rps(30)),
			app:  AppDecision{Action: ActNone, Desired: 4},
			pool: PoolDecision{Action: ActNone, NeedRoom: 1},
		},
		{
			name: "nor is a drain cancelled for it",
			snap: new(dworld).node("n1", cluster.PhaseReady, 3).stopping("n1", 1).node("n2", cluster.PhaseDraining, 0).stopping("n2", 1).pending(1).snapshot(cfg, 4, rps(30)),
			app:  AppDecision{Action: ActNone, Desired: 4},
			pool: PoolDecision{Action: ActNone, NeedRoom: 1},
		},
		{
			name: "a draining node is not empty while a task on it stops",
			snap: new(dworld).node("n1", cluster.PhaseReady, 2).node("n2", cluster.PhaseDraining, 0).stopping("n2", 1).snapshot(cfg, 2, rps(30)),
			app:  AppDecision{Action: ActNone, Desired: 2},
		},
		{
			// A global task never moves, but its reservation takes room.
			name: "a global task's room is taken",
			snap: func() *Snapshot {
				w := new(dworld).node("n1", cluster.PhaseReady, 3).pending(1)
				w.tasks = append(w.tasks, cluster.Task{ID: "agent-n1", Service: "agent", NodeID: "n1", State: cluster.TaskRunning, Reservation: cpu(1), Global: true})
				return w.snapshot(cfg, 4, rps(30))
			}(),
			app:  AppDecision{Action: ActNone, Desired: 4},
			pool: PoolDecision{Action: ActScale, Create: 1, NeedRoom: 1, Reason: "1 task needs room; 1 machine of"},
		},
		{
			name: "a global task stopping there (the agent) does not hold it",
			snap: func() *Snapshot {
				w := new(dworld).node("n1", cluster.PhaseReady, 2).node("n2", cluster.PhaseDraining, 0)
				w.stops = append(w.stops, cluster.Task{ID: "agent-n2", Service: "agent", NodeID: "n2", State: cluster.TaskRunning, Global: true})
				return w.snapshot(cfg, 2, rps(30))
			}(),
			app:  AppDecision{Action: ActNone, Desired: 2},
			acts: []MachineAction{{Machine: "m2", Action: MActObserve, To: cluster.PhaseDrained}},
		},
		{
			name: "once it has stopped the node is drained",
			snap: new(dworld).node("n1", cluster.PhaseReady, 2).node("n2", cluster.PhaseDraining, 0).snapshot(cfg, 2, rps(30)),
			app:  AppDecision{Action: ActNone, Desired: 2},
			acts: []MachineAction{{Machine: "m2", Action: MActObserve, To: cluster.PhaseDrained}},
		},
		{
			name: "consolidation: a node at the share whose tasks fit on the others goes",
			// Three nodes at 50 % (not below 0.5): the first rule keeps them
			// all; two of them can take the third's tasks and stay at 75 %.
			snap: new(dworld).node("n1", cluster.PhaseReady, 2).node("n2", cluster.PhaseReady, 2).node("n3", cluster.PhaseReady, 2).snapshot(cfg, 6, rps(30)),
			memory: func(m *memory) {
				for _, id := range []string{"n1", "n2", "n3"} {
					m.unneeded[id] = dt0.Add(-4 * time.Minute)
				}
			},
			app:  AppDecision{Action: ActNone, Desired: 6},
			pool: PoolDecision{Action: ActScale, Remove: []string{"m1"}, Reason: "scale in m1"},
			acts: []MachineAction{{Machine: "m1", Action: MActSelect, To: cluster.PhaseDraining}},
		},
		{
			name: "consolidation waits for the nodes to stay unneeded",
			snap: new(dworld).node("n1", cluster.PhaseReady, 2).node("n2", cluster.PhaseReady, 2).node("n3", cluster.PhaseReady, 2).snapshot(cfg, 6, rps(30)),
			app:  AppDecision{Action: ActNone, Desired: 6},
			// Three nodes are candidates, but only one can go: the reason
			// counts that one, not the three.
			pool: PoolDecision{Action: ActNone, Reason: "1 node unneeded, removable in 3m0s"},
		},
		{
			name: "the wait counts down from when the node became unneeded",
			snap: new(dworld).node("n1", cluster.PhaseReady, 2).node("n2", cluster.PhaseReady, 2).node("n3", cluster.PhaseReady, 2).snapshot(cfg, 6, rps(30)),
			memory: func(m *memory) {
				for _, id := range []string{"n1", "n2", "n3"} {
					m.unneeded[id] = dt0.Add(-65 * time.Second)
				}
			},
			app:  AppDecision{Action: ActNone, Desired: 6},
			pool: PoolDecision{Action: ActNone, Reason: "1 node unneeded, removable in 1m55s"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := newMemory()
			if c.memory != nil {
				c.memory(m)
			}
			snapBefore, memBefore := cloneSnapshot(c.snap), m.clone()
			p, next := decide(cfg, c.snap, m)
			// The contract: the snapshot and the memory given are unchanged.
			if !reflect.DeepEqual(c.snap, snapBefore) {
				t.Error("decide changed its snapshot")
			}
			if !reflect.DeepEqual(m, memBefore) {
				t.Error("decide changed the memory it was given")
			}
			if next == m {
				t.Error("decide returned the memory it was given")
			}
			a := p.Apps[0]
			if a.Action != c.app.Action || a.HoldKind != c.app.HoldKind || a.Desired != c.app.Desired ||
				!strings.HasPrefix(a.Reason, c.app.Reason) {
				t.Errorf("app: %s %s desired %d: %q\nwant %s %s desired %d: %q...", a.Action, a.HoldKind, a.Desired, a.Reason,
					c.app.Action, c.app.HoldKind, c.app.Desired, c.app.Reason)
			}
			if c.pool.Action != "" {
				d := p.Pools[0]
				if d.Action != c.pool.Action || d.Create != c.pool.Create || d.NeedRoom != c.pool.NeedRoom ||
					!reflect.DeepEqual(d.Reclaim, c.pool.Reclaim) || !reflect.DeepEqual(d.Remove, c.pool.Remove) ||
					!strings.HasPrefix(d.Reason, c.pool.Reason) {
					t.Errorf("pool: %s create %d need %d reclaim %v remove %v: %q\nwant %s create %d need %d reclaim %v remove %v: %q...",
						d.Action, d.Create, d.NeedRoom, d.Reclaim, d.Remove, d.Reason,
						c.pool.Action, c.pool.Create, c.pool.NeedRoom, c.pool.Reclaim, c.pool.Remove, c.pool.Reason)
				}
			}
			var acts []MachineAction
			for _, a := range p.Machines {
				acts = append(acts, MachineAction{Machine: a.Machine, Action: a.Action, To: a.To})
			}
			if !reflect.DeepEqual(acts, c.acts) {
				t.Errorf("machine actions %+v, want %+v", acts, c.acts)
			}
		})
	}
}

func cloneSnapshot(s *Snapshot) *Snapshot {
	c := *s
	c.State.Services = append([]cluster.Service(nil), s.State.Services...)
	c.State.Tasks = append([]cluster.Task(nil), s.State.Tasks...)
	c.State.Stopping = append([]cluster.Task(nil), s.State.Stopping...)
	c.State.Nodes = append([]cluster.Node(nil), s.State.Nodes...)
	c.Records = nil
	for _, r := range s.Records {
		c.Records = append(c.Records, r.Clone())
	}
	return &c
}

// A schedule's time zone is loaded with the descriptor, not on every tick:
// the decision reads Policy.Location, whatever Timezone says afterwards.
func TestScheduleZoneLoadedWithTheDescriptor(t *testing.T) {
	cfg, err := config.Parse("decide.yaml", []byte(decideConfig+`
      - type: schedule
        timezone: Asia/Tokyo
        windows: [{start: "17:00", end: "18:00", min: 5}]
`))
	if err != nil {
		t.Fatal(err)
	}
	sched := &cfg.Apps[0].Policies[1]
	if sched.Location == nil || sched.Location.String() != "Asia/Tokyo" {
		t.Fatalf("schedule's location after loading: %v", sched.Location)
	}
	// A zone the decision would have to load cannot be loaded: if it were
	// read now, the window (17:00 in Tokyo is 08:00 UTC) would not apply.
	sched.Timezone = "Nowhere/Unknown"
	s := new(dworld).node("n1", cluster.PhaseReady, 2).node("n2", cluster.PhaseReady, 2).snapshot(cfg, 4, Sample{Value: 30, OK: true})
	s.Metrics["web"] = append(s.Metrics["web"], Sample{})
	p, _ := decide(cfg, s, newMemory())
	if a := p.Apps[0]; a.Min != 5 || a.Desired != 5 || a.Action != ActScale {
		t.Errorf("at 08:00 UTC (17:00 in Tokyo): %s desired %d min %d: %s", a.Action, a.Desired, a.Min, a.Reason)
	}
}
