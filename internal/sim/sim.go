// Package sim is a simulated cluster on a virtual clock. It implements the
// same seams as Docker Swarm and the machine providers (engine.Orchestrator,
// engine.Provider, engine.MetricSource), so the engine cannot tell the
// difference, and a week of traffic runs in seconds.
//
// What it models: machines with a shape and a boot delay; Swarm-style task
// placement (spread, reservations must fit, otherwise pending with Swarm's
// reason text); container start delay; drain, node removal, machine loss; and
// per app a queueing model of its traffic (see queue.go).
package sim

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hoist/hoist/internal/clock"
	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/throttle"
	"github.com/hoist/hoist/internal/workload"
)

var (
	_ engine.Orchestrator = (*Cluster)(nil)
	_ engine.MetricSource = (*Cluster)(nil)
	_ engine.Provider     = (*Provider)(nil)
	_ clock.Clock         = (*Cluster)(nil)
)

// Errors the simulated cluster returns, like its real counterparts.
var (
	ErrNoService    = errors.New("no such service")
	ErrNoNode       = errors.New("no such node")
	ErrNotDrained   = errors.New("node is not drained")
	ErrInjected     = errors.New("injected failure")
	ErrNoPrometheus = errors.New("the simulator has no Prometheus: queries have no data")
)

// Step is the simulation's resolution.
const Step = time.Second

// historyLen is how many seconds of metrics each app keeps (the longest window
// a policy may average over).
const historyLen = 900

// Cluster is the simulated cluster. Safe for concurrent use.
type Cluster struct {
	mu    sync.Mutex
	cfg   *config.Config
	start time.Time
	now   time.Time

	nodes    []*node
	nodeByID map[string]*node
	machines map[string]*machine
	// byName is machines' values sorted by name: what the per-second loops
	// walk (a map's iteration costs more than the work on a few machines).
	byName   []*machine
	services map[string]*service
	tasks    []*task
	// throttles cap limited tasks' traffic (nil: none).
	throttles Throttles
	seq       int

	loads map[string]*appLoad
	// loadList is loads' values in the order they were made (each app's
	// figures are its own, so any order gives the same ones).
	loadList []*appLoad
	stats    Stats
	// failCreates makes the next n Create calls of a pool fail (tests).
	failCreates map[string]int
	// changed says something reconcile or schedule depend on changed since
	// they last ran (desired counts, services, nodes, tasks removed): with
	// nothing changed, both would do exactly what they did, so they are
	// skipped (most of a run's seconds).
	changed bool
	// gen counts changes to what State reports (services, tasks, nodes);
	// state is State's last answer, made at stateGen.
	gen      uint64
	state    cluster.State
	stateGen uint64
	stateOK  bool
	// lists is each pool's last List answer.
	lists map[string][]cluster.Machine
	// moving counts the tasks waiting on a paused node for their
	// replacement (Drain).
	moving int
}

type node struct {
	id, pool, machine string
	capacity          cluster.Resources
	availability      cluster.Availability
	ready             bool
}

// leaving says whether the node is on its way out (hoist's make-before-break
// drain pauses it, a Swarm drain drains it): not counted as ready.
func (n *node) leaving() bool { return n.availability != cluster.Active }

type machine struct {
	name, pool string
	created    time.Time
	readyAt    time.Time
	node       *node
	failed     bool
}

type service struct {
	name        string
	desired     int
	reservation cluster.Resources
	limit       cluster.Resources
	pools       []string
	labels      map[string]string
}

type task struct {
	id, service, node string
	// svc is the service named by service (a redeploy updates it in place;
	// a service's tasks go with it), load its app's traffic model.
	svc  *service
	load *appLoad
	// n is the node named by node (set with it; a node's tasks are removed
	// before the node is), so pool sums need no lookup by name.
	n       *node
	state   cluster.TaskState
	reason  string
	readyAt time.Time
	since   time.Time
	// moving: on a node hoist drains; it serves until a replacement of its
	// service runs elsewhere (see Drain).
	moving bool
}

// Options change how a cluster is built.
type Options struct {
	// Loads replaces an app's load model source (a trace from the command line).
	Loads map[string]workload.Source
	// Throttles, when set, cap the simulated traffic of the tasks they
	// limit (throttle.Book fits; docs/netguard.md).
	Throttles Throttles
}

