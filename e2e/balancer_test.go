//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	mswarm "github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/hoist/hoist/internal/balancer"
	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/provider/local"
)

// The balancer e2e descriptor. %d is the app pool's min: 2 while the app
// is deployed (so Swarm spreads its two tasks over two machines), then 1 so
// that hoist drains one of them. %s is the apps section.
const lbDescriptor = `
controller:
  interval: 2s
  drain_timeout: 1m
  boot_timeout: 2m
pools:
  - name: lbe2e
    provider: local
    min: 1
    max: 2
    machine: {cpus: 1, memory: 1GiB}
    cooldown: 15s
    scale_down: {below: 0.5, for: 5s}
  - name: lbapp
    provider: local
    min: %d
    max: 2
    machine: {cpus: 1, memory: 1GiB}
    cooldown: 10s
    scale_down: {below: 0.5, for: 5s}
%s`

const lbApps = `
apps:
  - name: lbweb
    image: hoist/demoapp:latest
    pools: [lbapp]
    port: 8080
    # 5 ms of CPU a request at 20 and 100 req/s: half a core at the peak,
    # which a 2-core host with both cores busy still serves (0 lost with two
    # yes loops running); far more load than that saturates the app itself.
    env: [WORK=5ms]
    resources:
      limits: {cpus: 0.5, memory: 128MiB}
      reservations: {cpus: 0.2, memory: 32MiB}
    replicas: {min: 2, max: 4}
    cooldown: {up: 20s, down: 5s}
    policies:
      # What users see: requests/s through the balancer per replica.
      # 100 req/s on 2 replicas is 50: +2; 20 req/s on 4 is 5: -2.
      - type: threshold
        metric: lb_rps
        upper: 40
        lower: 12
        for: 4s
        down_for: 6s
        step_up: 2
        step_down: 2
        window: 4s
    balancer:
      pool: lbe2e
      port: 18080
      stats_port: 18404
      check: /healthz
      replicas: {min: 1, max: 2}
      cooldown: {up: 30s, down: 5s}
      policies:
        # The balancer's own load: 100 req/s on 1 replica: +1; 20 on 2: -1.
        - type: threshold
          metric: lb_rps
          upper: 60
          lower: 30
          for: 4s
          down_for: 6s
          window: 4s
`

const (
	lbPool, lbAppPool, lbWeb = "lbe2e", "lbapp", "lbweb"
	lbService                = lbWeb + "-lb"
	lbPort, lbStatsPort      = 18080, 18404
	lbLight, lbHeavy         = 20, 100 // requests/s
)

// outcome is one request of the load generator.
type outcome struct {
	at       time.Time
	endpoint string
	took     time.Duration
	err      string // "" for a 200
}

// lbLoad is the tier in front of the balancers, as DNS round robin with
// health checks or a cloud load balancer would be: it sends an open-loop
// rate of requests round robin to every balancer replica that is running and
// ready, and nowhere else. It records every request.
//
// Ready is what such a tier's health checking says of a replica's health URI
// (balancer.HealthPath, 200 only while the replica has a server up): it is
// polled every lbCheckEvery; a replica takes requests once it answered 200
// lbRise times in a row and leaves after lbFall failures (503 from the stop
// signal, or no answer within lbCheckTimeout). lbRise spans two seconds,
// more than HAProxy's check timeout (1s): a server that just resolved counts
// as up until its first check ends, so one 200 alone does not prove the
// replica can serve. A slow answer is not a failure before lbCheckTimeout,
// as with a cloud load balancer's health checks: when the host stalls, the
// replicas stay in rotation and answer late rather than none being left.
type lbLoad struct {
	cli  *client.Client
	hc   *http.Client
	rate atomic.Int64

	mu        sync.Mutex
	endpoints []string // ready balancer replicas, addr:port
	results   []outcome
	next      int
	timeline  []string // replicas in and out of rotation, and why

	stop chan struct{}
	wg   sync.WaitGroup
}

