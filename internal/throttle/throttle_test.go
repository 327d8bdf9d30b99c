package throttle_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/hoist/hoist/internal/throttle"
)

// pair is two network namespaces joined by a veth pair: "task" plays the
// container (the limit goes on its end), "peer" the rest of the network.
type pair struct {
	task, peer         string // namespace names (ip netns)
	taskNS, peerNS     netns.NsHandle
	taskIf             string
	taskAddr, peerAddr string
}

func newPair(t *testing.T) *pair {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root (network namespaces, qdiscs); CI runs as root")
	}
	id := strconv.Itoa(os.Getpid()) + strconv.FormatInt(time.Now().UnixNano()%1e6, 36)
	p := &pair{task: "hoist-tt-" + id + "a", peer: "hoist-tt-" + id + "b", taskIf: "eth0",
		taskAddr: "10.231.0.1", peerAddr: "10.231.0.2"}
	var err error
	p.taskNS, err = newNamed(p.task)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.taskNS.Close(); _ = netns.DeleteNamed(p.task) })
	p.peerNS, err = newNamed(p.peer)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.peerNS.Close(); _ = netns.DeleteNamed(p.peer) })

	// The veth pair is made in the task namespace, its peer moved out.
	h, err := netlink.NewHandleAt(p.taskNS)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: p.taskIf}, PeerName: "eth1", PeerNamespace: netlink.NsFd(p.peerNS)}
	if err := h.LinkAdd(veth); err != nil {
		t.Fatalf("veth: %v", err)
	}
	up := func(h *netlink.Handle, name, addr string) {
		l, err := h.LinkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := netlink.ParseAddr(addr + "/24")
		if err := h.AddrAdd(l, a); err != nil {
			t.Fatal(err)
		}
		if err := h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
		lo, _ := h.LinkByName("lo")
		_ = h.LinkSetUp(lo)
	}
	up(h, p.taskIf, p.taskAddr)
	hp, err := netlink.NewHandleAt(p.peerNS)
	if err != nil {
		t.Fatal(err)
	}
	defer hp.Close()
	up(hp, "eth1", p.peerAddr)
	return p
}

// newNamed makes a named namespace (so `ip netns exec` finds it) without
// leaving this goroutine's thread in it.
func newNamed(name string) (netns.NsHandle, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return 0, err
	}
	defer orig.Close()
	ns, err := netns.NewNamed(name)
	if err != nil {
		return 0, fmt.Errorf("netns %s: %w", name, err)
	}
	if err := netns.Set(orig); err != nil {
		return 0, err
	}
	return ns, nil
}

type iperfResult struct {
	End struct {
		SumSent struct {
			BitsPerSecond float64 `json:"bits_per_second"`
		} `json:"sum_sent"`
		SumReceived struct {
			BitsPerSecond float64 `json:"bits_per_second"`
		} `json:"sum_received"`
	} `json:"end"`
	Error string `json:"error"`
}

