package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/sim"
	"github.com/hoist/hoist/internal/store"
)

var (
	_ engine.Store    = (*store.Bolt)(nil)
	_ engine.Recorder = (*store.Bolt)(nil)
)

func open(t *testing.T, dir string, ret store.Retention) *store.Bolt {
	t.Helper()
	b, err := store.OpenBolt(dir, store.BoltOptions{Retention: ret, FlushEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var t0 = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)

func ev(i int) events.Event {
	return events.Event{Time: t0.Add(time.Duration(i) * time.Minute), Kind: events.AppScale, App: fmt.Sprintf("app%d", i%3), Reason: "r"}
}

func TestBoltSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	b := open(t, dir, store.Retention{})
	r := cluster.MachineRecord{Name: "w-1", Pool: "workers", OrderedAt: t0}
	r.SetPhase(cluster.PhaseDraining, t0, "drain")
	if err := b.PutMachine(ctx, r); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if got := b.Record(ev(i)); got.Seq != uint64(i+1) {
			t.Fatalf("seq %d, want %d", got.Seq, i+1)
		}
	}
	app := config.App{Name: "batch", Image: "busybox", Pools: []string{"workers"}, Replicas: config.Replicas{Min: 1, Max: 3},
		Resources: config.Resources{Limits: config.Shape{CPUs: 0.5, Memory: 256 << 20}},
		Policies:  []config.Policy{{Type: config.PolicyTarget, Metric: "cpu", Target: 50, Window: config.Duration(30 * time.Second)}}}
	if err := b.PutApp(ctx, app); err != nil {
		t.Fatal(err)
	}
	lower := 20.0
	ov := store.Override{App: "web", Replicas: config.Replicas{Min: 3, Max: 9},
		Policies: []config.Policy{{Type: config.PolicyThreshold, Metric: "cpu", Upper: 80, Lower: &lower}}}
	if err := b.PutOverride(ctx, ov); err != nil {
		t.Fatal(err)
	}
	// Close without an explicit flush: Close writes what is queued.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b = open(t, dir, store.Retention{})
	defer b.Close()
	ms, err := b.Machines(ctx)
	if err != nil || len(ms) != 1 || ms[0].Phase != cluster.PhaseDraining || len(ms[0].History) != 1 {
		t.Fatalf("machines after restart: %+v %v", ms, err)
	}
	evs, err := b.Page(events.Filter{}, 0, true, 100)
	if err != nil || len(evs) != 10 || evs[9].Seq != 10 {
		t.Fatalf("events after restart: %d %v", len(evs), err)
	}
	if got := b.Record(ev(10)); got.Seq != 11 {
		t.Fatalf("sequence restarted: %d", got.Seq)
	}
	apps, err := b.Apps(ctx)
	if err != nil || len(apps) != 1 || apps[0].Resources.Limits.Memory != 256<<20 || apps[0].Policies[0].Window.D() != 30*time.Second {
		t.Fatalf("apps after restart: %+v %v", apps, err)
	}
	ovs, err := b.Overrides(ctx)
	if err != nil || ovs["web"].Replicas.Max != 9 || *ovs["web"].Policies[0].Lower != 20 {
		t.Fatalf("overrides after restart: %+v %v", ovs, err)
	}
	if err := b.DeleteApp(ctx, "batch"); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteApp(ctx, "batch"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if err := b.DeleteOverride(ctx, "web"); err != nil {
		t.Fatal(err)
	}
}

func TestBoltPage(t *testing.T) {
	b := open(t, t.TempDir(), store.Retention{})
	defer b.Close()
	for i := 0; i < 30; i++ {
		b.Record(ev(i))
	}
	seqs := func(evs []events.Event) []uint64 {
		var out []uint64
		for _, e := range evs {
			out = append(out, e.Seq)
		}
		return out
	}
	f := events.Filter{App: "app1"} // seqs 2, 5, 8, ... 29
	cases := []struct {
		cursor  uint64
		forward bool
		limit   int
		want    string
	}{
		{0, true, 3, "[2 5 8]"},
		{8, true, 3, "[11 14 17]"},
		{0, false, 3, "[23 26 29]"},
		{23, false, 3, "[14 17 20]"},
		{3, false, 3, "[2]"},
		{100, false, 2, "[26 29]"},
		{29, true, 3, "[]"},
	}
	for _, c := range cases {
		got, err := b.Page(f, c.cursor, c.forward, c.limit)
		if err != nil {
			t.Fatal(err)
		}
		if s := fmt.Sprint(seqs(got)); s != c.want {
			t.Errorf("Page(cursor %d, forward %v, %d) = %s, want %s", c.cursor, c.forward, c.limit, s, c.want)
		}
	}
	got, _ := b.Page(events.Filter{Since: t0.Add(10 * time.Minute), Until: t0.Add(12 * time.Minute)}, 0, true, 10)
	if s := fmt.Sprint(seqs(got)); s != "[11 12]" {
		t.Errorf("time filter: %s", s)
	}
}

func TestBoltRetention(t *testing.T) {
	dir := t.TempDir()
	b := open(t, dir, store.Retention{MaxEvents: 10})
	for i := 0; i < 25; i++ {
		b.Record(ev(i))
		if i%7 == 0 {
			if err := b.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	evs, _ := b.Page(events.Filter{}, 0, true, 100)
	if len(evs) != 10 || evs[0].Seq != 16 || b.EventCount() != 10 {
		t.Fatalf("count retention kept %d from %d (count %d)", len(evs), evs[0].Seq, b.EventCount())
	}
	b.Close()
	// By age, measured from the newest event: 25 minutes of events, 5 kept.
	b = open(t, dir, store.Retention{MaxAge: 4*time.Minute + 30*time.Second})
	defer b.Close()
	if b.EventCount() != 10 {
		t.Fatalf("count after reopen: %d", b.EventCount())
	}
	b.Record(ev(25))
	evs, _ = b.Page(events.Filter{}, 0, true, 100)
	if len(evs) != 5 || evs[0].Seq != 22 || evs[4].Seq != 26 {
		t.Fatalf("age retention: %d events from %d", len(evs), evs[0].Seq)
	}
}

func TestBoltSubscribe(t *testing.T) {
	b := open(t, t.TempDir(), store.Retention{})
	ch, stop := b.Subscribe(1)
	b.Record(ev(0))
	b.Record(ev(1)) // the buffer is full: dropped for this subscriber, kept in the log
	if e := <-ch; e.Seq != 1 {
		t.Fatalf("got %d", e.Seq)
	}
	select {
	case e := <-ch:
		t.Fatalf("a full subscriber got %d", e.Seq)
	default:
	}
	if evs, _ := b.Page(events.Filter{}, 1, true, 10); len(evs) != 1 || evs[0].Seq != 2 {
		t.Fatalf("the dropped event is not in the log: %v", evs)
	}
	stop()
	stop()
	ch2, _ := b.Subscribe(4)
	b.Close()
	if _, ok := <-ch2; ok {
		t.Fatal("subscription not closed with the store")
	}
}

func TestBoltLocked(t *testing.T) {
	dir := t.TempDir()
	b := open(t, dir, store.Retention{})
	defer b.Close()
	if _, err := store.OpenBolt(dir, store.BoltOptions{}); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second open: %v", err)
	}
}

// drainConfig is a pool whose extra machines become idle at once: the app
// stays at its minimum, so machines added by hand are drained soon after.
const drainConfig = `
controller: {interval: 10s, drain_timeout: 10m}
sim: {start: "2026-01-05T08:00:00Z"}
pools:
  - name: workers
    min: 1
    max: 4
    machine: {cpus: 2, memory: 4GiB}
    boot_time: 20s
    cooldown: 1m
    scale_down: {below: 0.5, for: 1m}
apps:
  - name: web
    image: demo
    pools: [workers]
    resources:
      reservations: {cpus: 0.5, memory: 256MiB}
    replicas: {min: 3, max: 3}
`

// newEngine builds an engine on the simulated cluster c and the store b, as
// a restarted hoist does.
func newEngine(t *testing.T, cfg *config.Config, c *sim.Cluster, b *store.Bolt) *engine.Engine {
	t.Helper()
	e, err := engine.New(cfg, engine.Deps{Orchestrator: c, Providers: c.Providers(), Metrics: c, Clock: c, Store: b, Events: b})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// untilDraining runs a stack on a bolt store until a machine is draining,
// then closes the store (the restart), returning the machine.
func untilDraining(t *testing.T, dir string) (*config.Config, *sim.Cluster, string) {
	t.Helper()
	cfg, err := config.Parse("drain.yaml", []byte(drainConfig))
	if err != nil {
		t.Fatal(err)
	}
	b := open(t, dir, store.Retention{})
	stack, err := sim.NewStack(cfg, sim.StackOptions{Store: b, Recorder: b})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	stack.Step(ctx)
	if _, err := stack.Engine.RequestPoolChange(ctx, "workers", 3, "test"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if _, err := stack.Step(ctx); err != nil {
			t.Fatal(err)
		}
		for _, r := range stack.Engine.Machines() {
			if r.Phase == cluster.PhaseDraining {
				if err := b.Close(); err != nil {
					t.Fatal(err)
				}
				return cfg, stack.Cluster, r.Name
			}
		}
	}
	t.Fatalf("no machine drained: %+v", stack.Engine.Machines())
	return nil, nil, ""
}

func phaseOf(e *engine.Engine, name string) cluster.Phase {
	for _, r := range e.Machines() {
		if r.Name == name {
			return r.Phase
		}
	}
	return ""
}

// TestDrainResumesAfterRestart: hoist stops while a node drains; the new
// process, with only what the store kept, carries the scale-in through.
func TestDrainResumesAfterRestart(t *testing.T) {
	dir := t.TempDir()
	cfg, c, name := untilDraining(t, dir)
	b := open(t, dir, store.Retention{})
	defer b.Close()
	e := newEngine(t, cfg, c, b)
	ctx := context.Background()
	var seen []cluster.Phase
	for i := 0; i < 20 && phaseOf(e, name) != cluster.PhaseDestroyed; i++ {
		if _, err := e.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		c.Advance(cfg.Interval())
		seen = append(seen, phaseOf(e, name))
	}
	if phaseOf(e, name) != cluster.PhaseDestroyed {
		t.Fatalf("%s did not finish after the restart: %v", name, seen)
	}
	ms, _ := c.Provider("workers").List(ctx)
	for _, m := range ms {
		if m.Name == name {
			t.Fatalf("%s still at the provider", name)
		}
	}
	// The log holds both sides of the restart, in one sequence.
	evs, _ := b.Page(events.Filter{Machine: name}, 0, true, 100)
	var kinds []events.Kind
	for _, ev := range evs {
		kinds = append(kinds, ev.Kind)
	}
	want := []events.Kind{events.MachineSelected, events.MachineDraining, events.MachineDrained, events.MachineRemoved, events.MachineDestroyed}
	if fmt.Sprint(kinds[len(kinds)-5:]) != fmt.Sprint(want) {
		t.Fatalf("events of %s: %v", name, kinds)
	}
	st, _ := c.State(ctx)
	if running := countRunning(st, "web"); running != 3 {
		t.Fatalf("web has %d running tasks after the scale-in, want 3", running)
	}
}

// TestCancelledDrainSurvivesRestart: a drain cancelled just before hoist
// stopped returns the node to service after the restart.
func TestCancelledDrainSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	cfg, c, name := untilDrainingThenCancel(t, dir)
	ctx := context.Background()
	b := open(t, dir, store.Retention{})
	defer b.Close()
	e := newEngine(t, cfg, c, b)
	if _, err := e.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if p := phaseOf(e, name); p != cluster.PhaseReady {
		t.Fatalf("%s is %s after the restart, want ready", name, p)
	}
	st, _ := c.State(ctx)
	for _, n := range st.Nodes {
		if n.Machine == name && n.Availability != cluster.Active {
			t.Fatalf("node of %s is %s", name, n.Availability)
		}
	}
	evs, _ := b.Page(events.Filter{Machine: name, Kinds: []events.Kind{events.MachineDrainCancelled}}, 0, true, 10)
	if len(evs) != 1 {
		t.Fatalf("drain_cancelled events: %v", evs)
	}
}

// untilDrainingThenCancel is untilDraining with the drain cancelled (and the
// cancel persisted) before the store closes.
func untilDrainingThenCancel(t *testing.T, dir string) (*config.Config, *sim.Cluster, string) {
	t.Helper()
	cfg, err := config.Parse("drain.yaml", []byte(drainConfig))
	if err != nil {
		t.Fatal(err)
	}
	b := open(t, dir, store.Retention{})
	stack, err := sim.NewStack(cfg, sim.StackOptions{Store: b, Recorder: b})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	stack.Step(ctx)
	if _, err := stack.Engine.RequestPoolChange(ctx, "workers", 3, "test"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if _, err := stack.Step(ctx); err != nil {
			t.Fatal(err)
		}
		for _, r := range stack.Engine.Machines() {
			if r.Phase == cluster.PhaseDraining {
				if err := stack.Engine.CancelDrain(ctx, r.Name); err != nil {
					t.Fatal(err)
				}
				if err := b.Close(); err != nil {
					t.Fatal(err)
				}
				return cfg, stack.Cluster, r.Name
			}
		}
	}
	t.Fatalf("no machine drained")
	return nil, nil, ""
}

func countRunning(st cluster.State, service string) int {
	n := 0
	for _, t := range st.Tasks {
		if t.Service == service && t.State == cluster.TaskRunning {
			n++
		}
	}
	return n
}

// Pool requests are on disk when PutPoolRequest returns, one per pool (the
// newest), and are forgotten only by the number that was carried out.
func TestBoltPoolRequests(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	b := open(t, dir, store.Retention{})
	for _, r := range []cluster.PoolRequest{
		{Pool: "workers", Seq: 1, Target: 5, Asked: 5, Reason: "scaledown 1", Time: t0},
		{Pool: "workers", Seq: 2, Target: 6, Asked: 99, Reason: "scaleto 99", Time: t0},
		{Pool: "gpu", Seq: 3, Target: 1, Asked: 1, Reason: "scaleto 1", Time: t0},
	} {
		if err := b.PutPoolRequest(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	// An older number carried out does not forget the newer request.
	if err := b.DeletePoolRequest(ctx, "workers", 1); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = open(t, dir, store.Retention{})
	defer b.Close()
	got, err := b.PoolRequests(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Pool != "gpu" || got[1].Seq != 2 || got[1].Target != 6 || !got[1].Time.Equal(t0) {
		t.Fatalf("after reopening: %+v", got)
	}
	if err := b.DeletePoolRequest(ctx, "workers", 2); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.PoolRequests(ctx); len(got) != 1 {
		t.Fatalf("after the delete: %+v", got)
	}
}
