//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/provider/local"
)

const scaleDescriptor = `
controller:
  interval: 2s
  drain_timeout: 1m
  boot_timeout: 2m
pools:
  - name: e2e
    provider: local
    min: 1
    max: 3
    machine: {cpus: 1, memory: 1GiB}
    cooldown: 15s
    scale_down: {below: 0.5, for: 10s}
apps:
  - name: e2edemo
    image: hoist/demoapp:latest
    pools: [e2e]
    port: 8080
    env: [WORK=20ms]
    resources:
      limits: {cpus: 0.5, memory: 128MiB}
      reservations: {cpus: 0.4, memory: 64MiB}
    replicas: {min: 2, max: 6}
    cooldown: {up: 60s, down: 5s}
    policies:
      # MiCADO style: CPU above 40 % of the limit for 4 s adds 4 replicas at
      # once; below 10 % for 6 s removes 4. One step each way, so that the
      # machines' answer to the pending tasks is one step too (a target
      # policy would grow in several steps as the first windows fill up).
      - type: threshold
        metric: cpu
        upper: 40
        lower: 10
        for: 4s
        down_for: 6s
        step_up: 4
        step_down: 4
        window: 4s
`

// observer polls the swarm and the machines' state directories and notes
// when each thing first happened.
type observer struct {
	s     *stack
	t     *testing.T
	pool  string
	app   string
	mu    sync.Mutex
	marks map[string]time.Time
	ready map[string]time.Time // machine -> node first seen ready
	made  map[string]time.Time // machine -> provider create call (state directory written)
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
	since time.Time // marks before this are ignored
}

func newObserver(s *stack, t *testing.T, pool, app string) *observer {
	o := &observer{s: s, t: t, pool: pool, app: app, marks: map[string]time.Time{}, ready: map[string]time.Time{},
		made: map[string]time.Time{}, stop: make(chan struct{}), done: make(chan struct{})}
	go o.run()
	return o
}

func (o *observer) mark(name string, at time.Time) {
	if _, ok := o.marks[name]; !ok && !at.Before(o.since) {
		o.marks[name] = at
	}
}

func (o *observer) get(name string) (time.Time, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	v, ok := o.marks[name]
	return v, ok
}

func (o *observer) run() {
	defer close(o.done)
	for {
		select {
		case <-o.stop:
			return
		case <-time.After(200 * time.Millisecond):
		}
		st, err := o.s.orch.State(o.t.Context())
		if err != nil {
			continue
		}
		now := time.Now()
		running, pending, resPending := 0, 0, 0
		for _, tk := range st.Tasks {
			if tk.Service != o.app {
				continue
			}
			switch tk.State {
			case cluster.TaskRunning:
				running++
			case cluster.TaskPending:
				pending++
				if tk.PendingForResources() {
					resPending++
				}
			}
		}
		o.mu.Lock()
		if running > 2 {
			o.mark("first new replica running", now)
		}
		if resPending > 0 {
			o.mark("first task pending for resources", now)
		}
		if running == 6 && pending == 0 {
			o.mark("all 6 replicas running", now)
		}
		for _, n := range st.Nodes {
			if n.Pool == o.pool && n.Ready && n.Machine != "" {
				if _, ok := o.ready[n.Machine]; !ok {
					o.ready[n.Machine] = now
				}
			}
		}
		dirs, _ := os.ReadDir(local.DefaultStateDir)
		for _, d := range dirs {
			name, ok := strings.CutPrefix(d.Name(), local.DefaultPrefix)
			if !ok || !strings.HasPrefix(name, o.pool+"-") {
				continue
			}
			if _, seen := o.made[name]; !seen {
				// The state directory is the first thing Create writes.
				if fi, err := os.Stat(filepath.Join(local.DefaultStateDir, d.Name(), "pool")); err == nil {
					o.made[name] = fi.ModTime()
				}
			}
		}
		o.mu.Unlock()
	}
}

func (o *observer) close() {
	o.once.Do(func() { close(o.stop) })
	<-o.done
}