// Throttles are the rate limits hoist wants on tasks.
type Throttles interface {
	Active(now time.Time) []throttle.Entry
}

// New builds the simulated cluster of cfg: every pool starts with its min
// machines ready; apps start undeployed (the engine deploys them).
func New(cfg *config.Config, opt Options) (*Cluster, error) {
	start, err := time.Parse(time.RFC3339, cfg.Sim.Start)
	if err != nil {
		return nil, fmt.Errorf("sim.start: %w", err)
	}
	c := &Cluster{
		cfg: cfg, start: start, now: start,
		nodeByID: map[string]*node{}, machines: map[string]*machine{}, services: map[string]*service{},
		loads: map[string]*appLoad{}, failCreates: map[string]int{}, throttles: opt.Throttles,
		lists: map[string][]cluster.Machine{},
	}
	c.stats.init(cfg)
	for _, p := range cfg.Pools {
		for i := 0; i < p.Min; i++ {
			name := fmt.Sprintf("%s-init%d", p.Name, i)
			m := &machine{name: name, pool: p.Name, created: start, readyAt: start}
			c.addMachine(m)
			c.join(m)
			c.stats.machineCreated(p.Name)
		}
	}
	for i := range cfg.Apps {
		a := &cfg.Apps[i]
		var src workload.Source
		if s, ok := opt.Loads[a.Name]; ok {
			src = s
		} else if a.Load != nil && a.Load.Pattern != nil {
			src = workload.Pattern(*a.Load.Pattern)
		} else if a.Load != nil && a.Load.Trace != nil {
			t := a.Load.Trace
			step := t.Step.D()
			if step == 0 {
				step = time.Minute
			}
			s, err := workload.ReadCSV(t.File, t.Column, step)
			if err != nil {
				return nil, fmt.Errorf("app %s: %w", a.Name, err)
			}
			if t.Peak > 0 {
				s.ScaleToPeak(t.Peak)
			}
			src = s
		}
		c.addLoad(a.Name, newAppLoad(a, src))
	}
	return c, nil
}

// Now implements clock.Clock: the virtual time.
func (c *Cluster) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Start is the first instant of the simulation.
func (c *Cluster) Start() time.Time { return c.start }

// Advance runs the cluster forward by d, one Step at a time.
func (c *Cluster) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for end := c.now.Add(d); c.now.Before(end); {
		c.now = c.now.Add(Step)
		c.step(Step)
	}
}

func (c *Cluster) step(dt time.Duration) {
	now := c.now
	// Machines whose boot ended join in name order (so nodes are listed in
	// the same order whatever the map's).
	for _, m := range c.byName {
		if m.node == nil && !m.failed && !now.Before(m.readyAt) && !m.readyAt.IsZero() {
			c.join(m)
		}
	}
	for _, t := range c.tasks {
		if t.state == cluster.TaskStarting && !now.Before(t.readyAt) {
			t.state, t.since = cluster.TaskRunning, now
			c.gen++
			if c.moving > 0 {
				c.changed = true // a replacement runs: a moving task may go
			}
		}
	}
	if c.changed {
		c.changed = false
		c.gen++ // reconcile and schedule change tasks
		c.reconcile()
		c.schedule()
	}
	c.serve(dt)
	c.stats.tick(c, dt)
}

// addMachine records a new machine (its name is not taken).
func (c *Cluster) addMachine(m *machine) {
	c.machines[m.name] = m
	i, _ := slices.BinarySearchFunc(c.byName, m.name, func(x *machine, name string) int { return strings.Compare(x.name, name) })
	c.byName = slices.Insert(c.byName, i, m)
}

// dropMachine forgets a machine.
func (c *Cluster) dropMachine(name string) {
	delete(c.machines, name)
	c.byName = slices.DeleteFunc(c.byName, func(m *machine) bool { return m.name == name })
}

// addLoad records an app's traffic model.
func (c *Cluster) addLoad(name string, l *appLoad) {
	l.name = name
	c.loads[name] = l
	c.loadList = append(c.loadList, l)
}

// change marks a change that reconcile and schedule depend on (and State
// reports).
func (c *Cluster) change() {
	c.changed = true
	c.gen++
}

