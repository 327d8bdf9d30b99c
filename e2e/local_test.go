//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/provider/local"
)

// TestLocalMachineLifecycle: a machine is made, joins the swarm labelled with
// its pool and name and with the pool shape's CPUs; creating it again is the
// same machine; a machine whose dockerd dies is reported failed; destroying
// it leaves nothing on the host or in the swarm.
func TestLocalMachineLifecycle(t *testing.T) {
	s := newStack(t)
	const pool = "lc"
	p := newProvider(t, s, pool, 1, "")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	start := time.Now()
	m, err := p.Create(ctx, "lc-one")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("created %+v in %s", m, time.Since(start).Round(time.Millisecond))
	if m.Status != cluster.MachineRunning || m.Addr == "" || m.ID == "" {
		t.Fatalf("machine = %+v", m)
	}
	var node cluster.Node
	waitFor(t, 30*time.Second, "the node to be ready with its labels", func() bool {
		for _, n := range s.state(t).Nodes {
			if n.Machine == "lc-one" && n.Ready && n.Pool == pool {
				node = n
				return true
			}
		}
		return false
	})
	if node.ID != m.ID || node.Capacity.MilliCPU != 1000 || node.Manager || node.Addr != m.Addr {
		t.Errorf("node = %+v, machine %+v", node, m)
	}
	// Its containers' cgroup weighs like 8 busy host processes, not one: a
	// busy host must not starve a machine's CPU (TestScaleOutAndIn).
	idb, err := os.ReadFile(local.DefaultStateDir + "/hoist-lc-one/id")
	if err != nil {
		t.Fatal(err)
	}
	cg := "/hoist-" + strings.TrimSpace(string(idb))
	weight, want := filepath.Join("/sys/fs/cgroup/cpu", cg, "cpu.shares"), "8192"
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		weight, want = filepath.Join("/sys/fs/cgroup", cg, "cpu.weight"), "800"
	}
	if b, err := os.ReadFile(weight); err != nil || strings.TrimSpace(string(b)) != want {
		t.Errorf("%s = %q, %v; want %s", weight, b, err, want)
	}
	again, err := p.Create(ctx, "lc-one")
	if err != nil || again.ID != m.ID || again.Addr != m.Addr {
		t.Fatalf("create again: %+v, %v (want the same machine)", again, err)
	}
	ms, err := p.List(ctx)
	if err != nil || len(ms) != 1 || ms[0].Name != "lc-one" || ms[0].Status != cluster.MachineRunning {
		t.Fatalf("list = %+v, %v", ms, err)
	}

	// The machine dies: its dockerd is killed.
	b, err := os.ReadFile(local.DefaultStateDir + "/hoist-lc-one/dockerd.pid")
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the machine to be reported failed", func() bool {
		ms, err := p.List(ctx)
		return err == nil && len(ms) == 1 && ms[0].Status == cluster.MachineFailed
	})

	if err := p.Destroy(ctx, "lc-one"); err != nil {
		t.Fatal(err)
	}
	if err := p.Destroy(ctx, "lc-one"); err != nil {
		t.Fatalf("destroying a missing machine: %v", err)
	}
	if left := s.leftovers(t, pool); len(left) > 0 {
		t.Fatalf("left behind:\n%s", strings.Join(left, "\n"))
	}
	if _, err := os.Stat(filepath.Dir(weight)); !os.IsNotExist(err) {
		t.Errorf("the machine's cgroup is left behind: %s (%v)", filepath.Dir(weight), err)
	}
	if ms, _ := p.List(ctx); len(ms) != 0 {
		t.Fatalf("list after destroy = %+v", ms)
	}
}
