//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/hoist/hoist/internal/collector"
	"github.com/hoist/hoist/internal/throttle"
)

// TestNetguardAgentThrottlesAContainer runs hoist's agent on the stack's
// dockerd against a real demoapp container labelled as a swarm task: the
// agent reports the container's traffic counters, applies the limit hoist
// wants inside the container's network namespace (found from its PID), and
// removes it when hoist no longer wants it. The container's traffic is
// measured both ways from the host: the demoapp answers ?bytes=N (the task
// sends) and reads uploads (the task receives).
func TestNetguardAgentThrottlesAContainer(t *testing.T) {
	s := newStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	task := fmt.Sprintf("netguard%d", os.Getpid())
	out, err := exec.CommandContext(ctx, "docker", "run", "-d", "--rm", "--name", task,
		"--label", "com.docker.swarm.task.id="+task, "--label", "com.docker.swarm.service.name=netguard",
		"hoist/demoapp:latest").CombinedOutput()
	if err != nil {
		t.Fatalf("docker run: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", task).Run() })
	ipOut, err := exec.CommandContext(ctx, "docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", task).Output()
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + strings.TrimSpace(string(ipOut)) + ":8080"
	waitFor(t, 30*time.Second, "the demoapp container to answer", func() bool {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})

	agent := &collector.Agent{Docker: s.cli, Machine: "e2e", Shaper: throttle.PIDShaper{}}
	report := func(want map[string]throttle.Limit) collector.ContainerStats {
		t.Helper()
		rep, err := agent.Report(ctx, want)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range rep.Containers {
			if c.TaskID == task {
				return c
			}
		}
		t.Fatalf("the agent did not report task %s: %+v", task, rep.Containers)
		return collector.ContainerStats{}
	}
	const mbit = 1e6
	const secs = 10 * time.Second

	before := report(nil)
	if len(before.Net) == 0 {
		t.Fatalf("no network counters: %+v", before)
	}
	down, up := download(t, base, 3*time.Second), upload(t, base, 3*time.Second)
	t.Logf("unthrottled: the task sends %.1f Mbit/s, receives %.1f Mbit/s", down/mbit, up/mbit)
	after := report(nil)
	if tx := after.NetTotal().TxBytes - before.NetTotal().TxBytes; tx < 1<<20 {
		t.Errorf("the task's tx counter moved %d bytes over a download", tx)
	}

	want := map[string]throttle.Limit{task: {Rate: 3_000_000}}
	report(want)
	c := report(want) // twice: idempotent
	if c.Throttle == nil || !c.Throttle.Applied || c.Throttle.Rate != 3_000_000 || c.ThrottleErr != "" {
		t.Fatalf("after applying: %+v %q", c.Throttle, c.ThrottleErr)
	}
	checkOneQdisc(ctx, t, task)
	down, up = download(t, base, secs), upload(t, base, secs)
	c = report(want)
	t.Logf("throttled at 3 Mbit/s: the task sends %.3f Mbit/s, receives %.3f Mbit/s; egress %+v ingress %+v",
		down/mbit, up/mbit, c.Throttle.Egress, c.Throttle.Ingress)
	for name, v := range map[string]float64{"sending": down, "receiving": up} {
		if v < 2.7*mbit || v > 3.3*mbit {
			t.Errorf("throttled task %s at %.3f Mbit/s, want 2.7-3.3", name, v/mbit)
		}
	}
	if c.Throttle.Egress.Overlimits == 0 || c.Throttle.Ingress.Overlimits == 0 {
		t.Errorf("overlimits egress %d ingress %d, want > 0", c.Throttle.Egress.Overlimits, c.Throttle.Ingress.Overlimits)
	}

	// Not wanted any more: removed at the next scrape.
	if c := report(map[string]throttle.Limit{}); c.Throttle != nil {
		t.Fatalf("still limited after hoist stopped wanting it: %+v", c.Throttle)
	}
	down, up = download(t, base, 3*time.Second), upload(t, base, 3*time.Second)
	t.Logf("lifted: the task sends %.1f Mbit/s, receives %.1f Mbit/s", down/mbit, up/mbit)
	if down < 30*mbit || up < 30*mbit {
		t.Errorf("lifted but still slow: %.1f / %.1f Mbit/s", down/mbit, up/mbit)
	}
}

// download reads ?bytes answers for d: the task's sending rate in bit/s.
func download(t *testing.T, base string, d time.Duration) float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	var n int64
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/?bytes=1073741824", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			break
		}
		k, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		n += k
	}
	return float64(n) * 8 / time.Since(start).Seconds()
}

// upload sends for d and waits for the answer, which comes once the task
// has read everything: the task's receiving rate in bit/s, measured from
// what it says it received.
func upload(t *testing.T, base string, d time.Duration) float64 {
	t.Helper()
	start := time.Now()
	body := &timedZeros{until: start.Add(d)}
	resp, err := http.Post(base+"/", "application/octet-stream", body)
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	elapsed := time.Since(start)
	_, after, ok := strings.Cut(strings.TrimSpace(string(b)), "received=")
	n, err := strconv.ParseInt(after, 10, 64)
	if !ok || err != nil {
		t.Fatalf("upload answer %q", b)
	}
	return float64(n) * 8 / elapsed.Seconds()
}

type timedZeros struct{ until time.Time }

func (z *timedZeros) Read(p []byte) (int, error) {
	if time.Now().After(z.until) {
		return 0, io.EOF
	}
	clear(p)
	return len(p), nil
}

// checkOneQdisc looks inside the container's namespace: one root TBF, one
// ingress qdisc and one IFB after applying twice.
func checkOneQdisc(ctx context.Context, t *testing.T, name string) {
	t.Helper()
	out, err := exec.CommandContext(ctx, "docker", "inspect", "-f", "{{.State.Pid}}", name).Output()
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	ns, err := netns.GetFromPid(pid)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	links, _ := h.LinkList()
	ifbs := 0
	for _, l := range links {
		switch {
		case l.Type() == "ifb":
			ifbs++
		case l.Attrs().Name != "lo":
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
	if ifbs != 1 {
		t.Errorf("%d ifb devices, want 1", ifbs)
	}
}