func (c *Cluster) join(m *machine) {
	p, _ := c.cfg.Pool(m.pool)
	n := &node{
		id: "node-" + m.name, pool: m.pool, machine: m.name, ready: true, availability: cluster.Active,
		capacity: cluster.Resources{MilliCPU: cluster.CPUs(p.Machine.CPUs), Memory: int64(p.Machine.Memory)},
	}
	m.node = n
	c.nodes = append(c.nodes, n)
	c.nodeByID[n.id] = n
	c.change()
}

// reconcile makes each service's live tasks match its desired count, as
// Swarm's orchestrator does: create pending tasks, or remove the least
// established ones (pending, then starting, then running on the busiest node).
func (c *Cluster) reconcile() {
	for _, name := range c.serviceNames() {
		s := c.services[name]
		var live, moving []*task
		for _, t := range c.tasks {
			if t.service == name {
				if t.moving {
					moving = append(moving, t)
				} else {
					live = append(live, t)
				}
			}
		}
		for i := len(live); i < s.desired; i++ {
			c.seq++
			c.tasks = append(c.tasks, &task{id: "task-" + strconv.Itoa(c.seq), service: name, svc: s, load: c.loads[name],
				state: cluster.TaskPending, since: c.now})
		}
		if extra := len(live) - s.desired; extra > 0 {
			perNode := map[string]int{}
			for _, t := range live {
				perNode[t.node]++
			}
			rank := map[cluster.TaskState]int{cluster.TaskPending: 0, cluster.TaskStarting: 1, cluster.TaskRunning: 2}
			sort.SliceStable(live, func(i, j int) bool {
				a, b := live[i], live[j]
				if rank[a.state] != rank[b.state] {
					return rank[a.state] < rank[b.state]
				}
				if perNode[a.node] != perNode[b.node] {
					return perNode[a.node] > perNode[b.node]
				}
				return a.since.After(b.since)
			})
			gone := map[*task]bool{}
			for _, t := range live[:extra] {
				gone[t] = true
			}
			c.removeTasks(func(t *task) bool { return gone[t] })
			live = live[extra:]
		}
		// Make before break: a moving task stops once the service has its
		// desired count without it (a replacement runs, or it scaled down).
		if len(moving) > 0 {
			running := 0
			for _, t := range live {
				if t.state == cluster.TaskRunning {
					running++
				}
			}
			if stop := min(len(moving), running+len(moving)-s.desired); stop > 0 {
				gone := map[*task]bool{}
				for _, t := range moving[:stop] {
					gone[t] = true
				}
				c.removeTasks(func(t *task) bool { return gone[t] })
			}
		}
	}
}

func (c *Cluster) removeTasks(drop func(*task) bool) {
	c.change()
	out := c.tasks[:0]
	for _, t := range c.tasks {
		switch {
		case !drop(t):
			out = append(out, t)
		case t.moving:
			c.moving--
		}
	}
	for i := len(out); i < len(c.tasks); i++ {
		c.tasks[i] = nil
	}
	c.tasks = out
}

