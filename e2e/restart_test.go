//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/provider/local"
)

func restartDescriptor(min int, scaleDownFor string) string {
	return fmt.Sprintf(`
controller: {interval: 1s, drain_timeout: 1m, boot_timeout: 2m}
pools:
  - name: kr
    provider: local
    min: %d
    max: 3
    machine: {cpus: 1, memory: 1GiB}
    cooldown: 1s
    scale_down: {below: 0.9, for: %s}
apps:
  - name: krapp
    image: hoist/demoapp:latest
    pools: [kr]
    resources: {reservations: {cpus: 0.2, memory: 32MiB}}
    replicas: {min: 1, max: 1}
`, min, scaleDownFor)
}

// machinesOf lists the pool's machines as the host has them (state
// directories) and as the swarm has them (nodes).
func (s *stack) machinesOf(t *testing.T, pool string) (dirs []string, nodes []cluster.Node) {
	ds, _ := filepath.Glob(filepath.Join(local.DefaultStateDir, local.DefaultPrefix+pool+"-*"))
	for _, d := range ds {
		dirs = append(dirs, strings.TrimPrefix(filepath.Base(d), local.DefaultPrefix))
	}
	for _, n := range s.state(t).Nodes {
		if n.Pool == pool {
			nodes = append(nodes, n)
		}
	}
	return dirs, nodes
}

// settled waits until the pool has want machines, each a ready node with a
// machine behind it and no machine without its node: none ordered twice,
// none orphaned.
func (s *stack) settled(t *testing.T, pool string, want int) {
	t.Helper()
	waitFor(t, 2*time.Minute, fmt.Sprintf("%d machines of %s, each with its ready node", want, pool), func() bool {
		dirs, nodes := s.machinesOf(t, pool)
		if len(dirs) != want || len(nodes) != want {
			return false
		}
		have := map[string]bool{}
		for _, d := range dirs {
			if _, err := os.Stat(filepath.Join(local.DefaultStateDir, local.DefaultPrefix+d, "created")); err != nil {
				return false
			}
			have[d] = true
		}
		for _, n := range nodes {
			if !n.Ready || !have[n.Machine] {
				return false
			}
		}
		return true
	})
}

// TestKillAndRestart kills hoist (SIGKILL, as a crash) in the middle of
// creating a machine, then in the middle of draining one, and starts it
// again each time with the same --data: the machine records persisted before
// each step make the restart resume, so no machine is ordered twice and none
// is orphaned.
func TestKillAndRestart(t *testing.T) {
	s := newStack(t)
	const pool, app = "kr", "krapp"
	t.Cleanup(func() {
		if left := s.leftovers(t, pool); len(left) > 0 {
			t.Errorf("left behind:\n%s", strings.Join(left, "\n"))
		}
	})
	newProvider(t, s, pool, 1, "")
	t.Cleanup(func() { s.removeService(t, app); s.removeNetwork("hoist-" + app) })
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	min1 := writeFile(t, dir, "min1.yaml", restartDescriptor(1, "2s"))
	min2 := writeFile(t, dir, "min2.yaml", restartDescriptor(2, "10m"))

	// 1. Killed while creating: the namespace exists, the machine is not done.
	h := startHoist(t, min1, data)
	var caught string
	deadline := time.Now().Add(60 * time.Second)
	for caught == "" && time.Now().Before(deadline) {
		nss, _ := filepath.Glob("/run/netns/" + local.DefaultPrefix + pool + "-*")
		if len(nss) > 0 {
			h.kill()
			caught = strings.TrimPrefix(filepath.Base(nss[0]), local.DefaultPrefix)
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	if caught == "" {
		t.Fatalf("no machine was being created; output:\n%s", h.out)
	}
	_, err := os.Stat(filepath.Join(local.DefaultStateDir, local.DefaultPrefix+caught, "created"))
	t.Logf("killed hoist while creating %s (creation finished before the kill: %v)", caught, err == nil)
	h2 := startHoist(t, min1, data)
	s.settled(t, pool, 1)
	if dirs, _ := s.machinesOf(t, pool); dirs[0] != caught {
		t.Errorf("the machine is %s, want %s finished, not a new one", dirs[0], caught)
	}
	if n := h2.count("machine.ordered", ""); n != 0 {
		t.Errorf("the restart ordered %d machines; events:\n%s", n, strings.Join(h2.events(), "\n"))
	}
	waitFor(t, time.Minute, "the app running", func() bool {
		for _, tk := range s.state(t).Tasks {
			if tk.Service == app && tk.State == cluster.TaskRunning {
				return true
			}
		}
		return false
	})
	h2.stop(t)

	// 2. A second machine (min 2), then min 1: killed while it is drained.
	h3 := startHoist(t, min2, data)
	s.settled(t, pool, 2)
	h3.stop(t)
	h4 := startHoist(t, min1, data)
	var draining string
	deadline = time.Now().Add(90 * time.Second)
	for draining == "" && time.Now().Before(deadline) {
		for _, n := range s.state(t).Nodes {
			// hoist drains a node by pausing it (make-before-break), and
			// sets it to drain just before removing it.
			if n.Pool == pool && n.Availability != cluster.Active {
				h4.kill()
				draining = n.Machine
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	if draining == "" {
		t.Fatalf("no node was drained; events:\n%s", strings.Join(h4.events(), "\n"))
	}
	evs := h4.events()
	t.Logf("killed hoist while scaling in %s; its last events:\n%s", draining, strings.Join(evs[max(0, len(evs)-4):], "\n"))
	h5 := startHoist(t, min1, data)
	s.settled(t, pool, 1)
	h5.waitEvent(t, 30*time.Second, "machine.destroyed", "")
	if dirs, _ := s.machinesOf(t, pool); len(dirs) != 1 || dirs[0] == draining {
		t.Errorf("machines left: %v; %s should be the one destroyed", dirs, draining)
	}
	if n := h5.count("machine.ordered", ""); n != 0 {
		t.Errorf("the restart ordered %d machines", n)
	}
	h5.stop(t)
	t.Log("events of the last run:\n" + strings.Join(h5.events(), "\n"))
}
