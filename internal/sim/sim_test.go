package sim

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/engine"
)

func TestQueueModel(t *testing.T) {
	// M/M/1/K with ρ = 0.5, K = 1: π0 = 2/3, π1 = 1/3 (blocked).
	r := Queue(25, 50, 1, 1)
	if math.Abs(r.Drop-1.0/3) > 1e-12 || math.Abs(r.Busy-1.0/3) > 1e-12 {
		t.Errorf("K=1: drop %v busy %v, want 1/3 and 1/3", r.Drop, r.Busy)
	}
	// Large K approaches M/M/1: response time ~ Exp(μ-λ); p95 = ln 20 / (μ-λ).
	r = Queue(40, 50, 1000, 0.2)
	if want := math.Log(20) / 10; math.Abs(r.P95-want)/want > 0.01 {
		t.Errorf("M/M/1 p95 = %v, want %v", r.P95, want)
	}
	// P(T > 0.2 s) = exp(-(μ-λ) 0.2) = exp(-2).
	if want := math.Exp(-2); math.Abs(r.OverSLO-want) > 1e-3 {
		t.Errorf("M/M/1 tail = %v, want %v", r.OverSLO, want)
	}
	// Overload: ρ = 2 drops about half and stays busy.
	r = Queue(100, 50, 100, 0.5)
	if r.Drop < 0.49 || r.Drop > 0.51 || r.Busy < 0.99 {
		t.Errorf("overload: %+v", r)
	}
	// Huge overload must not overflow.
	r = Queue(1e6, 50, 100, 0.5)
	if math.IsNaN(r.Drop) || r.Drop < 0.99 || math.IsNaN(r.P95) {
		t.Errorf("huge overload: %+v", r)
	}
	// Demand: 280 req/s at 50 req/s per replica with a 250 ms p95 needs more than 5.6.
	n := MinReplicas(280, 50, 100, 0.25, 0.001)
	if n < 6 || n > 8 {
		t.Errorf("MinReplicas = %d, want 6..8", n)
	}
	if r := Queue(280/float64(n), 50, 100, 0.25); r.P95 > 0.25 {
		t.Errorf("MinReplicas %d does not meet the SLO: %+v", n, r)
	}
	if r := Queue(280/float64(n-1), 50, 100, 0.25); r.P95 <= 0.25 && r.Drop <= 0.001 {
		t.Errorf("MinReplicas %d is not the fewest", n)
	}
}

func TestSwarmReason(t *testing.T) {
	cases := map[[3]int]string{
		{0, 0, 2}: "no suitable node (insufficient resources on 2 nodes)",
		{1, 0, 1}: "no suitable node (1 node not available for new tasks; insufficient resources on 1 node)",
		{0, 3, 0}: "no suitable node (scheduling constraints not satisfied on 3 nodes)",
		{0, 0, 0}: "no suitable node (no nodes)",
	}
	for in, want := range cases {
		if got := swarmReason(in[0], in[1], in[2]); got != want {
			t.Errorf("%v: %q, want %q", in, got, want)
		}
	}
}

const twoPools = `
pools:
  - {name: a, min: 2, max: 4, machine: {cpus: 2, memory: 4GiB}, boot_time: 30s}
  - {name: b, min: 1, max: 2, machine: {cpus: 1, memory: 2GiB}, boot_time: 30s}
apps:
  - name: web
    image: hoist/demoapp:latest
    pools: [a]
    replicas: {min: 1, max: 10}
    resources: {reservations: {cpus: 0.5, memory: 512MiB}}
`