func (c *Cluster) serviceNames() []string {
	names := make([]string, 0, len(c.services))
	for n := range c.services {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// schedule places pending tasks like Swarm's scheduler: filter nodes (ready
// and active, in the service's pools, with room for the reservation), then
// spread: fewest tasks of the service, then fewest tasks.
func (c *Cluster) schedule() {
	reserved := map[string]cluster.Resources{}
	count := map[string]int{}
	perSvc := map[string]map[string]int{}
	for _, t := range c.tasks {
		if t.node == "" {
			continue
		}
		s := c.services[t.service]
		reserved[t.node] = reserved[t.node].Add(s.reservation)
		count[t.node]++
		if perSvc[t.service] == nil {
			perSvc[t.service] = map[string]int{}
		}
		perSvc[t.service][t.node]++
	}
	for _, t := range c.tasks {
		if t.state != cluster.TaskPending {
			continue
		}
		s := c.services[t.service]
		var best *node
		notAvail, constraint, noRoom := 0, 0, 0
		for _, n := range c.nodes {
			switch {
			case !n.ready || n.availability != cluster.Active:
				notAvail++
			case !containsString(s.pools, n.pool):
				constraint++
			case !n.capacity.Sub(reserved[n.id]).Fits(s.reservation):
				noRoom++
			default:
				if best == nil || perSvc[t.service][n.id] < perSvc[t.service][best.id] ||
					(perSvc[t.service][n.id] == perSvc[t.service][best.id] && count[n.id] < count[best.id]) {
					best = n
				}
			}
		}
		if best == nil {
			t.reason = swarmReason(notAvail, constraint, noRoom)
			continue
		}
		t.node, t.n, t.state, t.reason, t.since = best.id, best, cluster.TaskStarting, "", c.now
		t.readyAt = c.now.Add(c.cfg.Sim.ContainerStart.D())
		reserved[best.id] = reserved[best.id].Add(s.reservation)
		count[best.id]++
		if perSvc[t.service] == nil {
			perSvc[t.service] = map[string]int{}
		}
		perSvc[t.service][best.id]++
	}
}

// swarmReason words a placement failure as Swarm does, reasons joined by "; ".
func swarmReason(notAvail, constraint, noRoom int) string {
	plural := func(n int) string {
		if n == 1 {
			return "1 node"
		}
		return strconv.Itoa(n) + " nodes"
	}
	var parts []string
	if notAvail > 0 {
		parts = append(parts, plural(notAvail)+" not available for new tasks")
	}
	if constraint > 0 {
		parts = append(parts, "scheduling constraints not satisfied on "+plural(constraint))
	}
	if noRoom > 0 {
		parts = append(parts, "insufficient resources on "+plural(noRoom))
	}
	if len(parts) == 0 {
		return "no suitable node (no nodes)"
	}
	return "no suitable node (" + strings.Join(parts, "; ") + ")"
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// State implements engine.Orchestrator. Its slices are shared with earlier
// answers while nothing changed (most ticks: the simulated cluster changes
// when tasks start or move, not every second), so callers must not change
// them; the engine never does.
func (c *Cluster) State(context.Context) (cluster.State, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stateOK && c.stateGen == c.gen {
		return c.state, nil
	}
	st := cluster.State{Services: make([]cluster.Service, 0, len(c.services)),
		Tasks: make([]cluster.Task, 0, len(c.tasks)), Nodes: make([]cluster.Node, 0, len(c.nodes))}
	for _, name := range c.serviceNames() {
		s := c.services[name]
		st.Services = append(st.Services, cluster.Service{Name: s.name, ID: s.name, Desired: s.desired,
			Reservation: s.reservation, Limit: s.limit, Pools: append([]string(nil), s.pools...), Labels: maps.Clone(s.labels)})
	}
	for _, t := range c.tasks {
		st.Tasks = append(st.Tasks, cluster.Task{ID: t.id, Service: t.service, NodeID: t.node, State: t.state,
			Reason: t.reason, Reservation: c.services[t.service].reservation, Since: t.since})
	}
	for _, n := range c.nodes {
		st.Nodes = append(st.Nodes, cluster.Node{ID: n.id, Hostname: n.machine, Machine: n.machine, Pool: n.pool,
			Ready: n.ready, Availability: n.availability, Capacity: n.capacity})
	}
	c.state, c.stateGen, c.stateOK = st, c.gen, true
	return st, nil
}

// Scale implements engine.Orchestrator.
func (c *Cluster) Scale(_ context.Context, name string, replicas int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.services[name]
	if !ok {
		return fmt.Errorf("scale %s: %w", name, ErrNoService)
	}
	if replicas > s.desired {
		c.stats.app(name).ScaleUps++
	} else if replicas < s.desired {
		c.stats.app(name).ScaleDowns++
	}
	s.desired = replicas
	c.change()
	return nil
}

// Deploy implements engine.Orchestrator.
func (c *Cluster) Deploy(_ context.Context, app config.App, replicas int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := app.Resources
	s := &service{name: app.Name, desired: replicas, pools: append([]string(nil), app.Pools...),
		reservation: cluster.Resources{MilliCPU: cluster.CPUs(r.Reservations.CPUs), Memory: int64(r.Reservations.Memory)},
		limit:       cluster.Resources{MilliCPU: cluster.CPUs(r.Limits.CPUs), Memory: int64(r.Limits.Memory)},
		labels:      map[string]string{cluster.LabelManaged: "true"}}
	// As on Swarm, the app's labels go on its service, and hoist's mark.
	for k, v := range app.Labels {
		if k != cluster.LabelManaged {
			s.labels[k] = v
		}
	}
	if _, ok := c.loads[app.Name]; !ok {
		c.addLoad(app.Name, newAppLoad(&app, nil))
	}
	if old, ok := c.services[app.Name]; ok {
		// In place: the service's tasks point to it.
		s.desired = old.desired
		*old = *s
	} else {
		c.services[app.Name] = s
	}
	c.change()
	return nil
}

// Remove implements engine.Orchestrator.
func (c *Cluster) Remove(_ context.Context, name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.services, name)
	c.change()
	c.removeTasks(func(t *task) bool { return t.service == name })
	return nil
}

// Drain implements engine.Orchestrator as hoist's Swarm adapter does (make
// before break, docs/swarm.md): the node is paused (no new task) and each of
// its tasks serves until a replacement of its service runs elsewhere; one
// that cannot be placed keeps serving there.
func (c *Cluster) Drain(_ context.Context, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.nodeByID[id]
	if !ok {
		return fmt.Errorf("drain %s: %w", id, ErrNoNode)
	}
	if n.availability == cluster.Drain {
		return nil
	}
	n.availability = cluster.Pause
	c.change()
	for _, t := range c.tasks {
		if t.node == id && !t.moving {
			t.moving = true
			c.moving++
		}
	}
	return nil
}

// DrainStopFirst drains a node as Swarm's availability drain does (and as
// Kubernetes' eviction does): its tasks stop at once and their services start
// replacements elsewhere, a container start later. The reference policies
// drain this way.
func (c *Cluster) DrainStopFirst(_ context.Context, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.nodeByID[id]
	if !ok {
		return fmt.Errorf("drain %s: %w", id, ErrNoNode)
	}
	n.availability = cluster.Drain
	c.change()
	c.removeTasks(func(t *task) bool { return t.node == id })
	return nil
}

// Activate implements engine.Orchestrator.
func (c *Cluster) Activate(_ context.Context, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.nodeByID[id]
	if !ok {
		return fmt.Errorf("activate %s: %w", id, ErrNoNode)
	}
	n.availability = cluster.Active
	c.change()
	for _, t := range c.tasks {
		if t.node == id && t.moving {
			t.moving = false
			c.moving--
		}
	}
	return nil
}

// RemoveNode implements engine.Orchestrator. Like hoist's Swarm adapter, it
// refuses a node that is ready and active (not drained nor paused).
func (c *Cluster) RemoveNode(_ context.Context, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.nodeByID[id]
	if !ok {
		return nil
	}
	if n.ready && !n.leaving() {
		return fmt.Errorf("remove %s: %w", id, ErrNotDrained)
	}
	c.dropNode(n)
	return nil
}

func (c *Cluster) dropNode(n *node) {
	c.change()
	delete(c.nodeByID, n.id)
	out := c.nodes[:0]
	for _, x := range c.nodes {
		if x != n {
			out = append(out, x)
		}
	}
	c.nodes = out
	if m, ok := c.machines[n.machine]; ok && m.node == n {
		m.node = nil
		m.readyAt = time.Time{} // a removed node does not rejoin by itself
	}
	// Tasks that were there are gone; their services recreate them.
	c.removeTasks(func(t *task) bool { return t.node == n.id })
}

// Provider returns the machine provider of a pool.
func (c *Cluster) Provider(pool string) *Provider { return &Provider{c: c, pool: pool} }

// Providers returns a provider for every pool, as the engine takes them.
func (c *Cluster) Providers() map[string]engine.Provider {
	out := map[string]engine.Provider{}
	for _, p := range c.cfg.Pools {
		out[p.Name] = c.Provider(p.Name)
	}
	return out
}

// Provider is the simulated machine provider of one pool.
type Provider struct {
	c    *Cluster
	pool string
}

// Create implements engine.Provider: idempotent by name.
func (p *Provider) Create(_ context.Context, name string) (cluster.Machine, error) {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if m, ok := c.machines[name]; ok {
		return c.view(m), nil
	}
	if c.failCreates[p.pool] > 0 {
		c.failCreates[p.pool]--
		return cluster.Machine{}, fmt.Errorf("create %s: %w", name, ErrInjected)
	}
	pc, _ := c.cfg.Pool(p.pool)
	m := &machine{name: name, pool: p.pool, created: c.now, readyAt: c.now.Add(pc.BootTime.D())}
	c.addMachine(m)
	c.stats.machineCreated(p.pool)
	return c.view(m), nil
}

// Destroy implements engine.Provider. A node still in the cluster goes down
// with its machine, and its tasks are lost.
func (p *Provider) Destroy(_ context.Context, name string) error {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.machines[name]
	if !ok {
		return nil
	}
	if m.node != nil {
		c.stats.LostNodes++
		c.dropNode(m.node)
	}
	c.dropMachine(name)
	c.stats.machineDestroyed(p.pool)
	return nil
}

// List implements engine.Provider.
func (p *Provider) List(context.Context) ([]cluster.Machine, error) {
	c := p.c
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, m := range c.byName {
		if m.pool == p.pool {
			n++
		}
	}
	if n == 0 {
		return nil, nil
	}
	// The last answer again when it is still exact (a machine's status
	// changes at its boot's end, not every second); callers must not change
	// it, as State's.
	if last := c.lists[p.pool]; len(last) == n {
		i := 0
		for _, m := range c.byName {
			if m.pool == p.pool {
				if c.view(m) != last[i] {
					break
				}
				i++
			}
		}
		if i == n {
			return last, nil
		}
	}
	out := make([]cluster.Machine, 0, n)
	for _, m := range c.byName {
		if m.pool == p.pool {
			out = append(out, c.view(m))
		}
	}
	c.lists[p.pool] = out
	return out, nil
}

func (c *Cluster) view(m *machine) cluster.Machine {
	st := cluster.MachineCreating
	switch {
	case m.failed:
		st = cluster.MachineFailed
	case !c.now.Before(m.readyAt):
		st = cluster.MachineRunning
	}
	return cluster.Machine{Name: m.name, Pool: m.pool, ID: m.name, Status: st}
}

// FailCreates makes the pool's next n Create calls fail (for tests).
func (c *Cluster) FailCreates(pool string, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failCreates[pool] = n
}

// Kill makes a machine die: its node goes down, the provider reports it failed.
func (c *Cluster) Kill(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.machines[name]
	if !ok {
		return
	}
	m.failed = true
	c.change()
	if m.node != nil {
		m.node.ready = false
		c.removeTasks(func(t *task) bool { return t.node == m.node.id })
	}
}

// SetCPUPerRequest changes what a request of app costs from now on, as a
// new image would: the world changes, and only what the autoscaler observes
// (rate, CPU, latency) can tell it.
func (c *Cluster) SetCPUPerRequest(app string, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, ok := c.loads[app]
	if !ok || d <= 0 {
		return fmt.Errorf("set cpu per request of %q to %s: no such app or not positive", app, d)
	}
	l.cpuPerReq = d.Seconds()
	l.demandMemo = map[int]int{}
	return nil
}

// Value implements engine.MetricSource for the built-in metrics, averaged
// over the window.
func (c *Cluster) Value(_ context.Context, q engine.MetricQuery) (float64, error) {
	if q.Query != "" {
		return 0, fmt.Errorf("%w", errors.Join(engine.ErrNoData, ErrNoPrometheus))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	l, ok := c.loads[q.App]
	if !ok {
		return 0, fmt.Errorf("app %s: %w", q.App, engine.ErrNoData)
	}
	return l.value(q.Metric, q.Window)
}

// AppStatus is what the simulator knows of an app right now.
type AppStatus struct {
	Offered, Served, Dropped            float64 // requests/s
	P95                                 float64 // seconds
	CPU                                 float64 // percent of the limit, per running replica
	Desired, Running, Pending, Starting int
	// Demand is the fewest replicas that would meet the SLO at this load.
	Demand int
}

// App reports an app's current load and replicas.
func (c *Cluster) App(name string) AppStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	var st AppStatus
	if s, ok := c.services[name]; ok {
		st.Desired = s.desired
	}
	for _, t := range c.tasks {
		if t.service != name {
			continue
		}
		switch t.state {
		case cluster.TaskRunning:
			st.Running++
		case cluster.TaskPending:
			st.Pending++
		case cluster.TaskStarting:
			st.Starting++
		}
	}
	if l, ok := c.loads[name]; ok {
		st.Offered, st.Served, st.Dropped, st.P95, st.CPU = l.offered, l.served, l.dropped, l.p95, l.cpu
		st.Demand = l.demand(l.offered)
	}
	return st
}

// Observation is what a benchmark records of an app and its pool each
// second: App's Offered and Running and Pool's counts and capacity, read
// under one lock, without App's demand (a queue model search) or Pool's
// reserved sum (a walk over every task), which the benchmark does not use.
type Observation struct {
	Offered float64
	Running int
	Pool    PoolStatus
}

// Observe reports an app's offered load and running replicas and its pool.
func (c *Cluster) Observe(app, pool string) Observation {
	c.mu.Lock()
	defer c.mu.Unlock()
	var o Observation
	for _, t := range c.tasks {
		if t.service == app && t.state == cluster.TaskRunning {
			o.Running++
		}
	}
	if l, ok := c.loads[app]; ok {
		o.Offered = l.offered
	}
	o.Pool = c.poolCounts(pool)
	return o
}

// PoolStatus counts a pool's machines by what they are doing.
type PoolStatus struct {
	Booting, Ready, Draining, Down int
	// Reserved and Capacity sum the pool's ready nodes.
	Reserved, Capacity cluster.Resources
}

// Pool reports a pool's machines.
func (c *Cluster) Pool(name string) PoolStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.poolStatus(name)
}

func (c *Cluster) poolStatus(name string) PoolStatus {
	st := c.poolCounts(name)
	// The reservations of the tasks on the pool's ready, active nodes: a
	// placed task's node is in c.nodes, which are the machines' nodes.
	for _, t := range c.tasks {
		if n := t.n; n != nil && n.pool == name && n.ready && !n.leaving() {
			st.Reserved = st.Reserved.Add(t.svc.reservation)
		}
	}
	return st
}

// readyAndExisting counts pool name's machines whose node is ready and
// active (poolCounts' Ready) and all of them, failed ones included, in one
// pass without poolCounts' capacity sums: Stats.tick asks every second.
func (c *Cluster) readyAndExisting(name string) (ready, exist int) {
	for _, m := range c.byName {
		if m.pool != name {
			continue
		}
		exist++
		if n := m.node; n != nil && n.ready && !n.leaving() {
			ready++
		}
	}
	return ready, exist
}

// poolCounts is poolStatus without Reserved.
func (c *Cluster) poolCounts(name string) PoolStatus {
	var st PoolStatus
	for _, m := range c.byName {
		if m.pool != name {
			continue
		}
		switch {
		case m.node == nil:
			if !m.failed {
				st.Booting++
			}
		case !m.node.ready:
			st.Down++
		case m.node.leaving():
			st.Draining++
		default:
			st.Ready++
			st.Capacity = st.Capacity.Add(m.node.capacity)
		}
	}
	return st
}

// Stats returns the run's accumulated figures.
func (c *Cluster) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats.clone()
}

