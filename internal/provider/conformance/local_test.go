package conformance

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/provider/local"
	"github.com/hoist/hoist/internal/swarm"
)

// The local subtest's own network, apart from scripts/localstack's: its
// machines join a swarm manager the test starts in a namespace of its own,
// at the subnet's last address (the provider hands out the lowest free ones).
const (
	lcBridge = "hoistcf0"
	lcSubnet = "10.214.9.0/28"
	lcHost   = "10.214.9.1"
	lcMgr    = "10.214.9.14"
	lcPrefix = "hoistcf-"
	lcMgrNS  = "hoistcfm"
)

// testManager is the test swarm's manager as the local provider uses it; it
// counts the dockerds that joined (a second machine of one name would be a
// second node) and can fail JoinInfo after the machine's namespace and
// dockerd exist (the local provider's "committed, then answered an error").
type testManager struct {
	*swarm.Orchestrator
	mu       sync.Mutex
	failJoin int
	nodes    map[string]bool
}

func (m *testManager) JoinInfo(ctx context.Context) (string, string, error) {
	m.mu.Lock()
	fail := m.failJoin > 0
	if fail {
		m.failJoin--
	}
	m.mu.Unlock()
	if fail {
		return "", "", fmt.Errorf("injected: the manager did not answer")
	}
	return m.Orchestrator.JoinInfo(ctx)
}

func (m *testManager) LabelNode(ctx context.Context, id string, labels map[string]string) error {
	m.mu.Lock()
	m.nodes[id] = true
	m.mu.Unlock()
	return m.Orchestrator.LabelNode(ctx, id, labels)
}