func newCluster(t *testing.T, y string) *Cluster {
	t.Helper()
	cfg, err := config.Parse("t.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPlacementLikeSwarm(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, twoPools)
	app, _ := c.cfg.App("web")
	if err := c.Deploy(ctx, *app, 10); err != nil {
		t.Fatal(err)
	}
	c.Advance(5 * time.Second)
	st, _ := c.State(ctx)
	perNode := map[string]int{}
	pending := 0
	for _, tk := range st.Tasks {
		if tk.NodeID != "" {
			perNode[tk.NodeID]++
			if tk.State != cluster.TaskRunning {
				t.Errorf("task %s not running after the start delay: %s", tk.ID, tk.State)
			}
		} else {
			pending++
			// Pool b's node fails the constraint; pool a's two are full.
			want := "no suitable node (scheduling constraints not satisfied on 1 node; insufficient resources on 2 nodes)"
			if tk.Reason != want || !tk.PendingForResources() {
				t.Errorf("pending reason %q", tk.Reason)
			}
		}
	}
	// 2 machines of 2 CPUs hold 4 tasks of 0.5 each, spread evenly; 2 wait.
	if perNode["node-a-init0"] != 4 || perNode["node-a-init1"] != 4 || pending != 2 {
		t.Errorf("placement %v, pending %d", perNode, pending)
	}
	// A new machine boots and takes the pending tasks.
	if _, err := c.Provider("a").Create(ctx, "a-new"); err != nil {
		t.Fatal(err)
	}
	// Create is idempotent by name.
	if _, err := c.Provider("a").Create(ctx, "a-new"); err != nil {
		t.Fatal(err)
	}
	ms, _ := c.Provider("a").List(ctx)
	if len(ms) != 3 || ms[2].Status != cluster.MachineCreating {
		t.Fatalf("machines %+v", ms)
	}
	c.Advance(40 * time.Second)
	if a := c.App("web"); a.Running != 10 || a.Pending != 0 {
		t.Errorf("after the boot: %+v", a)
	}
	// Removing an active node is refused, as Swarm does without --force.
	if err := c.RemoveNode(ctx, "node-a-new"); !errors.Is(err, ErrNotDrained) {
		t.Errorf("RemoveNode of an active node: %v", err)
	}
	// Drain moves its tasks away (here: no room, they wait), then removal works.
	if err := c.Drain(ctx, "node-a-new"); err != nil {
		t.Fatal(err)
	}
	c.Advance(5 * time.Second)
	if a := c.App("web"); a.Pending != 2 {
		t.Errorf("after the drain: %+v", a)
	}
	if err := c.RemoveNode(ctx, "node-a-new"); err != nil {
		t.Fatal(err)
	}
	if err := c.Provider("a").Destroy(ctx, "a-new"); err != nil {
		t.Fatal(err)
	}
	if c.Stats().LostNodes != 0 {
		t.Error("a drained, removed node counted as lost")
	}
	// Scaling down removes pending tasks first.
	if err := c.Scale(ctx, "web", 8); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Second)
	if a := c.App("web"); a.Running != 8 || a.Pending != 0 {
		t.Errorf("after scale-down: %+v", a)
	}
}

func TestMetrics(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, strings.Replace(twoPools, "    resources:", `    load: {cpu_per_request: 20ms, pattern: {shape: constant, base: 60}}
    resources:`, 1)+"      \n")
	if _, err := c.Value(ctx, engine.MetricQuery{App: "web", Metric: "cpu", Window: 10 * time.Second}); !errors.Is(err, engine.ErrNoData) {
		t.Fatalf("no replica yet: %v", err)
	}
	app, _ := c.cfg.App("web")
	_ = c.Deploy(ctx, *app, 2)
	c.Advance(time.Minute)
	// 60 req/s on 2 replicas of 0.5 CPU (no limit: the reservation is the
	// size) at 20 ms: μ = 25 req/s, ρ = 30/25 > 1: saturated.
	cpu, err := c.Value(ctx, engine.MetricQuery{App: "web", Metric: "cpu", Window: 10 * time.Second})
	if err != nil || cpu < 99 {
		t.Errorf("cpu = %v, %v; want saturated", cpu, err)
	}
	rps, _ := c.Value(ctx, engine.MetricQuery{App: "web", Metric: "rps", Window: 10 * time.Second})
	if math.Abs(rps-30) > 1e-9 {
		t.Errorf("rps per replica = %v, want 30", rps)
	}
	if _, err := c.Value(ctx, engine.MetricQuery{App: "web", Query: "up"}); !errors.Is(err, engine.ErrNoData) {
		t.Errorf("PromQL on the simulator: %v", err)
	}
	if a := c.App("web"); a.Dropped <= 0 || a.Demand < 3 {
		t.Errorf("overloaded app: %+v", a)
	}
}