// iperf runs iperf3 from the task namespace to a server in the peer
// namespace for secs seconds; reverse makes the peer send (the task's
// ingress). It gives the receiver's rate in bit/s.
func (p *pair) iperf(t *testing.T, secs int, reverse bool) float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs+60)*time.Second)
	defer cancel()
	// The server lives in a fresh namespace of its own, so its port is free.
	port := "5201"
	srv := exec.CommandContext(ctx, "ip", "netns", "exec", p.peer, "iperf3", "-s", "-1", "-B", p.peerAddr, "-p", port)
	if err := srv.Start(); err != nil {
		t.Fatalf("iperf3 server: %v", err)
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	// Wait for the server's socket (poll, with a deadline).
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, _ := exec.CommandContext(ctx, "ip", "netns", "exec", p.peer, "ss", "-Hltn", "sport = :"+port).Output()
		if len(out) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("iperf3 server did not listen within 20s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	args := []string{"netns", "exec", p.task, "iperf3", "-J", "-c", p.peerAddr, "-p", port, "-t", strconv.Itoa(secs)}
	if reverse {
		args = append(args, "-R")
	}
	out, err := exec.CommandContext(ctx, "ip", args...).Output()
	var r iperfResult
	if jerr := json.Unmarshal(out, &r); jerr != nil || r.Error != "" || err != nil {
		t.Fatalf("iperf3 %v: %v %v %s %s", args, err, jerr, r.Error, out)
	}
	return r.End.SumReceived.BitsPerSecond
}

func TestThrottleIperf(t *testing.T) {
	if _, err := exec.LookPath("iperf3"); err != nil {
		t.Fatal("iperf3 is missing: scripts/deps installs it")
	}
	p := newPair(t)
	const secs = 10
	const mbit = 1e6

	up := p.iperf(t, secs, false)
	down := p.iperf(t, secs, true)
	t.Logf("unthrottled: task sends %.1f Mbit/s, receives %.1f Mbit/s", up/mbit, down/mbit)
	if up < 200*mbit || down < 200*mbit {
		t.Errorf("unthrottled below 200 Mbit/s: %.1f / %.1f", up/mbit, down/mbit)
	}

	lim := throttle.Limit{Rate: 3_000_000}
	for range 2 { // twice: idempotent
		if err := throttle.Apply(p.taskNS, p.taskIf, lim); err != nil {
			t.Fatal(err)
		}
	}
	assertOneOfEach(t, p)

	up = p.iperf(t, secs, false)
	down = p.iperf(t, secs, true)
	st, err := throttle.Read(p.taskNS, p.taskIf)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("throttled at 3 Mbit/s: task sends %.3f Mbit/s, receives %.3f Mbit/s; egress %+v, ingress %+v",
		up/mbit, down/mbit, st.Egress, st.Ingress)
	for name, v := range map[string]float64{"egress": up, "ingress": down} {
		if v < 2.7*mbit || v > 3.3*mbit {
			t.Errorf("throttled %s %.3f Mbit/s, want 2.7-3.3", name, v/mbit)
		}
	}
	if !st.Applied || st.Rate != 3_000_000 {
		t.Errorf("Read: applied %v rate %d", st.Applied, st.Rate)
	}
	if st.Egress.Overlimits == 0 || st.Ingress.Overlimits == 0 {
		t.Errorf("overlimits egress %d ingress %d, want > 0", st.Egress.Overlimits, st.Ingress.Overlimits)
	}

	if err := throttle.Remove(p.taskNS, p.taskIf); err != nil {
		t.Fatal(err)
	}
	if err := throttle.Remove(p.taskNS, p.taskIf); err != nil { // nothing left: not an error
		t.Fatal(err)
	}
	if st, _ := throttle.Read(p.taskNS, p.taskIf); st.Applied {
		t.Error("still applied after Remove")
	}
	assertClean(t, p)
	up = p.iperf(t, secs, false)
	down = p.iperf(t, secs, true)
	t.Logf("lifted: task sends %.1f Mbit/s, receives %.1f Mbit/s", up/mbit, down/mbit)
	if up < 200*mbit || down < 200*mbit {
		t.Errorf("lifted below 200 Mbit/s: %.1f / %.1f", up/mbit, down/mbit)
	}
}

// assertOneOfEach checks that applying twice left one root TBF, one ingress
// qdisc, one redirect filter and one IFB.
func assertOneOfEach(t *testing.T, p *pair) {
	t.Helper()
	h, err := netlink.NewHandleAt(p.taskNS)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	link, _ := h.LinkByName(p.taskIf)
	qs, err := h.QdiscList(link)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, q := range qs {
		kinds[q.Type()]++
	}
	if kinds["tbf"] != 1 || kinds["ingress"] != 1 || len(qs) != 2 {
		t.Errorf("qdiscs on %s after applying twice: %v", p.taskIf, kinds)
	}
	fs, err := h.FilterList(link, netlink.MakeHandle(0xffff, 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 {
		t.Errorf("%d ingress filters after applying twice, want 1", len(fs))
	}
	links, _ := h.LinkList()
	ifbs := 0
	for _, l := range links {
		if l.Type() == "ifb" {
			ifbs++
			lq, _ := h.QdiscList(l)
			if len(lq) != 1 || lq[0].Type() != "tbf" {
				t.Errorf("ifb %s qdiscs %v, want one tbf", l.Attrs().Name, lq)
			}
		}
	}
	if ifbs != 1 {
		t.Errorf("%d ifb devices, want 1", ifbs)
	}
}

func assertClean(t *testing.T, p *pair) {
	t.Helper()
	h, err := netlink.NewHandleAt(p.taskNS)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	link, _ := h.LinkByName(p.taskIf)
	qs, _ := h.QdiscList(link)
	for _, q := range qs {
		if q.Type() == "tbf" || q.Type() == "ingress" {
			t.Errorf("qdisc %s left after Remove", q.Type())
		}
	}
	links, _ := h.LinkList()
	for _, l := range links {
		if l.Type() == "ifb" {
			t.Errorf("ifb %s left after Remove", l.Attrs().Name)
		}
	}
}

func TestApplyErrors(t *testing.T) {
	p := newPair(t)
	if err := throttle.Apply(p.taskNS, p.taskIf, throttle.Limit{}); err == nil {
		t.Error("rate 0 accepted")
	}
	if err := throttle.Apply(p.taskNS, "nope0", throttle.Limit{Rate: 1e6}); err == nil {
		t.Error("missing interface accepted")
	}
	names, err := throttle.Links(p.taskNS)
	if err != nil || len(names) != 1 || names[0] != p.taskIf {
		t.Errorf("Links = %v, %v", names, err)
	}
	// Another rate replaces the first in place.
	for _, r := range []uint64{5e6, 2e6} {
		if err := throttle.Apply(p.taskNS, p.taskIf, throttle.Limit{Rate: r}); err != nil {
			t.Fatal(err)
		}
		st, err := throttle.Read(p.taskNS, p.taskIf)
		if err != nil || !st.Applied || st.Rate != r {
			t.Errorf("after applying %d: %+v %v", r, st, err)
		}
	}
	assertOneOfEach(t, p)
}

// PIDShaper finds a process's namespace from its PID, as the agent does
// with a container's: a process started inside the task namespace gets the
// limit on every interface there, and loses it.
func TestPIDShaper(t *testing.T) {
	p := newPair(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	proc := exec.CommandContext(ctx, "ip", "netns", "exec", p.task, "sleep", "300")
	if err := proc.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = proc.Wait() }()
	// ip netns exec execs sleep in place: the PID is sleep's once it has
	// entered the namespace (poll until /proc says so).
	want, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := os.Readlink("/proc/" + strconv.Itoa(proc.Process.Pid) + "/ns/net")
		if err == nil && got != want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the process did not enter the namespace")
		}
		time.Sleep(10 * time.Millisecond)
	}
	var s throttle.PIDShaper
	pid := proc.Process.Pid
	if err := s.Apply(ctx, pid, throttle.Limit{Rate: 3e6}); err != nil {
		t.Fatal(err)
	}
	st, err := s.Read(ctx, pid)
	if err != nil || !st.Applied || !st.Found || st.Rate != 3e6 {
		t.Fatalf("after Apply: %+v %v", st, err)
	}
	assertOneOfEach(t, p)
	if err := s.Remove(ctx, pid); err != nil {
		t.Fatal(err)
	}
	if st, err := s.Read(ctx, pid); err != nil || st.Found || st.Applied {
		t.Fatalf("after Remove: %+v %v", st, err)
	}
	assertClean(t, p)
	if err := s.Apply(ctx, 0, throttle.Limit{Rate: 3e6}); err == nil {
		t.Fatal("pid 0 accepted")
	}
}
