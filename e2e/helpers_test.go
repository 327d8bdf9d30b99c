//go:build e2e

// Package e2e runs hoist against the real stack that scripts/localstack
// starts: Docker Swarm on this host, machines as network namespaces with
// their own dockerd, the local registry. `make e2e` (scripts/test e2e) brings
// the stack up, runs these tests and takes it down.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/provider/local"
	"github.com/hoist/hoist/internal/swarm"
)

// stack is the real cluster the tests share.
type stack struct {
	cli  *client.Client
	orch *swarm.Orchestrator
}

func newStack(t *testing.T) *stack {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the end-to-end tests need root (network namespaces, dockerd)")
		}
		t.Skip("needs root (network namespaces, dockerd)")
	}
	cli, err := swarm.Dial("")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx, client.PingOptions{}); err != nil {
		t.Fatalf("no Docker daemon: run scripts/localstack up first: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	return &stack{cli: cli, orch: swarm.New(cli, swarm.Options{})}
}

func (s *stack) state(t *testing.T) cluster.State {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := s.orch.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// leftovers lists what machines of pool left on the host: namespaces, state
// directories, dockerd processes, swarm nodes.
func (s *stack) leftovers(t *testing.T, pool string) []string {
	t.Helper()
	var out []string
	prefix := local.DefaultPrefix + pool + "-"
	nss, _ := os.ReadDir("/run/netns")
	for _, n := range nss {
		if strings.HasPrefix(n.Name(), prefix) {
			out = append(out, "namespace "+n.Name())
		}
	}
	dirs, _ := os.ReadDir(local.DefaultStateDir)
	for _, d := range dirs {
		if strings.HasPrefix(d.Name(), prefix) {
			out = append(out, "state dir "+d.Name())
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		cmd := strings.ReplaceAll(string(b), "\x00", " ")
		if strings.Contains(cmd, "dockerd") && strings.Contains(cmd, "hoist.pool="+pool+" ") {
			out = append(out, "process "+filepath.Base(filepath.Dir(p))+": "+cmd)
		}
	}
	for _, n := range s.state(t).Nodes {
		if n.Pool == pool {
			out = append(out, fmt.Sprintf("swarm node %s (machine %s, ready %v)", n.ID, n.Machine, n.Ready))
		}
	}
	return out
}

// destroyAll removes every machine of pool, whatever state it is in (cleanup
// after a failed test).
func destroyAll(t *testing.T, p *local.Provider) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ms, err := p.List(ctx)
	if err != nil {
		t.Logf("cleanup list: %v", err)
	}
	for _, m := range ms {
		if err := p.Destroy(ctx, m.Name); err != nil {
			t.Logf("cleanup destroy %s: %v", m.Name, err)
		}
	}
}

// hoistBinary builds cmd/hoist once for the tests that run it as a process.
var hoistBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "hoist-e2e-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "hoist")
	_, file, _, _ := runtime.Caller(0)
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/hoist")
	cmd.Dir = filepath.Join(filepath.Dir(file), "..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build hoist: %v: %s", err, out)
	}
	return bin, nil
})

func newProvider(t *testing.T, s *stack, pool string, cpus float64, agent string) *local.Provider {
	t.Helper()
	p, err := local.New(local.Options{Pool: pool, CPUs: cpus, Manager: s.orch, Agent: agent, BootTimeout: 90 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Close()
		destroyAll(t, p)
	})
	return p
}
