//go:build e2e

package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/cluster"
)

// pruneDescriptor: a pool of 1-CPU machines and the named apps, each
// reserving most of a machine, so each holds one; keep names the apps
// labelled hoist.keep=true.
func pruneDescriptor(apps []string, keep map[string]bool) string {
	var b strings.Builder
	b.WriteString(`
controller: {interval: 1s, drain_timeout: 1m, boot_timeout: 2m}
pools:
  - name: pr
    provider: local
    min: 1
    max: 3
    machine: {cpus: 1, memory: 1GiB}
    cooldown: 1s
    scale_down: {below: 0.5, for: 2s}
apps:
`)
	for _, a := range apps {
		fmt.Fprintf(&b, `  - name: %s
    image: hoist/demoapp:latest
    pools: [pr]
    resources: {reservations: {cpus: 0.6, memory: 32MiB}}
    replicas: {min: 1, max: 1}
`, a)
		if keep[a] {
			b.WriteString("    labels: {hoist.keep: \"true\"}\n")
		}
	}
	return b.String()
}

// TestReloadPrunes: three apps each on its machine; the descriptor is cut to
// one and reloaded (SIGHUP). The dropped app's service, which hoist deployed,
// is removed with an app.removed event, as docker stack deploy --prune would,
// and its machine goes by the scale-in; the dropped app labelled
// hoist.keep=true keeps running, unmanaged, and keeps its machine.
func TestReloadPrunes(t *testing.T) {
	s := newStack(t)
	const pool = "pr"
	apps := []string{"prkeep", "prmain", "prold"}
	t.Cleanup(func() {
		for _, a := range apps {
			s.removeService(t, a)
			s.removeNetwork("hoist-" + a)
		}
		if left := s.leftovers(t, pool); len(left) > 0 {
			t.Errorf("left behind:\n%s", strings.Join(left, "\n"))
		}
	})
	newProvider(t, s, pool, 1, "")
	dir := t.TempDir()
	keep := map[string]bool{"prkeep": true}
	desc := writeFile(t, dir, "hoist.yaml", pruneDescriptor(apps, keep))
	h := startHoist(t, desc, filepath.Join(dir, "data"))

	running := func(app string) bool {
		for _, tk := range s.state(t).Tasks {
			if tk.Service == app && tk.State == cluster.TaskRunning {
				return true
			}
		}
		return false
	}
	waitFor(t, 4*time.Minute, "the three apps running, one machine each", func() bool {
		return running("prkeep") && running("prmain") && running("prold")
	})
	s.settled(t, pool, 3)

	writeFile(t, dir, "hoist.yaml", pruneDescriptor([]string{"prmain"}, keep))
	reloaded := time.Now()
	if err := h.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	h.waitEvent(t, time.Minute, "app.removed", "prold")
	services := func() map[string]bool {
		out := map[string]bool{}
		for _, svc := range s.state(t).Services {
			out[svc.Name] = true
		}
		return out
	}
	waitFor(t, time.Minute, "service prold gone", func() bool { return !services()["prold"] })
	t.Logf("prold removed %s after the reload", time.Since(reloaded).Round(time.Second))
	s.settled(t, pool, 2)
	t.Logf("its machine gone %s after the reload", time.Since(reloaded).Round(time.Second))
	if have := services(); !have["prkeep"] || !have["prmain"] {
		t.Errorf("services after the reload: %v, want prkeep (kept by its label) and prmain", have)
	}
	if !running("prkeep") || !running("prmain") {
		t.Error("prkeep or prmain stopped running")
	}
	if n := h.count("app.removed", "prkeep"); n != 0 {
		t.Errorf("prkeep, labelled hoist.keep=true, was removed")
	}
	if n := h.count("engine.info", "hoist.keep=true"); n != 1 {
		t.Errorf("%d notes that prkeep is kept, want 1; events:\n%s", n, strings.Join(h.events(), "\n"))
	}
	h.stop(t)
	t.Log("events:\n" + strings.Join(h.events(), "\n"))
}