// Elapsed is the simulated time since the start.
func (c *Cluster) Elapsed() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now.Sub(c.start)
}

// appLoad is one app's traffic model and recent metrics.
type appLoad struct {
	name      string
	src       workload.Source
	cpuPerReq float64 // seconds
	queue     int
	slo       float64 // seconds
	cores     float64 // per replica
	memLimit  float64
	offered   float64
	served    float64
	dropped   float64
	p95       float64
	cpu       float64
	overSLO   float64 // share of served requests over the SLO
	// bytesIn and bytesOut are what a request brings and its answer takes
	// (load.request_bytes, load.bytes_per_request).
	bytesIn, bytesOut float64
	hist              [historyLen]sample
	histN             int // samples written
	demandMemo        map[int]int
	// Per second: the app's running replicas (serve counts them), and its
	// totals in the run's Stats (found once).
	running int
	stats   *AppStats
	qm      *queueModel // evalQueue's, for the current shape
}

type sample struct {
	cpu, mem, rps, latency float64
	rx, tx                 float64 // bytes/s per replica (net_rx, net_tx)
	ok                     bool
}

func newAppLoad(a *config.App, src workload.Source) *appLoad {
	l := &appLoad{src: src, cpuPerReq: config.DefaultCPUPerRequest.Seconds(), queue: config.DefaultQueue,
		slo: a.SLO.LatencyP95.D().Seconds(), demandMemo: map[int]int{}}
	if a.Load != nil {
		l.cpuPerReq = a.Load.CPUPerRequest.D().Seconds()
		l.queue = a.Load.Queue
		l.bytesIn, l.bytesOut = float64(a.Load.RequestBytes), float64(a.Load.BytesPerRequest)
	}
	if l.slo == 0 {
		l.slo = config.DefaultLatencySLO.Seconds()
	}
	switch r := a.Resources; {
	case r.Limits.CPUs > 0:
		l.cores = r.Limits.CPUs
	case r.Reservations.CPUs > 0:
		l.cores = r.Reservations.CPUs
	default:
		l.cores = 1
	}
	l.memLimit = float64(a.Resources.Limits.Memory)
	return l
}

