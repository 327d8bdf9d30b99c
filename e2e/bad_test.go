//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// TestBadInput runs hoist with everything wrong at once: an image that does
// not exist, a service that fits no machine of its pool, a create script that
// hangs, one that prints garbage, a list script that prints garbage. Each
// gives a clear event; nothing is ordered that cannot help; the loop goes on
// and stops cleanly.
func TestBadInput(t *testing.T) {
	s := newStack(t)
	const pool = "bi"
	t.Cleanup(func() {
		if left := s.leftovers(t, pool); len(left) > 0 {
			t.Errorf("left behind:\n%s", strings.Join(left, "\n"))
		}
	})
	newProvider(t, s, pool, 1, "")
	t.Cleanup(func() {
		s.removeService(t, "binope")
		s.removeService(t, "bihuge")
		s.removeNetwork("hoist-binope")
	})
	dir := t.TempDir()
	script := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	hang := script("hang.sh", `echo "asking the cloud for $1" >&2; sleep 300`)
	junk := script("junk.sh", `echo "Machine $1 created!"; echo "<html>500</html>"`)
	empty := script("list.sh", `echo '[]'`)
	junkList := script("junklist.sh", `echo 'machines: none'`)
	ok := script("ok.sh", `true`)
	desc := writeFile(t, dir, "bad.yaml", fmt.Sprintf(`
controller: {interval: 1s, boot_timeout: 1m}
pools:
  - {name: bi, provider: local, min: 1, max: 2, machine: {cpus: 1, memory: 1GiB}}
  - name: hang
    provider: command
    min: 1
    max: 1
    machine: {cpus: 1, memory: 1GiB}
    command: {create: %q, destroy: %q, list: %q, timeout: 2s}
  - name: junk
    provider: command
    min: 1
    max: 1
    machine: {cpus: 1, memory: 1GiB}
    command: {create: %q, destroy: %q, list: %q, timeout: 2s}
  - name: junklist
    provider: command
    min: 1
    max: 1
    machine: {cpus: 1, memory: 1GiB}
    command: {create: %q, destroy: %q, list: %q, timeout: 2s}
apps:
  - name: binope
    image: hoist/nope:latest
    pools: [bi]
    resources: {reservations: {cpus: 0.1, memory: 16MiB}}
    replicas: {min: 1, max: 2}
`, hang, ok, empty, junk, ok, empty, ok, ok, junkList))

	// A service opting in by labels that reserves more than any machine has.
	n := uint64(1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := s.cli.ServiceCreate(ctx, client.ServiceCreateOptions{Spec: swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: "bihuge", Labels: map[string]string{
			"hoist.enable": "true", "hoist.min": "1", "hoist.max": "2", "hoist.cpu.target": "50", "hoist.pool": pool}},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: &swarm.ContainerSpec{Image: "hoist/demoapp:latest"},
			Resources:     &swarm.ResourceRequirements{Reservations: &swarm.Resources{NanoCPUs: 4e9}},
			Placement:     &swarm.Placement{Constraints: []string{"node.labels.hoist.pool==" + pool}},
		},
		Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &n}},
	}})
	if err != nil {
		t.Fatal(err)
	}

	h := startHoist(t, desc, "")
	h.waitEvent(t, 60*time.Second, "machine.failed", "no answer within 2s, killed; stderr: asking the cloud for hang-")
	h.waitEvent(t, 30*time.Second, "machine.failed", "stdout must be one JSON machine object")
	h.waitEvent(t, 30*time.Second, "pool.hold", "provider list failed")
	h.waitEvent(t, 90*time.Second, "app.warning", "hoist/nope")
	h.waitEvent(t, 60*time.Second, "task.unschedulable", "bihuge fits no machine of pool bi")

	// The loop goes on: status lines keep coming, one per tick. Polled, not
	// slept on: a busy host may stretch a 1s tick, a stalled loop never ends one.
	before := strings.Count(h.out.String(), "\n[")
	waitFor(t, 30*time.Second, fmt.Sprintf("2 more status lines after %d (the loop stalled)", before), func() bool {
		return strings.Count(h.out.String(), "\n[") >= before+2
	})
	if n := h.count("machine.ordered", "") - h.count("machine.ordered", "hang") - h.count("machine.ordered", "junk"); n > 1 {
		t.Errorf("%d machines ordered for pool bi, want 1 (its min): no machine helps a task that fits none", n)
	}
	start := time.Now()
	h.stop(t)
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("Ctrl-C took %s with a hung script under way", took)
	}
	t.Log("events:\n" + strings.Join(h.events(), "\n"))
}