// Stats.tick's one-pass count gives poolCounts' Ready and every machine of
// the pool, at each tick of a day of the benchmark's app (machines ordered,
// booting, drained and removed as the load rises and falls).
func TestReadyAndExistingAgreeWithPoolCounts(t *testing.T) {
	stack, err := NewStack(benchConfig(1), StackOptions{EventLimit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	_, err = stack.Run(context.Background(), RunOptions{Duration: 24 * time.Hour, OnTick: func(s *Stack, _ *engine.Plan) {
		c := s.Cluster
		c.mu.Lock()
		defer c.mu.Unlock()
		ready, exist := c.readyAndExisting("workers")
		all := 0
		for _, m := range c.byName {
			if m.pool == "workers" {
				all++
			}
		}
		if want := c.poolCounts("workers").Ready; ready != want || exist != all {
			t.Fatalf("%s: ready %d, existing %d; poolCounts' Ready %d, machines %d", c.now, ready, exist, want, all)
		}
		checked++
	}})
	if err != nil {
		t.Fatal(err)
	}
	if checked == 0 {
		t.Fatal("no tick checked")
	}
}

// An app's metric over a window is the mean of that field over the samples
// with replicas running, newest first; an unknown metric is no data, as is a
// window without any such sample.
func TestAppLoadValueReadsEachMetric(t *testing.T) {
	l := &appLoad{}
	for i := 0; i < 30; i++ {
		f := float64(i)
		l.push(sample{cpu: f, mem: 2 * f, rps: 3 * f, latency: 4 * f, rx: 5 * f, tx: 6 * f, ok: i%4 != 0})
	}
	for k, metric := range []string{"cpu", "memory", "rps", "latency_p95", "net_rx", "net_tx"} {
		sum, got := 0.0, 0
		for i := 29; i >= 20; i-- { // the last 10 s
			if i%4 != 0 {
				sum += float64(k+1) * float64(i)
				got++
			}
		}
		v, err := l.value(metric, 10*time.Second)
		if err != nil || v != sum/float64(got) {
			t.Errorf("%s: %v, %v; want %v", metric, v, err, sum/float64(got))
		}
	}
	if _, err := l.value("gpu", 10*time.Second); !errors.Is(err, engine.ErrNoData) || !strings.Contains(err.Error(), `metric "gpu"`) {
		t.Errorf("unknown metric: %v", err)
	}
	l.push(sample{})
	if _, err := l.value("gpu", time.Second); !errors.Is(err, engine.ErrNoData) || !strings.Contains(err.Error(), "no running replica") {
		t.Errorf("unknown metric, no sample: %v", err)
	}
}

// Drain moves a node's tasks make before break, as hoist's Swarm adapter
// does (docs/swarm.md): each keeps serving until its replacement runs, and
// one that cannot be placed keeps serving where it is. DrainStopFirst (Swarm's
// own drain, the reference policies') stops them at once.
func TestDrainMakesBeforeBreak(t *testing.T) {
	ctx := context.Background()
	onNode := func(c *Cluster, id string) int {
		st, _ := c.State(ctx)
		n := 0
		for _, tk := range st.Tasks {
			if tk.NodeID == id {
				n++
			}
		}
		return n
	}
	deploy := func(replicas int) *Cluster {
		c := newCluster(t, twoPools)
		app, _ := c.cfg.App("web")
		if err := c.Deploy(ctx, *app, replicas); err != nil {
			t.Fatal(err)
		}
		c.Advance(10 * time.Second)
		if a := c.App("web"); a.Running != replicas {
			t.Fatalf("deployed: %+v", a)
		}
		return c
	}

	// Room elsewhere: 4 tasks, 2 a node; the other node takes 2 more.
	c := deploy(4)
	if err := c.Drain(ctx, "node-a-init1"); err != nil {
		t.Fatal(err)
	}
	for s := 1; s <= 10; s++ {
		c.Advance(time.Second)
		if a := c.App("web"); a.Running < 4 {
			t.Fatalf("%d s after the drain: %d running, want 4 throughout", s, a.Running)
		}
	}
	if n, m := onNode(c, "node-a-init1"), onNode(c, "node-a-init0"); n != 0 || m != 4 {
		t.Errorf("after the move: %d tasks left on the drained node, %d on the other, want 0 and 4", n, m)
	}
	if p := c.Pool("a"); p.Draining != 1 || p.Ready != 1 {
		t.Errorf("pool while draining: %+v", p)
	}
	if err := c.RemoveNode(ctx, "node-a-init1"); err != nil {
		t.Errorf("RemoveNode of the drained node: %v", err)
	}

	// Swarm's own drain: the tasks stop first, and start again a container
	// start later.
	c = deploy(4)
	if err := c.DrainStopFirst(ctx, "node-a-init1"); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Second)
	if a := c.App("web"); a.Running != 2 {
		t.Errorf("a second after a stop-first drain: %d running, want 2", a.Running)
	}

	// No room elsewhere: the tasks stay and serve; taken back, the waiting
	// replacements go.
	c = deploy(8)
	if err := c.Drain(ctx, "node-a-init1"); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Minute)
	if a := c.App("web"); a.Running != 8 || a.Pending != 4 || onNode(c, "node-a-init1") != 4 {
		t.Errorf("a minute into a drain without room: %+v, %d on the node; want 8 running, 4 replacements waiting", a, onNode(c, "node-a-init1"))
	}
	if err := c.Activate(ctx, "node-a-init1"); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Second)
	if a := c.App("web"); a.Running != 8 || a.Pending != 0 {
		t.Errorf("taken back: %+v, want 8 running and none waiting", a)
	}
	// Scaling down while a move waits stops the moving tasks first.
	if err := c.Drain(ctx, "node-a-init1"); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Second)
	if err := c.Scale(ctx, "web", 4); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Second)
	if a, n := c.App("web"), onNode(c, "node-a-init1"); a.Running != 4 || a.Pending != 0 || n != 0 {
		t.Errorf("scaled to 4 during the drain: %+v, %d on the drained node; want 4 running elsewhere", a, n)
	}
}