func (l *appLoad) mu() float64 { return l.cores / l.cpuPerReq }

// demand is the fewest replicas meeting the SLO at rate (memoised by the
// rate rounded to 0.1 req/s, which is far finer than a replica).
func (l *appLoad) demand(rate float64) int {
	key := int(math.Round(rate * 10))
	if n, ok := l.demandMemo[key]; ok {
		return n
	}
	n := MinReplicas(rate, l.mu(), l.queue, l.slo, 0.001)
	if len(l.demandMemo) < 1_000_000 {
		l.demandMemo[key] = n
	}
	return n
}

// serve computes one step of every app's traffic on its running replicas.
func (c *Cluster) serve(dt time.Duration) {
	for _, l := range c.loadList {
		l.running = 0
	}
	for _, t := range c.tasks {
		if t.state == cluster.TaskRunning && t.load != nil {
			t.load.running++
		}
	}
	for _, l := range c.loadList {
		name := l.name
		rate := 0.0
		if l.src != nil {
			rate = l.src.Rate(c.now.Sub(c.start))
		}
		l.offered = rate
		n := l.running
		s := sample{}
		if _, deployed := c.services[name]; !deployed || n == 0 {
			l.served, l.dropped, l.cpu, l.overSLO = 0, rate, 0, 1
			l.p95 = math.Inf(1)
			if rate == 0 {
				l.dropped, l.overSLO, l.p95 = 0, 0, 0
			}
			l.push(s)
			continue
		}
		q := l.evalQueue(rate / float64(n))
		l.dropped = rate * q.Drop
		l.served = rate - l.dropped
		l.p95 = q.P95
		l.cpu = 100 * q.Busy
		l.overSLO = q.OverSLO
		s = sample{cpu: l.cpu, mem: 30 + 50*q.Busy, rps: rate / float64(n), latency: q.P95 * 1000, ok: true}
		if l.bytesIn > 0 || l.bytesOut > 0 {
			s.rx, s.tx = c.traffic(name, n, rate/float64(n)*l.bytesIn, l.served/float64(n)*l.bytesOut)
		}
		l.push(s)
	}
}

