package engine_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/sim"
	"github.com/hoist/hoist/internal/store"
)

// manualPool: a pool that only an operator scales (its own scale-in is off,
// the app is small), so every change in it comes from the requests.
const manualPool = `
controller: {interval: 10s}
sim: {container_start: 2s}
pools:
  - name: workers
    min: 1
    max: 6
    machine: {cpus: 2, memory: 4GiB}
    boot_time: 40s
    cooldown: 1m
    scale_down: {disabled: true}
apps:
  - name: web
    image: demo
    pools: [workers]
    resources: {reservations: {cpus: 0.25, memory: 128MiB}}
    replicas: {min: 1, max: 1}
`

func active(recs []cluster.MachineRecord) int {
	n := 0
	for _, r := range recs {
		if r.Phase.Counts() {
			n++
		}
	}
	return n
}

// Manual requests are applied in the order they were accepted, the last one
// winning, and relative ones count from where the pool is heading: the issue's
// +2, -1, =99 on a pool of 4 with max 6 ends at 6, not at 5 (the -1 used to
// wait for the booting machines and run after the =99).
func TestManualRequestsLastOneWins(t *testing.T) {
	for _, tc := range []struct {
		steps   []string // +n, -n: a step; =n: a target
		answers []int    // each request's target
		want    int
	}{
		{[]string{"+2", "-1", "=99"}, []int{6, 5, 6}, 6},
		{[]string{"+2", "-1"}, []int{6, 5}, 5},
		{[]string{"-1", "-1", "+1"}, []int{3, 2, 3}, 3},
		{[]string{"=2", "=5"}, []int{2, 5}, 5},
	} {
		t.Run(strings.Join(tc.steps, " "), func(t *testing.T) {
			ctx := context.Background()
			s, err := sim.NewStack(parse(t, manualPool), sim.StackOptions{})
			if err != nil {
				t.Fatal(err)
			}
			e, c := s.Engine, s.Cluster
			tickFor(t, e, c, 10*time.Second)
			if _, err := e.RequestPoolChange(ctx, "workers", 4, "setup"); err != nil {
				t.Fatal(err)
			}
			tickFor(t, e, c, 2*time.Minute)
			if got := c.Pool("workers").Ready; got != 4 {
				t.Fatalf("setup: %d ready, want 4", got)
			}
			// The requests, back to back between two ticks.
			var got []int
			for _, step := range tc.steps {
				n, err := strconv.Atoi(strings.TrimPrefix(step, "="))
				if err != nil {
					t.Fatal(err)
				}
				var target int
				if step[0] == '=' {
					target, err = e.RequestPoolChange(ctx, "workers", n, step)
				} else {
					var r cluster.PoolRequest
					r, err = e.RequestPoolStep(ctx, "workers", n, step)
					target = r.Target
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, target)
			}
			if !slices.Equal(got, tc.answers) {
				t.Errorf("answers %v, want %v", got, tc.answers)
			}
			tickFor(t, e, c, 10*time.Minute)
			if n := c.Pool("workers").Ready; n != tc.want {
				t.Errorf("pool ended at %d ready, want %d", n, tc.want)
			}
			if n := active(e.Machines()); n != tc.want {
				t.Errorf("%d active records, want %d", n, tc.want)
			}
			if r := e.PoolRequests(); len(r) != 0 {
				t.Errorf("requests left after they were carried out: %+v", r)
			}
		})
	}
}

// A scale-down accepted just before hoist dies is carried out by the next
// process, which finds it in the store.
func TestManualScaleDownSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	cfg := parse(t, manualPool)
	c, err := sim.New(cfg, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := store.NewMemory()
	ev := events.NewMemory(10000)
	e1 := newEngine(t, cfg, c, st, ev, c.Providers())
	tickFor(t, e1, c, 10*time.Second)
	if _, err := e1.RequestPoolChange(ctx, "workers", 4, "setup"); err != nil {
		t.Fatal(err)
	}
	tickFor(t, e1, c, 2*time.Minute)
	// Accepted, and the process dies before its next tick.
	if r, err := e1.RequestPoolStep(ctx, "workers", -2, "scaledown 2"); err != nil || r.Target != 2 {
		t.Fatalf("%+v %v", r, err)
	}
	e2 := newEngine(t, cfg, c, st, ev, c.Providers())
	tickFor(t, e2, c, 5*time.Minute)
	if n := c.Pool("workers").Ready; n != 2 {
		t.Fatalf("after the restart the pool has %d ready machines, want 2", n)
	}
	if r, _ := st.PoolRequests(ctx); len(r) != 0 {
		t.Fatalf("request kept after it was carried out: %+v", r)
	}
}

