//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/hoist/hoist/internal/throttle"
)

// netguardDescriptor: three replicas of the demo app on one local machine;
// the traffic streams' detectors warm up in 16 values (32 s) instead of the
// default's 150 (controller.anomaly.streams); a policy that scales up on
// received traffic, which an unthrottled flood sets off and normal load
// does not (about 5 KB/s per replica against 50 KB/s).
const netguardDescriptor = `
controller:
  interval: 2s
  boot_timeout: 2m
  anomaly:
    streams:
      net_rx: {detector: robustz, warmup: 16}
      net_tx: {detector: robustz, warmup: 16}
pools:
  - name: ng
    provider: local
    min: 1
    max: 1
    machine: {cpus: 1, memory: 1GiB}
apps:
  - name: ngdemo
    image: hoist/demoapp:latest
    pools: [ng]
    port: 8080
    env: [WORK=1ms]
    replicas: {min: 3, max: 6}
    cooldown: {up: 6s, down: 5m}
    on_anomaly: throttle
    throttle: {rate: 3Mbit, for: 24s}
    policies:
      - type: threshold
        metric: net_rx
        upper: 50000
        lower: 1
        for: 4s
        window: 2s
`

// ngTask is one running task of the app, as Swarm reports it.
type ngTask struct {
	id  string
	pid int    // its container's main process, in the host's PID namespace
	ip  string // on the app's overlay network
}