// evalQueue is Queue(lambda, l.mu(), l.queue, l.slo), from a model of the
// app's replica made once per shape (no allocation per second).
func (l *appLoad) evalQueue(lambda float64) QueueResult {
	mu := l.mu()
	if m := l.qm; m == nil || m.mu != mu || m.k != l.queue || m.slo != l.slo {
		l.qm = newQueueModel(mu, l.queue, l.slo)
	}
	return l.qm.eval(lambda)
}

// sampleField returns the reader of a sample's metric, nil for a metric the
// simulator does not produce. appLoad.value picks it once per query, not
// once per sample.
func sampleField(metric string) func(*sample) float64 {
	switch metric {
	case "cpu":
		return func(s *sample) float64 { return s.cpu }
	case "memory":
		return func(s *sample) float64 { return s.mem }
	case "rps":
		return func(s *sample) float64 { return s.rps }
	case "latency_p95":
		return func(s *sample) float64 { return s.latency }
	case "net_rx":
		return func(s *sample) float64 { return s.rx }
	case "net_tx":
		return func(s *sample) float64 { return s.tx }
	}
	return nil
}

func (l *appLoad) push(s sample) {
	l.hist[l.histN%historyLen] = s
	l.histN++
}

func (l *appLoad) value(metric string, window time.Duration) (float64, error) {
	n := int(window / Step)
	n = max(1, min(n, historyLen, l.histN))
	field := sampleField(metric)
	sum, got := 0.0, 0
	for i := 0; i < n; i++ {
		s := &l.hist[(l.histN-1-i+historyLen)%historyLen]
		if !s.ok {
			continue
		}
		if field == nil { // an unknown metric, once there is a sample to read it from
			return 0, fmt.Errorf("metric %q: %w", metric, engine.ErrNoData)
		}
		sum += field(s)
		got++
	}
	if got == 0 {
		return 0, fmt.Errorf("no running replica in the last %s: %w", window, engine.ErrNoData)
	}
	return sum / float64(got), nil
}