func sh(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// localSubject is the local provider making real machines (a namespace and
// a dockerd each) that join a real swarm. It needs root, as the local
// provider does, and dockerd.
func localSubject(t *testing.T) *subject {
	if os.Geteuid() != 0 {
		t.Fatal("the local provider's conformance needs root (network namespaces, dockerd); CI runs as root")
	}
	if _, err := exec.LookPath("dockerd"); err != nil {
		t.Fatal("dockerd is missing (scripts/deps installs docker.io)")
	}
	// One run at a time on this host: the network below has fixed names.
	lock, err := os.OpenFile("/run/lock/hoist-conformance-local.lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lock.Close() })       // registered first: released last
	base, err := os.MkdirTemp("/tmp", "hcf") // short: socket paths are bounded
	if err != nil {
		t.Fatal(err)
	}
	state, run, mgrDir := filepath.Join(base, "s"), filepath.Join(base, "r"), filepath.Join(base, "m")
	os.MkdirAll(mgrDir, 0o755)
	cleanupNet := func() {
		exec.Command("ip", "netns", "del", lcMgrNS).Run()
		exec.Command("ip", "link", "del", "hcfm0").Run()
		exec.Command("ip", "link", "del", lcBridge).Run()
	}
	cleanupNet() // a killed earlier run's
	sh(t, "ip", "link", "add", lcBridge, "type", "bridge")
	sh(t, "ip", "addr", "add", lcHost+"/28", "dev", lcBridge)
	sh(t, "ip", "link", "set", lcBridge, "up")
	sh(t, "ip", "netns", "add", lcMgrNS)
	sh(t, "ip", "link", "add", "hcfm0", "type", "veth", "peer", "name", "hcfm1")
	sh(t, "ip", "link", "set", "hcfm1", "netns", lcMgrNS)
	sh(t, "ip", "link", "set", "hcfm0", "master", lcBridge, "up")
	sh(t, "ip", "-n", lcMgrNS, "addr", "add", lcMgr+"/28", "dev", "hcfm1")
	sh(t, "ip", "-n", lcMgrNS, "link", "set", "hcfm1", "up")
	sh(t, "ip", "-n", lcMgrNS, "link", "set", "lo", "up")
	logf, _ := os.Create(filepath.Join(mgrDir, "dockerd.log"))
	sock := filepath.Join(mgrDir, "docker.sock")
	// nsenter, not ip netns exec, which remounts /sys and hides the cgroups.
	cmd := exec.Command("nsenter", "--net=/run/netns/"+lcMgrNS, "dockerd", "--data-root", filepath.Join(mgrDir, "data"),
		"--exec-root", filepath.Join(mgrDir, "x"), "--pidfile", filepath.Join(mgrDir, "dockerd.pid"), "--host", "unix://"+sock,
		"--iptables=false", "--ip-forward=false", "--ip-masq=false", "--bridge=none", "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	var provs []*local.Provider
	var pmu sync.Mutex
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		for _, p := range provs {
			ms, _ := p.List(ctx)
			for _, m := range ms {
				if err := p.Destroy(ctx, m.Name); err != nil {
					t.Errorf("cleanup: %v", err)
				}
			}
			p.Close()
		}
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		logf.Close()
		cleanupNet()
		exec.Command("sh", "-c", "grep -o ' "+base+"[^ ]*' /proc/self/mounts | sort -r | xargs -r -n1 umount -l").Run()
		os.RemoveAll(base)
	})
	cli, err := client.New(client.WithHost("unix://" + sock))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	ctx := ctxT(t)
	deadline := time.Now().Add(90 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := cli.Ping(pctx, client.PingOptions{})
		cancel()
		if err == nil {
			break
		}
		select {
		case <-exited:
			deadline = time.Time{}
		default:
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(mgrDir, "dockerd.log"))
			t.Fatalf("the manager's dockerd did not answer: %v\n%s", err, b)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := cli.SwarmInit(ctx, client.SwarmInitOptions{ListenAddr: lcMgr + ":2377", AdvertiseAddr: lcMgr}); err != nil {
		t.Fatalf("swarm init: %v", err)
	}
	orch := swarm.New(cli, swarm.Options{Pools: []string{"workers", "others"}})
	mgr := &testManager{Orchestrator: orch, nodes: map[string]bool{}}
	token := ""
	if _, tok, err := orch.JoinInfo(ctx); err == nil {
		token = tok
	}
	return &subject{
		newProvider: func(t *testing.T, pool string, log *slog.Logger) engine.Provider {
			p, err := local.New(local.Options{Pool: pool, Manager: mgr, Prefix: lcPrefix, Subnet: lcSubnet, Bridge: lcBridge,
				StateDir: state, RunDir: run, CPUs: 1, BootTimeout: 90 * time.Second, Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			pmu.Lock()
			provs = append(provs, p)
			pmu.Unlock()
			return p
		},
		count: func(t *testing.T, name string) int {
			if _, err := os.Stat("/run/netns/" + lcPrefix + name); err == nil {
				return 1
			}
			return 0
		},
		made: func() int {
			mgr.mu.Lock()
			defer mgr.mu.Unlock()
			return len(mgr.nodes)
		},
		settle: func(t *testing.T, p engine.Provider) {
			// A machine whose creation was cut short is finished in the
			// background and listed creating meanwhile: wait for it.
			deadline := time.Now().Add(3 * time.Minute)
			for {
				ms, err := p.List(ctx)
				busy := err != nil
				for _, m := range ms {
					busy = busy || m.Status == cluster.MachineCreating
				}
				if !busy {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("the provider still creates after 3m: %v, %v", ms, err)
				}
				time.Sleep(200 * time.Millisecond)
			}
		},
		commitThenFail: func(*testing.T) {
			mgr.mu.Lock()
			mgr.failJoin++
			mgr.mu.Unlock()
		},
		checkJoined: func(t *testing.T, p engine.Provider, name string) {
			ids, err := orch.NodeOfMachine(ctx, name)
			if err != nil || len(ids) != 1 {
				t.Fatalf("nodes of %s: %v, %v; want one", name, ids, err)
			}
			st, err := orch.State(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range st.Nodes {
				if n.ID == ids[0] && (n.Pool != "workers" || n.Machine != name) {
					t.Errorf("node %+v: want the labels of %s in workers", n, name)
				}
			}
		},
		addForeign: func(t *testing.T, name string) {
			// A namespace of another prefix: not the provider's.
			ns := "hoistcx-" + name
			sh(t, "ip", "netns", "add", ns)
			t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		},
		secrets: []string{token},
	}
}