func (s *stack) ngTasks(t *testing.T, app string) []ngTask {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	svcs, err := s.cli.ServiceList(ctx, client.ServiceListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	id := ""
	for _, sv := range svcs.Items {
		if sv.Spec.Name == app {
			id = sv.ID
		}
	}
	if id == "" {
		return nil // not deployed yet
	}
	res, err := s.cli.TaskList(ctx, client.TaskListOptions{Filters: client.Filters{}.Add("service", id).Add("desired-state", "running")})
	if err != nil {
		t.Fatal(err)
	}
	var out []ngTask
	for _, tk := range res.Items {
		if tk.Status.State != swarm.TaskStateRunning || tk.Status.ContainerStatus == nil || tk.Status.ContainerStatus.PID == 0 {
			continue
		}
		nt := ngTask{id: tk.ID, pid: tk.Status.ContainerStatus.PID}
		for _, na := range tk.NetworksAttachments {
			if na.Network.Spec.Name == "hoist-"+app && len(na.Addresses) > 0 {
				nt.ip = na.Addresses[0].Addr().String()
			}
		}
		out = append(out, nt)
	}
	return out
}

// netBytes is a task's received and sent bytes so far over its interfaces
// but lo, read from the kernel in the container's network namespace: the
// test's own measure, not hoist's. Sent bytes are counted after the egress
// limit. An interface's received bytes are counted as it receives them,
// before the ingress limit drops any: under a limit, received is what its
// IFB passed on (delivered to the task), and arrived what came in.
func netBytes(t *testing.T, pid int) (rx, tx uint64) {
	rx, tx, _ = netCounters(t, pid)
	return rx, tx
}

func netCounters(t *testing.T, pid int) (rx, tx, arrived uint64) {
	t.Helper()
	h := nsHandle(t, pid)
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	ifb := map[string]*netlink.LinkStatistics{}
	for _, l := range links {
		if l.Type() == "ifb" && l.Attrs().Statistics != nil {
			ifb[l.Attrs().Name] = l.Attrs().Statistics
		}
	}
	for _, l := range links {
		a := l.Attrs()
		if a.Name == "lo" || l.Type() == "ifb" || a.Statistics == nil {
			continue
		}
		arrived += a.Statistics.RxBytes
		tx += a.Statistics.TxBytes
		if st, ok := ifb[throttle.IFBName(a.Index)]; ok {
			rx += st.TxBytes
		} else {
			rx += a.Statistics.RxBytes
		}
	}
	return rx, tx, arrived
}

// rates are each task's received, sent and arrived bit/s over a span
// (arrived: received before the ingress limit's drops, see netCounters).
type rates map[string][3]float64

func measure(t *testing.T, tasks []ngTask, d time.Duration) rates {
	t.Helper()
	first := map[string][3]uint64{}
	start := time.Now()
	for _, tk := range tasks {
		rx, tx, ar := netCounters(t, tk.pid)
		first[tk.id] = [3]uint64{rx, tx, ar}
	}
	time.Sleep(d) // a measuring span, not synchronisation
	el := time.Since(start).Seconds()
	out := rates{}
	for _, tk := range tasks {
		rx, tx, ar := netCounters(t, tk.pid)
		f := first[tk.id]
		out[tk.id] = [3]float64{float64(rx-f[0]) * 8 / el, float64(tx-f[1]) * 8 / el, float64(ar-f[2]) * 8 / el}
	}
	return out
}

// TestNetguardFloodIsThrottled is the network guard's whole loop on the real
// stack: the demo app runs three replicas on a machine of the local
// provider under a steady load; hoist's agent there reports each task's
// traffic; one task is flooded (demoapp load --flood, uploads and
// downloads at full speed). hoist must flag it within two ticks,
// limit that task to 3 Mbit/s each way inside its container's namespace
// (one qdisc however often the agent reconciles), keep the other tasks'
// traffic as it was (within 10 %), hold the scale-up the policy asks for
// meanwhile, and when the limit expires remove it, leaving everything as
// before. Traffic is measured from the kernel's counters in each
// container's namespace, not from hoist.
func TestNetguardFloodIsThrottled(t *testing.T) {
	s := newStack(t)
	const pool, app, mbit = "ng", "ngdemo", 1e6
	testStart := time.Now()
	desc := writeFile(t, t.TempDir(), "ng.yaml", netguardDescriptor)
	t.Cleanup(func() { // runs last
		if left := s.leftovers(t, pool); len(left) > 0 {
			t.Errorf("left behind:\n%s", strings.Join(left, "\n"))
		}
	})
	newProvider(t, s, pool, 1, "")
	t.Cleanup(func() { s.removeService(t, app); s.removeNetwork("hoist-" + app) })
	h := startHoist(t, desc, "")

	var tasks []ngTask
	waitFor(t, 3*time.Minute, "3 replicas running", func() bool {
		tasks = s.ngTasks(t, app)
		return len(tasks) == 3 && tasks[0].ip != "" && tasks[1].ip != "" && tasks[2].ip != ""
	})
	t.Logf("3 replicas running after %s (load average %s)", time.Since(testStart).Round(time.Second), loadAvg())
	// Steady load: 30 requests/s over the three, each answered with 20 kB.
	s.startLoadArgs(t, app, "--rate", "30", "--path", "/?bytes=20000")
	loadFrom := len(h.out.String())
	for _, tk := range tasks {
		_, tx0 := netBytes(t, tk.pid)
		waitFor(t, time.Minute, "the load to reach task "+tk.id, func() bool {
			_, tx := netBytes(t, tk.pid)
			return tx > tx0+200_000
		})
	}
	// The detectors of net_rx and net_tx score once they have 16 values;
	// they get one per tick once the collector has two samples of the app.
	waitFor(t, 2*time.Minute, "20 ticks under load", func() bool {
		return statusLines(h.out.String()[loadFrom:]) >= 20
	})
	if n := h.count("app.throttle", "") + h.count("app.anomaly", ""); n > 0 {
		t.Fatalf("anomalies or limits before the flood:\n%s", strings.Join(h.events(), "\n"))
	}
	before := measure(t, tasks, 8*time.Second)

	victim := tasks[0]
	s.startFlood(t, app, victim.ip)
	// The flood starts between the last poll that saw the task's usual
	// traffic and the first that saw a megabyte more: ticks are counted
	// from that last poll (hoist's output up to it), so a tick under way
	// when the flood began counts too.
	var floodAt time.Time
	floodFrom := 0
	prevRx, _ := netBytes(t, victim.pid)
	prevAt, prevOut := time.Now(), len(h.out.String())
	waitFor(t, time.Minute, "the flood to reach "+victim.id, func() bool {
		rx, _ := netBytes(t, victim.pid)
		if rx > prevRx+1<<20 {
			floodAt, floodFrom = prevAt, prevOut
			return true
		}
		prevRx, prevAt, prevOut = rx, time.Now(), len(h.out.String())
		return false
	})
	h.waitEvent(t, 30*time.Second, "app.throttle", "throttle applied by anomaly")
	flaggedAt := time.Now()
	out := h.out.String()[floodFrom:]
	anomalyAt := strings.Index(out, " app.anomaly ")
	if anomalyAt < 0 {
		t.Fatalf("a limit without an anomaly:\n%s", out)
	}
	ticks := statusLines(out[:anomalyAt]) + 1
	anomalyLine, _, _ := strings.Cut(out[anomalyAt:], "\n")
	t.Logf("flood began after %s; anomaly flagged in tick %d after it (seen by the test %.1f s later):%s",
		floodAt.Format("15:04:05.000"), ticks, flaggedAt.Sub(floodAt).Seconds(), anomalyLine)
	if ticks > 2 {
		t.Errorf("flagged in the %dth tick after the flood started, want within 2", ticks)
	}
	if !strings.Contains(anomalyLine, victim.id[:12]) {
		t.Errorf("the anomaly does not name the flooded task %s: %s", victim.id, anomalyLine)
	}
	for _, tk := range tasks[1:] {
		if strings.Contains(anomalyLine, tk.id[:12]) {
			t.Errorf("the anomaly names task %s, which did not flood: %s", tk.id, anomalyLine)
		}
	}

	// Applied by the agent on the machine, in the task's namespace, and
	// reconciled at every scrape without a second qdisc.
	var st throttle.State
	waitFor(t, 20*time.Second, "the limit in the flooded task's namespace", func() bool {
		var err error
		st, err = throttle.PIDShaper{}.Read(context.Background(), victim.pid)
		return err == nil && st.Applied
	})
	if st.Rate != 3_000_000 {
		t.Errorf("applied rate %d, want 3000000", st.Rate)
	}
	for _, tk := range tasks[1:] {
		if o, err := (throttle.PIDShaper{}).Read(context.Background(), tk.pid); err != nil || o.Applied {
			t.Errorf("task %s, which did not flood, limited: %+v %v", tk.id, o, err)
		}
	}
	limited := measure(t, tasks, 8*time.Second)
	after, err := throttle.PIDShaper{}.Read(context.Background(), victim.pid)
	if err != nil {
		t.Fatal(err)
	}
	checkOneQdisc(t, victim.pid)
	v := limited[victim.id]
	t.Logf("flooded task %s limited: receives %.3f Mbit/s (%.3f arrive, the rest dropped by the limit), sends %.3f Mbit/s (before the flood %.3f / %.3f); qdisc over the span: ingress %s; egress %s",
		victim.id[:12], v[0]/mbit, v[2]/mbit, v[1]/mbit, before[victim.id][0]/mbit, before[victim.id][1]/mbit,
		counterDelta(st.Ingress, after.Ingress), counterDelta(st.Egress, after.Egress))
	for i, dir := range []string{"receives", "sends"} {
		if v[i] > 3.3*mbit {
			t.Errorf("the flooded task %s %.3f Mbit/s under a 3 Mbit/s limit, want <= 3.3", dir, v[i]/mbit)
		}
	}
	// The flood is above the limit: the limit held it back. (How close to
	// 3 Mbit/s the flood's TCP gets through an ingress limit depends on the
	// generator's share of a busy host: 2.60 to 2.81 Mbit/s at load 15-30;
	// TestThrottleIperf checks 2.7-3.3 each way with iperf3.)
	if after.Ingress.Overlimits <= st.Ingress.Overlimits || v[2] <= v[0] {
		t.Errorf("the ingress limit held nothing back (%.3f Mbit/s arrived, %.3f received): %+v -> %+v", v[2]/mbit, v[0]/mbit, st.Ingress, after.Ingress)
	}
	for _, tk := range tasks[1:] {
		compareRates(t, "during the flood", tk.id, before[tk.id], limited[tk.id])
	}

	// The flood stops; the limit expires and the agent removes it.
	s.removeService(t, app+"-flood")
	h.waitEvent(t, time.Minute, "app.throttle", "throttle lifted (expired)")
	waitFor(t, 20*time.Second, "the limit removed from the task's namespace", func() bool {
		o, err := throttle.PIDShaper{}.Read(context.Background(), victim.pid)
		return err == nil && !o.Applied && ifbs(t, victim.pid) == 0
	})
	restored := measure(t, tasks, 8*time.Second)
	for _, tk := range tasks {
		compareRates(t, "after the limit expired", tk.id, before[tk.id], restored[tk.id])
	}
	if now := s.ngTasks(t, app); len(now) != 3 {
		t.Errorf("%d replicas after the flood, want 3", len(now))
	}
	// Replicas stay at their min (3): any app.scale is a scale-up.
	if n := h.count("app.scale", ""); n > 0 {
		t.Errorf("%d scale-ups during the flood, want none:\n%s", n, strings.Join(h.events(), "\n"))
	}
	holds := h.count("app.hold", "throttled")
	if holds == 0 {
		t.Errorf("the policy never asked for the scale-up the limit should hold:\n%s", strings.Join(h.events(), "\n"))
	}
	h.stop(t)

	t.Log("hoist's events:\n" + strings.Join(h.events(), "\n"))
	var b strings.Builder
	fmt.Fprintf(&b, "figures of this run (load average %s):\n", loadAvg())
	fmt.Fprintf(&b, "  anomaly flagged in tick %d after the flood's first bytes (interval 2s)\n", ticks)
	fmt.Fprintf(&b, "  flooded task, limited at 3 Mbit/s: receives %.3f (%.3f arrive), sends %.3f Mbit/s\n", v[0]/mbit, v[2]/mbit, v[1]/mbit)
	for _, tk := range tasks {
		fmt.Fprintf(&b, "  task %s rx/tx Mbit/s: before %.3f/%.3f, flood %.3f/%.3f, after expiry %.3f/%.3f\n", tk.id[:12],
			before[tk.id][0]/mbit, before[tk.id][1]/mbit, limited[tk.id][0]/mbit, limited[tk.id][1]/mbit,
			restored[tk.id][0]/mbit, restored[tk.id][1]/mbit)
	}
	fmt.Fprintf(&b, "  scale-ups held while throttled: %d app.hold events, %d app.scale\n", holds, h.count("app.scale", ""))
	fmt.Fprintf(&b, "  whole test: %s", time.Since(testStart).Round(time.Second))
	t.Log(b.String())
}

// compareRates fails when a task's traffic moved more than 10 % from before:
// what it sends (its answers, 1.6 Mbit/s) and its whole traffic, each within
// 10 %. What it receives alone (requests and acknowledgements, about 28
// kbit/s, a few dozen packets a second) is not held to 10 % on its own: how
// the kernel coalesces acknowledgements moves it by a packet or two a second
// between 8 s spans on an untouched task (0.029 -> 0.026 Mbit/s after expiry,
// -10.3 %, failed the old check in 1 of 3 runs with both cores busy, its sent
// 1.630 -> 1.629), which says nothing about the limit. It counts in the total and is
// printed in the figures. The flooded task is compared the same way.
func compareRates(t *testing.T, when, task string, before, now [3]float64) {
	t.Helper()
	off := func(b, n float64) bool { return b <= 0 || n < 0.9*b || n > 1.1*b }
	if off(before[1], now[1]) {
		t.Errorf("task %s sent %.3f Mbit/s %s, %.3f before: more than 10 %% off", task, now[1]/1e6, when, before[1]/1e6)
	}
	if b, n := before[0]+before[1], now[0]+now[1]; off(b, n) {
		t.Errorf("task %s received and sent %.3f Mbit/s %s, %.3f before: more than 10 %% off", task, n/1e6, when, b/1e6)
	}
}

// counterDelta is what a qdisc counted between two reads.
func counterDelta(a, b throttle.Counters) string {
	return fmt.Sprintf("%d bytes, %d packets, %d drops, %d overlimits", b.Bytes-a.Bytes, b.Packets-a.Packets, b.Drops-a.Drops, b.Overlimits-a.Overlimits)
}

// statusLines counts hoist's per-tick status lines in out ("[15:04:05] ...").
func statusLines(out string) int {
	n := 0
	for _, l := range strings.Split(out, "\n") {
		if len(l) > 11 && l[0] == '[' && l[9] == ']' {
			n++
		}
	}
	return n
}

// startFlood runs demoapp's load generator in flood mode against one task:
// eight requests at a time, each uploading 64 KiB and asking 32 KiB back
// (with the task's usual answers, both directions exceed 3 Mbit/s).
func (s *stack) startFlood(t *testing.T, app, ip string) {
	t.Helper()
	n := uint64(1)
	spec := swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: app + "-flood"},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{Image: "hoist/demoapp:latest", Args: []string{"load", "--target", ip + ":8080",
				"--concurrency", "8", "--flood", "65536", "--path", "/?work=0s&bytes=32768", "--report", "5s"}},
			Placement: &swarm.Placement{Constraints: []string{"node.role==manager"}},
			Networks:  []swarm.NetworkAttachmentConfig{{Target: "hoist-" + app}},
		},
		Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &n}},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.cli.ServiceCreate(ctx, client.ServiceCreateOptions{Spec: spec}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.removeService(t, app+"-flood") })
}