// A scale-up stored but not ordered (the process died between the two, or
// the store refused the machine records) is ordered by the next tick, once.
func TestStoredScaleUpIsOrderedOnce(t *testing.T) {
	ctx := context.Background()
	cfg := parse(t, manualPool)
	c, err := sim.New(cfg, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := store.NewMemory()
	ev := events.NewMemory(10000)
	// What a previous process left: a request, no machine yet.
	if err := st.PutPoolRequest(ctx, cluster.PoolRequest{Pool: "workers", Seq: 7, Target: 3, Asked: 3, Reason: "scaleto 3", Time: c.Now()}); err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, cfg, c, st, ev, c.Providers())
	tickFor(t, e, c, 3*time.Minute)
	if n := c.Pool("workers").Ready; n != 3 {
		t.Fatalf("%d ready, want 3", n)
	}
	if n := len(kinds(ev.List(events.Filter{}), events.MachineOrdered)); n != 2 {
		t.Fatalf("%d machines ordered, want 2 (the simulator starts the pool at its min, 1)", n)
	}
	// A new request is numbered after the stored one.
	r, err := e.RequestPoolStep(ctx, "workers", 1, "scaleup 1")
	if err != nil || r.Seq <= 7 || r.Target != 4 {
		t.Fatalf("%+v %v", r, err)
	}
}

// A reload that drops apps removes their services (two ticks later) with an
// event, and their machines become unneeded; a service labelled hoist.keep
// stays; a dry run only says so.
func TestReloadPrunesDroppedApps(t *testing.T) {
	const desc = `
controller: {interval: 10s}
sim: {container_start: 2s}
pools:
  - name: workers
    min: 1
    max: 6
    machine: {cpus: 2, memory: 4GiB}
    boot_time: 40s
    cooldown: 1m
    scale_down: {below: 0.5, for: 1m}
apps:
`
	app := func(name, extra string) string {
		return "  - name: " + name + "\n    image: demo\n    pools: [workers]\n    resources: {reservations: {cpus: 1.5, memory: 128MiB}}\n    replicas: {min: 1, max: 1}\n" + extra
	}
	all := desc + app("a", "") + app("b", "") + app("c", "") + app("d", "    labels: {hoist.keep: \"true\"}\n")
	for _, dry := range []bool{false, true} {
		s, err := sim.NewStack(parse(t, all), sim.StackOptions{})
		if err != nil {
			t.Fatal(err)
		}
		e, c := s.Engine, s.Cluster
		tickFor(t, e, c, 3*time.Minute)
		if n := c.Pool("workers").Ready; n != 4 {
			t.Fatalf("%d machines for 4 apps of 1.5 CPUs, want 4", n)
		}
		cfg := parse(t, desc+app("a", ""))
		cfg.Controller.DryRun = dry
		if err := e.SetConfig(cfg); err != nil {
			t.Fatal(err)
		}
		tickFor(t, e, c, 10*time.Second)
		if n := len(services(t, c)); n != 4 {
			t.Fatalf("first tick after the reload removed services: %d left", n)
		}
		tickFor(t, e, c, 10*time.Second)
		var names []string
		for _, svc := range services(t, c) {
			names = append(names, svc.Name)
		}
		want := []string{"a", "d"}
		if dry {
			want = []string{"a", "b", "c", "d"}
		}
		if !slices.Equal(names, want) {
			t.Fatalf("dry %v: services %v, want %v", dry, names, want)
		}
		removed := kinds(s.Events.List(events.Filter{}), events.AppRemoved)
		if len(removed) != 2 || removed[0].DryRun != dry || !strings.Contains(removed[0].Reason, "hoist.keep=true") {
			t.Fatalf("dry %v: removal events %+v", dry, removed)
		}
		if dry {
			continue
		}
		// The freed machines go by the pool's own scale-in.
		tickFor(t, e, c, 5*time.Minute)
		if n := c.Pool("workers").Ready; n != 2 {
			t.Errorf("%d machines left for a and the kept d, want 2", n)
		}
	}
}

func services(t *testing.T, c *sim.Cluster) []cluster.Service {
	t.Helper()
	st, err := c.State(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.Services
}
