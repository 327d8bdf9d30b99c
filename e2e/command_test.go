//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/provider/command"
)

// TestCommandExamples drives the scripts of examples/command/ through the
// command provider: a real machine is made, listed, joins the swarm, and is
// destroyed completely.
func TestCommandExamples(t *testing.T) {
	s := newStack(t)
	const pool = "cmd"
	t.Cleanup(func() {
		if left := s.leftovers(t, pool); len(left) > 0 {
			t.Errorf("left behind:\n%s", strings.Join(left, "\n"))
		}
	})
	newProvider(t, s, pool, 1, "") // cleanup on failure
	bin, err := hoistBinary()
	if err != nil {
		t.Fatal(err)
	}
	_, file, _, _ := runtime.Caller(0)
	ex := filepath.Join(filepath.Dir(file), "..", "examples", "command")
	// The agents' credential, as hoist run passes it to its create scripts.
	cred := writeFile(t, t.TempDir(), "agent-credential", "agent-credential-0123456789abcdef\n")
	if err := os.Chmod(cred, 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := command.New(command.Options{Pool: pool, Create: ex + "/create.sh", Destroy: ex + "/destroy.sh", List: ex + "/list.sh",
		Timeout: 2 * time.Minute, Retries: 1, Env: []string{"HOIST_BIN=" + bin, "HOIST_MACHINE_CPUS=1", "HOIST_AGENT_CREDENTIAL_FILE=" + cred}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	m, err := p.Create(ctx, "cmd-one")
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != cluster.MachineRunning || m.Addr == "" || m.ID == "" {
		t.Fatalf("machine = %+v", m)
	}
	ms, err := p.List(ctx)
	if err != nil || len(ms) != 1 || ms[0].Name != "cmd-one" || ms[0].Status != cluster.MachineRunning {
		t.Fatalf("list = %+v, %v", ms, err)
	}
	waitFor(t, 30*time.Second, "the node ready with its labels", func() bool {
		for _, n := range s.state(t).Nodes {
			if n.ID == m.ID && n.Ready && n.Pool == pool && n.Machine == "cmd-one" {
				return true
			}
		}
		return false
	})
	if err := p.Destroy(ctx, "cmd-one"); err != nil {
		t.Fatal(err)
	}
	if ms, err := p.List(ctx); err != nil || len(ms) != 0 {
		t.Fatalf("list after destroy = %+v, %v", ms, err)
	}
}