// nsHandle opens the network namespace of a process.
func nsHandle(t *testing.T, pid int) *netlink.Handle {
	t.Helper()
	ns, err := netns.GetFromPid(pid)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// ifbs counts the IFB devices in a process's network namespace.
func ifbs(t *testing.T, pid int) int {
	t.Helper()
	h := nsHandle(t, pid)
	defer h.Close()
	links, _ := h.LinkList()
	n := 0
	for _, l := range links {
		if l.Type() == "ifb" {
			n++
		}
	}
	return n
}

// checkOneQdisc looks inside a container's namespace: one root TBF and one
// ingress qdisc per interface and one IFB per interface, after the agent
// applied the limit at every scrape.
func checkOneQdisc(t *testing.T, pid int) {
	t.Helper()
	h := nsHandle(t, pid)
	defer h.Close()
	links, _ := h.LinkList()
	ifb, ifaces := 0, 0
	for _, l := range links {
		switch {
		case l.Type() == "ifb":
			ifb++
		case l.Attrs().Name != "lo":
			ifaces++
			qs, _ := h.QdiscList(l)
			kinds := map[string]int{}
			for _, q := range qs {
				kinds[q.Type()]++
			}
			if kinds["tbf"] != 1 || kinds["ingress"] != 1 {
				t.Errorf("%s qdiscs %v, want one tbf and one ingress", l.Attrs().Name, kinds)
			}
		}
	}
	if ifb != ifaces {
		t.Errorf("%d ifb devices for %d interfaces, want one each", ifb, ifaces)
	}
}