const (
	lbCheckEvery   = 250 * time.Millisecond
	lbCheckTimeout = 3 * time.Second
	lbRise         = 9 // 2s of 200s
	lbFall         = 3
)

func newLBLoad(t *testing.T, s *stack) *lbLoad {
	g := &lbLoad{cli: s.cli, stop: make(chan struct{}),
		hc: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			MaxIdleConnsPerHost: 64, IdleConnTimeout: 3 * time.Second, // below HAProxy's keep-alive timeout
			DialContext: (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		}}}
	g.wg.Add(1)
	go g.discover()
	t.Cleanup(g.close)
	return g
}

func (g *lbLoad) close() {
	select {
	case <-g.stop:
	default:
		close(g.stop)
	}
	g.wg.Wait()
}

// lbReplicas returns the balancer's running replicas as node addresses.
func lbReplicas(ctx context.Context, cli *client.Client) (map[string]string, error) {
	tasks, err := cli.TaskList(ctx, client.TaskListOptions{Filters: client.Filters{}.Add("service", lbService)})
	if err != nil {
		return nil, err
	}
	nodes, err := cli.NodeList(ctx, client.NodeListOptions{})
	if err != nil {
		return nil, err
	}
	addr := map[string]string{}
	for _, n := range nodes.Items {
		addr[n.ID] = n.Status.Addr
	}
	out := map[string]string{} // task ID -> node address
	for _, tk := range tasks.Items {
		if tk.DesiredState == mswarm.TaskStateRunning && tk.Status.State == mswarm.TaskStateRunning && addr[tk.NodeID] != "" {
			out[tk.ID] = addr[tk.NodeID]
		}
	}
	return out, nil
}

// discover keeps endpoints to the running replicas whose health checks
// passed lbRise times in a row, and not failed lbFall times since.
func (g *lbLoad) discover() {
	defer g.wg.Done()
	hc := &http.Client{Timeout: lbCheckTimeout, Transport: &http.Transport{DisableKeepAlives: true}}
	type health struct {
		ok, bad int
		ready   bool
	}
	checks := map[string]*health{} // endpoint -> its health checks
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		reps, err := lbReplicas(ctx, g.cli)
		cancel()
		if err == nil {
			running := map[string]bool{}
			for _, a := range reps {
				running[net.JoinHostPort(a, fmt.Sprint(lbPort))] = true
			}
			for ep := range checks {
				if !running[ep] {
					delete(checks, ep)
				}
			}
			var wg sync.WaitGroup
			var mu sync.Mutex
			for ep := range running {
				wg.Add(1)
				go func() {
					defer wg.Done()
					pass, why := false, ""
					if resp, err := hc.Get("http://" + ep + balancer.HealthPath); err != nil {
						why = err.Error()
					} else {
						resp.Body.Close()
						pass, why = resp.StatusCode == http.StatusOK, resp.Status
					}
					mu.Lock()
					defer mu.Unlock()
					h := checks[ep]
					if h == nil {
						h = &health{}
						checks[ep] = h
					}
					if pass {
						h.ok, h.bad = h.ok+1, 0
					} else {
						h.ok, h.bad = 0, h.bad+1
					}
					switch {
					case !h.ready && h.ok >= lbRise:
						h.ready = true
						g.note(fmt.Sprintf("front tier: %s in (%d passes)", ep, h.ok))
					case h.ready && h.bad >= lbFall:
						h.ready = false
						g.note(fmt.Sprintf("front tier: %s out (%d failures, last: %s)", ep, h.bad, why))
					}
				}()
			}
			wg.Wait()
			var ready []string
			for ep, h := range checks {
				if h.ready {
					ready = append(ready, ep)
				}
			}
			sort.Strings(ready)
			g.mu.Lock()
			g.endpoints = ready
			g.mu.Unlock()
		}
		select {
		case <-g.stop:
			return
		case <-time.After(lbCheckEvery):
		}
	}
}