// TestScaleOutAndIn is the scenario on the real stack: the demo app
// with reservations on a pool of one local machine (max 3); load; replicas
// grow on CPU; tasks go pending for resources; hoist orders the right number
// of machines in one step; they join and the pending tasks run on them; the
// load stops; replicas shrink; the extra machines are drained, removed and
// destroyed; nothing is left behind.
func TestScaleOutAndIn(t *testing.T) {
	s := newStack(t)
	const pool, app = "e2e", "e2edemo"
	dir := t.TempDir()
	desc := writeFile(t, dir, "e2e.yaml", scaleDescriptor)
	t.Cleanup(func() { // runs last
		if left := s.leftovers(t, pool); len(left) > 0 {
			t.Errorf("left behind:\n%s", strings.Join(left, "\n"))
		}
	})
	newProvider(t, s, pool, 1, "") // its cleanup destroys what is left, even on failure
	t.Cleanup(func() { s.removeService(t, app); s.removeNetwork("hoist-" + app) })
	testStart := time.Now()

	h := startHoist(t, desc, "")
	obs := newObserver(s, t, pool, app)
	defer obs.close()

	// Deployed on the pool's first machine, which hoist orders to reach min
	// (its boot_timeout is 2m: a busy host may need most of it).
	waitFor(t, 3*time.Minute, "2 replicas running on 1 machine", func() bool {
		run := 0
		for _, tk := range s.state(t).Tasks {
			if tk.Service == app && tk.State == cluster.TaskRunning {
				run++
			}
		}
		return run == 2
	})
	waitFor(t, 30*time.Second, "cpu samples", func() bool { return strings.Contains(h.out.String(), "e2edemo 2/2 run cpu") })
	orderedBefore := h.count("machine.ordered", "")

	loadStart := time.Now()
	obs.mu.Lock()
	obs.since = loadStart
	obs.mu.Unlock()
	s.startLoad(t, app, 8)
	t.Cleanup(func() { // before startLoad's cleanup removes the generator
		if t.Failed() {
			promLoadLogs(t, app+"-load")
		}
	})
	t.Logf("load started at %s (load average %s)", loadStart.Format("15:04:05.000"), loadAvg())

	waitFor(t, 3*time.Minute, "6 replicas running on 3 machines", func() bool {
		_, ok := obs.get("all 6 replicas running")
		return ok
	})
	t.Logf("6 replicas running (load average %s)", loadAvg())
	ordered := h.count("machine.ordered", "") - orderedBefore
	if ordered != 2 {
		t.Errorf("%d machines ordered under load, want 2", ordered)
	}
	var orderTimes []string
	for _, e := range h.events() {
		if strings.Contains(e, " machine.ordered ") {
			orderTimes = append(orderTimes, e[:19])
		}
	}
	if n := len(orderTimes); n >= 2 && orderTimes[n-1] != orderTimes[n-2] {
		t.Errorf("the 2 machines were not ordered in one step: %v", orderTimes)
	}
	if n := h.count("pool.scale_up", "2 machines of"); n != 1 {
		t.Errorf("want one pool.scale_up ordering 2 machines, got %d", n)
	}

	loadStop := time.Now()
	s.removeService(t, app+"-load")
	t.Logf("load stopped at %s", loadStop.Format("15:04:05.000"))
	var lastGone time.Time
	waitFor(t, 3*time.Minute, "back to 2 replicas and 1 machine", func() bool {
		st := s.state(t)
		desired, nodes := 0, 0
		for _, sv := range st.Services {
			if sv.Name == app {
				desired = sv.Desired
			}
		}
		for _, n := range st.Nodes {
			if n.Pool == pool {
				nodes++
			}
		}
		dirs, _ := filepath.Glob(filepath.Join(local.DefaultStateDir, local.DefaultPrefix+pool+"-*"))
		nss, _ := filepath.Glob("/run/netns/" + local.DefaultPrefix + pool + "-*")
		if desired == 2 && nodes == 1 && len(dirs) == 1 && len(nss) == 1 {
			lastGone = time.Now()
			return true
		}
		return false
	})
	// The provider is done before the engine records it: give the event a moment.
	waitFor(t, 15*time.Second, "2 machine.destroyed events", func() bool { return h.count("machine.destroyed", "") == 2 })
	for _, kind := range []string{"machine.draining", "machine.drained", "machine.removed"} {
		if n := h.count(kind, ""); n != 2 {
			t.Errorf("%d %s events, want 2", n, kind)
		}
	}
	h.stop(t)
	obs.close()

	t.Log("timeline of hoist's events:\n" + strings.Join(h.events(), "\n"))

	// The figures the issue asks for.
	firstNew, _ := obs.get("first new replica running")
	pendingAt, _ := obs.get("first task pending for resources")
	allRunning, _ := obs.get("all 6 replicas running")
	var created []time.Time
	var readyAt []time.Time
	for m, at := range obs.made {
		if at.After(loadStart) {
			created = append(created, at)
			if r, ok := obs.ready[m]; ok {
				readyAt = append(readyAt, r)
			}
		}
	}
	sort.Slice(created, func(i, j int) bool { return created[i].Before(created[j]) })
	sort.Slice(readyAt, func(i, j int) bool { return readyAt[i].Before(readyAt[j]) })
	sec := func(a, b time.Time) string {
		if a.IsZero() || b.IsZero() {
			return "n/a"
		}
		return fmt.Sprintf("%.1fs", b.Sub(a).Seconds())
	}
	var createAt, lastReady time.Time
	if len(created) > 0 {
		createAt = created[0]
	}
	if len(readyAt) > 0 {
		lastReady = readyAt[len(readyAt)-1]
	}
	report := fmt.Sprintf(`figures of this run:
  load start -> first new replica running:           %s
  first resource-pending task -> provider create:     %s (negative: ordered in the scale-up's own tick, before Swarm reported them pending)
  create call -> node ready (slowest new machine):    %s
  node ready -> pending tasks running:                %s
  load stop -> last extra machine destroyed:          %s
  whole test:                                         %s`,
		sec(loadStart, firstNew), sec(pendingAt, createAt), sec(createAt, lastReady), sec(lastReady, allRunning),
		sec(loadStop, lastGone), time.Since(testStart).Round(time.Second))
	t.Log(report)
	fmt.Println(report)
	t.Logf("left by hoist on exit (the pool's min machine): %v", s.leftovers(t, pool))
}

// loadAvg is the host's load average, for the log of a run on a busy host.
func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}