func (g *lbLoad) note(s string) {
	g.mu.Lock()
	g.timeline = append(g.timeline, time.Now().Format("15:04:05.000 ")+s)
	g.mu.Unlock()
}

// run sends requests at the current rate until close.
func (g *lbLoad) run() {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		sem := make(chan struct{}, 256)
		var inflight sync.WaitGroup
		defer inflight.Wait()
		next := time.Now()
		for {
			next = next.Add(time.Second / time.Duration(max(g.rate.Load(), 1)))
			select {
			case <-g.stop:
				return
			case <-time.After(time.Until(next)):
			}
			select {
			case sem <- struct{}{}:
			default:
				g.record(outcome{at: time.Now(), err: "generator: 256 requests already in flight"})
				continue
			}
			inflight.Add(1)
			go func() {
				defer inflight.Done()
				defer func() { <-sem }()
				g.one()
			}()
		}
	}()
}

func (g *lbLoad) one() {
	g.mu.Lock()
	var ep string
	if len(g.endpoints) > 0 {
		ep = g.endpoints[g.next%len(g.endpoints)]
		g.next++
	}
	g.mu.Unlock()
	o := outcome{at: time.Now(), endpoint: ep}
	if ep == "" {
		o.err = "no ready balancer replica"
		g.record(o)
		return
	}
	resp, err := g.hc.Get("http://" + ep + "/")
	if err != nil {
		o.took, o.err = time.Since(o.at), err.Error()
		g.record(o)
		return
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	o.took = time.Since(o.at)
	switch {
	case err != nil:
		o.err = "reading the body: " + err.Error()
	case resp.StatusCode != http.StatusOK:
		o.err = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	case len(body) == 0:
		o.err = "empty body"
	}
	g.record(o)
}

func (g *lbLoad) record(o outcome) {
	g.mu.Lock()
	g.results = append(g.results, o)
	g.mu.Unlock()
}

// between returns the outcomes in [from, to).
func (g *lbLoad) between(from, to time.Time) []outcome {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []outcome
	for _, o := range g.results {
		if !o.at.Before(from) && o.at.Before(to) {
			out = append(out, o)
		}
	}
	return out
}

// servedBy counts the successful requests per balancer endpoint since from.
func (g *lbLoad) servedBy(from time.Time) map[string]int {
	out := map[string]int{}
	for _, o := range g.between(from, time.Now().Add(time.Hour)) {
		if o.err == "" {
			out[o.endpoint]++
		}
	}
	return out
}

// lbWatch polls, every 200 ms, what HAProxy says of each server (from the
// stats of every running balancer replica), which node each task of the app
// runs on, and the nodes: enough to tell when a node's tasks left the
// balancer's rotation and when the node left the cluster.
type lbWatch struct {
	cli  *client.Client
	hc   *http.Client
	mu   sync.Mutex
	node map[string]string // task IP -> node ID (every task ever seen)

	inRotation map[string][2]time.Time // node ID -> first and last poll with a server of it in rotation
	drainAt    map[string]time.Time    // node ID -> first seen paused or drained
	goneAt     map[string]time.Time    // node ID -> first poll without it
	seenNode   map[string]bool
	frontend   map[string]int64 // balancer task ID -> highest request count seen
	polls      int
	runs       []runSample       // running tasks of the app at every poll
	status     map[string]string // balancer task ID and server address -> status and last check
	timeline   []string          // changes of status
	stop       chan struct{}
	done       chan struct{}
}

// runSample is how many tasks of the app Swarm saw running at a poll, and where.
type runSample struct {
	at      time.Time
	running int
	where   string // node ID prefixes of the running tasks
}

func newLBWatch(t *testing.T, s *stack) *lbWatch {
	w := &lbWatch{cli: s.cli, hc: &http.Client{Timeout: time.Second},
		node: map[string]string{}, inRotation: map[string][2]time.Time{}, drainAt: map[string]time.Time{},
		goneAt: map[string]time.Time{}, seenNode: map[string]bool{}, frontend: map[string]int64{}, status: map[string]string{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	t.Cleanup(w.close)
	return w
}

func (w *lbWatch) close() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

func (w *lbWatch) run() {
	defer close(w.done)
	for {
		select {
		case <-w.stop:
			return
		case <-time.After(200 * time.Millisecond):
		}
		w.poll()
	}
}

func (w *lbWatch) poll() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	tasks, err := w.cli.TaskList(ctx, client.TaskListOptions{Filters: client.Filters{}.Add("service", lbWeb)})
	if err != nil {
		return
	}
	nodes, err := w.cli.NodeList(ctx, client.NodeListOptions{})
	if err != nil {
		return
	}
	reps, err := lbReplicas(ctx, w.cli)
	if err != nil {
		return
	}
	type stat struct {
		task string
		sum  balancer.Summary
	}
	var stats []stat
	for id, addr := range reps {
		resp, err := w.hc.Get(fmt.Sprintf("http://%s/stats;csv", net.JoinHostPort(addr, fmt.Sprint(lbStatsPort))))
		if err != nil {
			continue
		}
		rows, err := balancer.ParseCSV(resp.Body)
		resp.Body.Close()
		if err != nil {
			continue
		}
		if sum, ok := balancer.Summarize(rows, lbWeb); ok {
			stats = append(stats, stat{id, sum})
		}
	}
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.polls++
	run := runSample{at: now}
	var where []string
	for _, tk := range tasks.Items {
		if tk.Status.State == mswarm.TaskStateRunning {
			run.running++
			where = append(where, tk.NodeID[:min(len(tk.NodeID), 6)])
		}
	}
	sort.Strings(where)
	run.where = strings.Join(where, " ")
	w.runs = append(w.runs, run)
	for _, tk := range tasks.Items {
		for _, na := range tk.NetworksAttachments {
			for _, a := range na.Addresses {
				if tk.NodeID != "" && a.IsValid() {
					w.node[a.Addr().String()] = tk.NodeID
				}
			}
		}
	}
	present := map[string]bool{}
	for _, n := range nodes.Items {
		present[n.ID] = true
		w.seenNode[n.ID] = true
		// hoist drains by pausing the node (make-before-break); Swarm's own
		// drain is the availability drain.
		if n.Spec.Availability != mswarm.NodeAvailabilityActive {
			if _, ok := w.drainAt[n.ID]; !ok {
				w.drainAt[n.ID] = now
			}
		}
	}
	for id := range w.seenNode {
		if _, ok := w.goneAt[id]; !ok && !present[id] {
			w.goneAt[id] = now
		}
	}
	for _, st := range stats {
		w.frontend[st.task] = max(w.frontend[st.task], st.sum.Requests)
		for _, sv := range st.sum.Servers {
			key, cur := st.task[:min(len(st.task), 6)]+" "+sv.Addr, sv.Status+" "+sv.Check
			if w.status[key] != cur {
				w.timeline = append(w.timeline, fmt.Sprintf("%s balancer %s: %s -> %s",
					now.Format("15:04:05.000"), key, w.status[key], cur))
				w.status[key] = cur
			}
			ip, _, _ := strings.Cut(sv.Addr, ":")
			n := w.node[ip]
			if n == "" || !sv.InRotation() {
				continue
			}
			span := w.inRotation[n]
			if span[0].IsZero() {
				span[0] = now
			}
			span[1] = now
			w.inRotation[n] = span
		}
	}
}

func (w *lbWatch) snapshot() (rot map[string][2]time.Time, drain, gone map[string]time.Time, frontend int64, polls int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	rot, drain, gone = map[string][2]time.Time{}, map[string]time.Time{}, map[string]time.Time{}
	for k, v := range w.inRotation {
		rot[k] = v
	}
	for k, v := range w.drainAt {
		drain[k] = v
	}
	for k, v := range w.goneAt {
		gone[k] = v
	}
	for _, v := range w.frontend {
		frontend += v
	}
	return rot, drain, gone, frontend, w.polls
}

// runsBetween returns the polls of the app's running tasks from from to to:
// the fewest running, and the timeline of changes.
func (w *lbWatch) runsBetween(from, to time.Time) (fewest, polls int, timeline []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	fewest = -1
	last := ""
	for _, r := range w.runs {
		if r.at.Before(from) || r.at.After(to) {
			continue
		}
		polls++
		if fewest < 0 || r.running < fewest {
			fewest = r.running
		}
		if cur := fmt.Sprintf("%d running [%s]", r.running, r.where); cur != last {
			timeline = append(timeline, r.at.Format("15:04:05.000")+" "+cur)
			last = cur
		}
	}
	return fewest, polls, timeline
}

// running counts the running tasks of service and the ready nodes of pool.
func (s *stack) running(t *testing.T, service, pool string) (tasks, desired, nodes int) {
	st := s.state(t)
	for _, tk := range st.Tasks {
		if tk.Service == service && tk.State == cluster.TaskRunning {
			tasks++
		}
	}
	for _, sv := range st.Services {
		if sv.Name == service {
			desired = sv.Desired
		}
	}
	for _, n := range st.Nodes {
		if n.Pool == pool && n.Ready {
			nodes++
		}
	}
	return tasks, desired, nodes
}

// TestBalancer is MiCADO's version B on the real stack: an app behind a
// layer of HAProxy replicas on a pool of their own; traffic enters only
// through the balancers; a machine of the app is drained (its tasks leave
// the balancer's rotation before the machine is destroyed); under load the
// app's replicas and the balancer layer (replicas and machines) scale out,
// and back in while the load goes on; every request is counted.
func TestBalancer(t *testing.T) {
	s := newStack(t)
	testStart := time.Now()
	dir := t.TempDir()
	desc := filepath.Join(dir, "balancer.yaml")
	write := func(appMin int, apps string) {
		t.Helper()
		if err := os.WriteFile(desc, []byte(fmt.Sprintf(lbDescriptor, appMin, apps)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { // runs last
		for _, pool := range []string{lbPool, lbAppPool} {
			if left := s.leftovers(t, pool); len(left) > 0 {
				t.Errorf("left behind:\n%s", strings.Join(left, "\n"))
			}
		}
	})
	newProvider(t, s, lbPool, 1, "") // their cleanups destroy what is left, even on failure
	newProvider(t, s, lbAppPool, 1, "")
	t.Cleanup(func() {
		s.removeService(t, lbService)
		s.removeService(t, lbWeb)
		s.removeNetwork("hoist-" + lbWeb)
		s.removeBalancerConfigs(t)
	})

	// 1. The pools' machines: one balancer machine, two for the app.
	write(2, "apps: []\n")
	h := startHoist(t, desc, "")
	waitFor(t, 90*time.Second, "1 balancer machine and 2 app machines ready", func() bool {
		_, _, lbNodes := s.running(t, "", lbPool)
		_, _, appNodes := s.running(t, "", lbAppPool)
		return lbNodes == 1 && appNodes == 2
	})

	// 2. The app and its balancer (reload): Swarm spreads the two tasks.
	write(2, lbApps)
	reload := func(n int) {
		t.Helper()
		h.cmd.Process.Signal(syscall.SIGHUP)
		waitFor(t, 15*time.Second, "hoist reloaded", func() bool { return strings.Count(h.out.String(), "hoist: reloaded") >= n })
	}
	reload(1)
	watch := newLBWatch(t, s)
	waitFor(t, 90*time.Second, "2 tasks of the app on 2 machines, in the balancer's rotation", func() bool {
		rot, _, _, _, _ := watch.snapshot()
		up := 0
		for _, span := range rot {
			if time.Since(span[1]) < time.Second {
				up++
			}
		}
		return up == 2
	})
	gen := newLBLoad(t, s)
	var loadStart, drainStart, drainEnd, outStart, outEnd, inStart, inEnd time.Time
	type phase struct {
		name     string
		from, to time.Time
	}
	// figures reports every request of the phases reached, and why any failed.
	figures := func() (report string, total, failed int) {
		phases := []phase{
			{"light load, before any change", loadStart, drainStart},
			{"app machine drained (task moved)", drainStart, drainEnd},
			{"scale-out: app 2->4, balancer 1->2", outStart, outEnd},
			{fmt.Sprintf("steady at %d req/s after the scale-out", lbHeavy), outEnd, inStart},
			{"scale-in under load: app 4->2, balancer 2->1", inStart, inEnd},
		}
		var b strings.Builder
		fmt.Fprintf(&b, "balancer e2e figures (requests through the balancer layer only):\n")
		reasons := map[string]int{}
		end := loadStart
		for _, p := range phases {
			if p.from.IsZero() {
				break
			}
			if p.to.IsZero() {
				p.to, p.name = time.Now(), p.name+" (not reached)"
			}
			end = p.to
			out := gen.between(p.from, p.to)
			f := 0
			var took []time.Duration
			for _, o := range out {
				if o.err != "" {
					f++
					reasons[o.err]++
				} else {
					took = append(took, o.took)
				}
			}
			total += len(out)
			failed += f
			fmt.Fprintf(&b, "  %-46s %5.1fs %6d requests %4d failed (%.3f%%); answered in p50 %s p99 %s max %s\n",
				p.name, p.to.Sub(p.from).Seconds(), len(out), f, pct(f, len(out)), quantile(took, 0.5), quantile(took, 0.99), quantile(took, 1))
		}
		fmt.Fprintf(&b, "  %-46s %5.1fs %6d requests %4d failed (%.3f%%)\n", "whole run", end.Sub(loadStart).Seconds(), total, failed, pct(failed, total))
		for r, n := range reasons {
			fmt.Fprintf(&b, "  failure x%d: %s\n", n, r)
		}
		shown := 0
		for _, o := range gen.between(loadStart, time.Now().Add(time.Hour)) {
			if o.err != "" && shown < 20 {
				shown++
				fmt.Fprintf(&b, "  failed at %s after %s, sent to %q: %.80q\n", o.at.Format("15:04:05.000"), o.took.Round(time.Millisecond), o.endpoint, o.err)
			}
		}
		return b.String(), total, failed
	}
	timelines := func() string {
		gen.mu.Lock()
		g := strings.Join(gen.timeline, "\n")
		gen.mu.Unlock()
		watch.mu.Lock()
		w := strings.Join(watch.timeline, "\n")
		watch.mu.Unlock()
		return "the front tier's view of the balancer replicas:\n" + g + "\nHAProxy's view of the servers (status, last check):\n" + w
	}
	logs := followServiceLogs(t, s, lbService)
	reported := false
	t.Cleanup(func() {
		if t.Failed() && !reported {
			r, _, _ := figures()
			t.Log(r + timelines() + "\nthe balancer replicas' logs:\n" + logs.String())
		}
	})
	waitFor(t, 30*time.Second, "a ready balancer replica", func() bool {
		gen.mu.Lock()
		defer gen.mu.Unlock()
		return len(gen.endpoints) == 1
	})
	gen.rate.Store(lbLight)
	loadStart = time.Now()
	gen.run()
	waitFor(t, 15*time.Second, "requests through the balancer", func() bool { return len(gen.servedBy(loadStart)) == 1 })
	time.Sleep(5 * time.Second) // steady traffic before any change

	// 3. Drain: the app pool's min goes to 1; hoist drains one machine, its
	// task moves (make-before-break: its replacement runs before it stops),
	// the machine is removed and destroyed.
	drainStart = time.Now()
	write(1, lbApps)
	reload(2)
	waitFor(t, 90*time.Second, "an app machine destroyed", func() bool { return h.count("machine.destroyed", lbAppPool) == 1 })
	drainEnd = time.Now()
	rot, drains, gone, _, polls := watch.snapshot()
	var drained string
	for n, at := range drains {
		if at.After(drainStart) {
			drained = n
		}
	}
	if drained == "" {
		t.Fatalf("no node seen draining; events:\n%s", strings.Join(h.events(), "\n"))
	}
	span, wasUp := rot[drained]
	goneAt, isGone := gone[drained]
	switch {
	case !wasUp || !span[0].Before(drains[drained]):
		t.Errorf("no task of node %s was seen in the balancer's rotation before its drain: nothing was tested", drained)
	case !isGone:
		t.Errorf("node %s is still in the cluster after its machine was destroyed", drained)
	case !span[1].Before(goneAt):
		t.Errorf("a task of node %s was still in the balancer's rotation at %s, when the node had left the cluster (%s) for its machine's destruction",
			drained, span[1].Format("15:04:05.000"), goneAt.Format("15:04:05.000"))
	}
	drainReport := fmt.Sprintf("drained node %s: in rotation until %s; drain issued %s; node removed %s (%.1fs after its last task left the rotation; %d polls of HAProxy)",
		drained, span[1].Format("15:04:05.000"), drains[drained].Format("15:04:05.000"), goneAt.Format("15:04:05.000"),
		goneAt.Sub(span[1]).Seconds(), polls)
	t.Log(drainReport)
	// Make before break: 2 tasks of the app running at every poll from the
	// drain until the machine was destroyed (Swarm's own drain stops the
	// task first and starts its replacement only after).
	fewest, runPolls, runs := watch.runsBetween(drainStart, drainEnd)
	runReport := fmt.Sprintf("tasks of %s running from the drain to the machine's destruction (%.1fs, node removed %.1fs after the drain was issued): fewest %d in %d polls:\n    %s",
		lbWeb, drainEnd.Sub(drainStart).Seconds(), goneAt.Sub(drains[drained]).Seconds(), fewest, runPolls, strings.Join(runs, "\n    "))
	t.Log(runReport)
	if runPolls < 5 || fewest < 2 {
		t.Errorf("make before break: %s", runReport)
	}
	drainReport += "\n  " + runReport
	// The drain's constraint went with the node; the app keeps start-first.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if res, err := s.cli.ServiceInspect(ctx, lbWeb, client.ServiceInspectOptions{}); err != nil {
		t.Errorf("inspect %s: %v", lbWeb, err)
	} else if spec := res.Service.Spec; spec.TaskTemplate.Placement == nil ||
		!slices.Equal(spec.TaskTemplate.Placement.Constraints, []string{"node.labels.hoist.pool==" + lbAppPool}) ||
		spec.UpdateConfig == nil || spec.UpdateConfig.Order != mswarm.UpdateOrderStartFirst {
		t.Errorf("%s after the drain: placement %+v, update config %+v; want only the pool's constraint, start-first",
			lbWeb, spec.TaskTemplate.Placement, spec.UpdateConfig)
	}

	// 4. Heavy load: the app grows 2 -> 4, the balancer 1 -> 2 replicas, the
	// second on a new machine, and the generator finds it.
	outStart = time.Now()
	gen.rate.Store(lbHeavy)
	waitFor(t, 100*time.Second, "4 app replicas, 2 balancers on 2 machines, both serving", func() bool {
		appRun, _, _ := s.running(t, lbWeb, lbAppPool)
		lbRun, _, lbNodes := s.running(t, lbService, lbPool)
		return appRun == 4 && lbRun == 2 && lbNodes == 2 && len(gen.servedBy(time.Now().Add(-2*time.Second))) == 2
	})
	outEnd = time.Now()
	time.Sleep(8 * time.Second) // steady at the heavy rate on the grown layers
	perBalancer := gen.servedBy(outEnd)

	// 5. Light load, still running: the app shrinks 4 -> 2, the balancer
	// 2 -> 1, and its machine is drained and destroyed.
	inStart = time.Now()
	gen.rate.Store(lbLight)
	waitFor(t, 120*time.Second, "2 app replicas, 1 balancer on 1 machine", func() bool {
		appRun, appWant, _ := s.running(t, lbWeb, lbAppPool)
		lbRun, lbWant, _ := s.running(t, lbService, lbPool)
		dirs, _ := filepath.Glob(filepath.Join(local.DefaultStateDir, local.DefaultPrefix+lbPool+"-*"))
		return appRun == 2 && appWant == 2 && lbRun == 1 && lbWant == 1 && len(dirs) == 1 &&
			h.count("machine.destroyed", lbPool) == 1
	})
	time.Sleep(3 * time.Second) // traffic goes on after the last change
	inEnd = time.Now()
	gen.close()
	watch.close()
	h.stop(t)
	t.Log("timeline of hoist's events:\n" + strings.Join(h.events(), "\n"))

	// The figures.
	report, total, failed := figures()
	reported = true
	var b strings.Builder
	b.WriteString(report)
	_, _, _, frontend, _ := watch.snapshot()
	fmt.Fprintf(&b, "  requests counted by the balancers' frontends: %d (the generator had %d answered)\n", frontend, total-failed)
	fmt.Fprintf(&b, "  answered per balancer replica at %d req/s after the scale-out: %v\n", lbHeavy, perBalancer)
	fmt.Fprintf(&b, "  %s\n", drainReport)
	fmt.Fprintf(&b, "  whole test: %s\n", time.Since(testStart).Round(time.Second))
	t.Log(b.String() + timelines())
	defer func() {
		if t.Failed() {
			t.Log("the balancer replicas' logs:\n" + logs.String())
		}
	}()
	fmt.Println(b.String())

	if total < 1500 {
		t.Errorf("only %d requests sent: the load did not run", total)
	}
	// The goal is none; a failure is reported above with its reason.
	if failed > 0 {
		t.Errorf("%d of %d requests failed (%.3f%%) while replicas and balancers changed", failed, total, pct(failed, total))
	}
	if len(perBalancer) != 2 {
		t.Errorf("after the scale-out, traffic went through %d balancer replicas, want 2: %v", len(perBalancer), perBalancer)
	}
	// Everything answered went through a balancer (counters of a replica
	// read up to 200 ms before it stopped may miss its last requests).
	if answered := int64(total - failed); frontend < answered*97/100 || frontend > int64(total)+500 {
		t.Errorf("the balancers counted %d requests, the generator had %d answered", frontend, answered)
	}
}

// quantile returns the q quantile of ds (0 when empty).
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(q*float64(len(s)-1))].Round(time.Millisecond)
}

// followServiceLogs collects service's logs (HAProxy's server state
// changes, with timestamps) from every task as they come, until the test
// ends: tasks of machines destroyed during the test are included.
func followServiceLogs(t *testing.T, s *stack, service string) *syncBuffer {
	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			rc, err := s.cli.ServiceLogs(ctx, service, client.ServiceLogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: true, Follow: true})
			if err != nil { // not created yet
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
				continue
			}
			stdcopy.StdCopy(out, out, rc)
			rc.Close()
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return out
}

func pct(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}

// removeBalancerConfigs removes the Swarm configs hoist made for the test's
// balancer (a removed service leaves its configs).
func (s *stack) removeBalancerConfigs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		list, err := s.cli.ConfigList(ctx, client.ConfigListOptions{Filters: client.Filters{}.Add("label", balancer.LabelService+"="+lbService)})
		if err != nil || len(list.Items) == 0 {
			return
		}
		for _, c := range list.Items {
			s.cli.ConfigRemove(ctx, c.ID, client.ConfigRemoveOptions{})
		}
		time.Sleep(time.Second) // tasks still stopping hold theirs
	}
}
