// Package local is engine.Provider for machines on this host: each machine is
// a network namespace with a veth on a host bridge and its own dockerd, which
// joins the swarm as a worker at the bridge address of the manager. It is what
// the e2e tests, CI and demos run on; its mechanics are the ones a real cloud
// provider's machine goes through (boot, join, label, drain, leave, destroy).
//
// Everything it makes is found again from the host alone (state directories
// and namespaces named with the prefix), so a restarted hoist lists, adopts
// and finishes the machines a previous one left.
package local

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/keylock"
)

var _ engine.Provider = (*Provider)(nil)

// Defaults, shared with scripts/localstack, which cleans up after them.
const (
	DefaultPrefix   = "hoist-"
	DefaultSubnet   = "10.213.0.0/24"
	DefaultBridge   = "hoistbr0"
	DefaultStateDir = "/var/lib/hoist/local"
	DefaultRunDir   = "/run/hoist/local"
	DefaultAgent    = 9101
)

// Manager is what the provider needs from the swarm manager
// (swarm.Orchestrator implements it).
type Manager interface {
	JoinInfo(ctx context.Context) (addr, token string, err error)
	LabelNode(ctx context.Context, id string, labels map[string]string) error
	ForgetNode(ctx context.Context, id string) error
	NodeOfMachine(ctx context.Context, name string) ([]string, error)
}

// Options configure a Provider.
type Options struct {
	Pool   string
	Prefix string // namespace and state names start with it (default "hoist-")
	Subnet string // machine addresses; the first one is the host's bridge address
	Bridge string // host bridge the machines' veths attach to
	// CPUs is the machine shape's CPU count: the machine's dockerd is pinned to
	// that many host CPUs, so Swarm sees that capacity. Memory cannot be
	// partitioned this way: Swarm sees the host's memory on every machine.
	CPUs     float64
	StateDir string
	RunDir   string
	Manager  Manager
	// Registry is the registry mirror machines pull from (default BRIDGE-ADDR:5000).
	Registry string
	// Agent is the hoist binary to run `hoist agent` with beside each dockerd
	// ("" runs none); it listens on the machine's address, port AgentPort.
	Agent     string
	AgentPort int
	// AgentCredentialFile holds the credential the agent asks the collector
	// for (`hoist agent --credential-file`).
	AgentCredentialFile string
	// BootTimeout bounds the wait for a machine's dockerd (default 60s).
	BootTimeout time.Duration
	Logger      *slog.Logger
}

// Provider makes machines of one pool. Safe for concurrent use.
type Provider struct {
	opt    Options
	log    *slog.Logger
	prefix netip.Prefix
	host   netip.Addr

	mu       sync.Mutex
	locks    keylock.Map // per machine name
	creating map[string]bool
	bg       context.Context
	stop     context.CancelFunc
	wg       sync.WaitGroup
}

// Errors callers may branch on.
var (
	ErrNoAddress = errors.New("no free address in the subnet")
	ErrBadName   = errors.New("bad machine name")
)

// New returns a provider; it checks the options but touches nothing.
func New(opt Options) (*Provider, error) {
	if opt.Prefix == "" {
		opt.Prefix = DefaultPrefix
	}
	if opt.Subnet == "" {
		opt.Subnet = DefaultSubnet
	}
	if opt.Bridge == "" {
		opt.Bridge = DefaultBridge
	}
	if opt.StateDir == "" {
		opt.StateDir = DefaultStateDir
	}
	if opt.RunDir == "" {
		opt.RunDir = DefaultRunDir
	}
	if opt.AgentPort == 0 {
		opt.AgentPort = DefaultAgent
	}
	if opt.BootTimeout == 0 {
		opt.BootTimeout = 60 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Pool == "" || opt.Manager == nil {
		return nil, errors.New("local provider: pool and manager are required")
	}
	pfx, err := netip.ParsePrefix(opt.Subnet)
	if err != nil || !pfx.Addr().Is4() || pfx.Bits() > 29 {
		return nil, fmt.Errorf("local provider: subnet %q must be an IPv4 prefix of /29 or larger", opt.Subnet)
	}
	pfx = pfx.Masked()
	if opt.Registry == "" {
		opt.Registry = pfx.Addr().Next().String() + ":5000"
	}
	bg, stop := context.WithCancel(context.Background())
	return &Provider{opt: opt, log: opt.Logger.With("pool", opt.Pool), prefix: pfx, host: pfx.Addr().Next(),
		creating: map[string]bool{}, bg: bg, stop: stop}, nil
}

// Close stops background work (resumed creations) and waits for it.
func (p *Provider) Close() {
	p.stop()
	p.wg.Wait()
}

// machine is one machine's names and paths.
type machine struct {
	name, ns, id string
	dir, run     string
}

func (p *Provider) machine(name string) (machine, error) {
	if name == "" || strings.ContainsAny(name, "/ \t\n") || len(p.opt.Prefix+name) > 200 {
		return machine{}, fmt.Errorf("%w: %q", ErrBadName, name)
	}
	ns := p.opt.Prefix + name
	sum := sha256.Sum256([]byte(ns))
	id := hex.EncodeToString(sum[:])[:8] // interface names have 15 characters
	return machine{name: name, ns: ns, id: id, dir: filepath.Join(p.opt.StateDir, ns), run: filepath.Join(p.opt.RunDir, id)}, nil
}

func (m machine) hostVeth() string     { return "hv" + m.id }
func (m machine) peerVeth() string     { return "hp" + m.id }
func (m machine) socket() string       { return "unix://" + filepath.Join(m.run, "docker.sock") }
func (m machine) file(f string) string { return filepath.Join(m.dir, f) }
func (m machine) cgroup() string       { return "/hoist-" + m.id }

// hostname is the machine's host name, which its dockerd reports and
// `docker node ls` shows, as a cloud VM's would be: the machine's name made
// a valid host name (RFC 1123: letters, digits, '-' and '.', 63 characters;
// a longer one keeps its start and the machine's id).
func (m machine) hostname() string {
	b := []byte(strings.ToLower(m.name))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			b[i] = '-'
		}
	}
	h := strings.Trim(string(b), "-.")
	if len(h) > 63 {
		h = strings.TrimRight(h[:54], "-.") + "-" + m.id
	}
	if h == "" {
		h = "m-" + m.id
	}
	return h
}

// withHostname runs argv in a UTS namespace of its own whose host name is
// host: a machine's dockerd otherwise keeps the host's name, and every node
// would show as the same one. unshare and sh exec in place, so the PID is
// argv[0]'s.
func withHostname(host string, argv ...string) []string {
	return append([]string{"unshare", "--uts", "--", "sh", "-c", `hostname "$0" && exec "$@"`, host}, argv...)
}

// Create implements engine.Provider. Every step checks what exists first, so
// a second call, or a call after a crash half way, finishes the same machine.
func (p *Provider) Create(ctx context.Context, name string) (cluster.Machine, error) {
	m, err := p.machine(name)
	if err != nil {
		return cluster.Machine{}, err
	}
	unlock := p.locks.Lock(name)
	defer unlock()
	p.setCreating(name, true)
	defer p.setCreating(name, false)
	os.Remove(m.file("failed")) // an explicit create tries again
	start := time.Now()
	addr, err := p.ensureState(m)
	if err != nil {
		return cluster.Machine{}, fmt.Errorf("create %s: %w", name, err)
	}
	steps := []struct {
		what string
		do   func() error
	}{
		{"bridge", p.ensureBridge},
		{"namespace", func() error { return p.ensureNamespace(m, addr) }},
		{"dockerd", func() error { return p.ensureDockerd(ctx, m) }},
		{"swarm join", func() error { return p.ensureJoined(ctx, m, addr) }},
		{"agent", func() error { return p.ensureAgent(m, addr) }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			return cluster.Machine{}, fmt.Errorf("create %s: %s: %w", name, s.what, err)
		}
	}
	if err := os.WriteFile(m.file("created"), []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644); err != nil {
		return cluster.Machine{}, fmt.Errorf("create %s: %w", name, err)
	}
	p.log.Info("machine created", "machine", name, "addr", addr, "took", time.Since(start).Round(time.Millisecond))
	p.setCreating(name, false)
	return p.view(m), nil
}

func (p *Provider) setCreating(name string, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on {
		p.creating[name] = true
	} else {
		delete(p.creating, name)
	}
}

func (p *Provider) isCreating(name string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.creating[name]
}

// ensureState makes the machine's state directory with its pool, address and
// CPUs, allocating the address under a host-wide lock (other pools and other
// hoist processes allocate from the same subnet).
func (p *Provider) ensureState(m machine) (netip.Addr, error) {
	if b, err := os.ReadFile(m.file("addr")); err == nil {
		return netip.ParseAddr(strings.TrimSpace(string(b)))
	}
	if err := os.MkdirAll(p.opt.StateDir, 0o755); err != nil {
		return netip.Addr{}, err
	}
	lf, err := os.OpenFile(filepath.Join(p.opt.StateDir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return netip.Addr{}, err
	}
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		return netip.Addr{}, fmt.Errorf("lock %s: %w", lf.Name(), err)
	}
	defer syscall.Flock(int(lf.Fd()), syscall.LOCK_UN)
	used := map[netip.Addr]bool{p.host: true}
	dirs, _ := os.ReadDir(p.opt.StateDir)
	for _, d := range dirs {
		if b, err := os.ReadFile(filepath.Join(p.opt.StateDir, d.Name(), "addr")); err == nil {
			if a, err := netip.ParseAddr(strings.TrimSpace(string(b))); err == nil {
				used[a] = true
			}
		}
	}
	addr, idx := p.host.Next(), 2
	for ; p.prefix.Contains(addr) && used[addr]; addr, idx = addr.Next(), idx+1 {
	}
	if !p.prefix.Contains(addr) || addr == lastAddr(p.prefix) {
		return netip.Addr{}, fmt.Errorf("%w %s", ErrNoAddress, p.prefix)
	}
	if err := os.MkdirAll(m.dir, 0o755); err != nil {
		return netip.Addr{}, err
	}
	files := map[string]string{"pool": p.opt.Pool, "name": m.name, "id": m.id, "cpus": cpuList(p.opt.CPUs, idx)}
	for f, v := range files {
		if err := os.WriteFile(m.file(f), []byte(v+"\n"), 0o644); err != nil {
			return netip.Addr{}, err
		}
	}
	// addr last: its presence means the directory is complete.
	return addr, os.WriteFile(m.file("addr"), []byte(addr.String()+"\n"), 0o644)
}

func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := (uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// cpuList pins a machine to ceil(cpus) host CPUs, rotating by its index so
// machines spread over the host (taskset -c syntax).
func cpuList(cpus float64, idx int) string {
	n := runtime.NumCPU()
	k := int(math.Ceil(cpus))
	k = max(1, min(k, n))
	var out []string
	for i := 0; i < k; i++ {
		out = append(out, strconv.Itoa((idx+i)%n))
	}
	sort.Slice(out, func(i, j int) bool { a, _ := strconv.Atoi(out[i]); b, _ := strconv.Atoi(out[j]); return a < b })
	return strings.Join(out, ",")
}

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func linkExists(name string) bool {
	_, err := os.Stat("/sys/class/net/" + name)
	return err == nil
}

func (p *Provider) ensureBridge() error {
	if !linkExists(p.opt.Bridge) {
		if err := run("ip", "link", "add", p.opt.Bridge, "type", "bridge"); err != nil && !linkExists(p.opt.Bridge) {
			return err
		}
	}
	if err := run("ip", "addr", "replace", fmt.Sprintf("%s/%d", p.host, p.prefix.Bits()), "dev", p.opt.Bridge); err != nil {
		return err
	}
	return run("ip", "link", "set", p.opt.Bridge, "up")
}

func (p *Provider) ensureNamespace(m machine, addr netip.Addr) error {
	if _, err := os.Stat("/run/netns/" + m.ns); err != nil {
		if err := run("ip", "netns", "add", m.ns); err != nil {
			return err
		}
	}
	if err := run("ip", "-n", m.ns, "link", "set", "lo", "up"); err != nil {
		return err
	}
	if !linkExists(m.hostVeth()) {
		// A peer left in the namespace by an earlier try is replaced.
		_ = run("ip", "-n", m.ns, "link", "del", "eth0")
		if err := run("ip", "link", "add", m.hostVeth(), "type", "veth", "peer", "name", m.peerVeth()); err != nil {
			return err
		}
		if err := run("ip", "link", "set", m.peerVeth(), "netns", m.ns); err != nil {
			return err
		}
		if err := run("ip", "-n", m.ns, "link", "set", m.peerVeth(), "name", "eth0"); err != nil {
			return err
		}
	}
	if err := run("ip", "link", "set", m.hostVeth(), "master", p.opt.Bridge, "up"); err != nil {
		return err
	}
	// No default route: a machine reaches its subnet (the manager, the
	// registry, the other machines) and nothing else.
	if err := run("ip", "-n", m.ns, "addr", "replace", fmt.Sprintf("%s/%d", addr, p.prefix.Bits()), "dev", "eth0"); err != nil {
		return err
	}
	return run("ip", "-n", m.ns, "link", "set", "eth0", "up")
}

// pidAlive reports whether the PID in file runs and is the process we
// started (its command line names want), so a recycled PID is not mistaken.
func pidAlive(file, want string) (int, bool) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	if syscall.Kill(pid, 0) != nil {
		return pid, false
	}
	// A zombie (exited, not yet reaped) is not alive.
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		if f := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+1:])); len(f) > 0 && f[0] == "Z" {
			return pid, false
		}
	}
	cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return pid, false
	}
	// Empty while the process is between two programs: taskset execs
	// nsenter, which execs dockerd, and the kernel shows no command line
	// until the new one is set up. A busy host makes that window long
	// enough for the boot loop to see it and call a starting dockerd
	// exited (with nothing in its log).
	if len(cmd) == 0 {
		return pid, true
	}
	return pid, strings.Contains(string(cmd), want)
}

// startDetached starts a process in the machine's namespace, in its own
// session so it outlives hoist (a restarted hoist finds it by its PID file).
func startDetached(m machine, cpus, logFile, pidFile string, argv ...string) error {
	lf, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer lf.Close()
	args := append([]string{"-c", cpus, "nsenter", "--net=/run/netns/" + m.ns}, argv...)
	cmd := exec.Command("taskset", args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait() // reap it if it exits while we run
	// taskset and nsenter exec in place: the PID is the program's.
	return os.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644)
}

func (p *Provider) ensureDockerd(ctx context.Context, m machine) error {
	if _, ok := pidAlive(m.file("dockerd.pid"), m.run); !ok {
		if err := os.MkdirAll(m.run, 0o755); err != nil {
			return err
		}
		cpus, _ := os.ReadFile(m.file("cpus"))
		pool, _ := os.ReadFile(m.file("pool"))
		if err := weighCgroup(m.cgroup(), len(strings.Split(strings.TrimSpace(string(cpus)), ","))); err != nil {
			p.log.Warn("machine cgroup CPU weight", "machine", m.name, "err", err)
		}
		err := startDetached(m, strings.TrimSpace(string(cpus)), m.file("dockerd.log"), m.file("dockerd.pid"), withHostname(m.hostname(),
			"dockerd",
			"--data-root", m.file("data"), "--exec-root", m.run,
			"--pidfile", filepath.Join(m.run, "dockerd.pid"),
			"--host", m.socket(),
			"--cgroup-parent", m.cgroup(),
			// No bridge, no iptables, no forwarding: the machine's only
			// network is its veth; containers use overlay networks.
			"--iptables=false", "--ip-forward=false", "--ip-masq=false", "--bridge=none",
			"--insecure-registry", p.opt.Registry, "--registry-mirror", "http://"+p.opt.Registry,
			"--label", "hoist.machine="+m.name, "--label", "hoist.pool="+strings.TrimSpace(string(pool)),
			"--shutdown-timeout", "3", "--log-level", "warn")...)
		if err != nil {
			return fmt.Errorf("start dockerd: %w", err)
		}
	}
	c, err := p.dockerOf(m)
	if err != nil {
		return err
	}
	defer c.Close()
	deadline := time.Now().Add(p.opt.BootTimeout)
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := c.Ping(pctx, client.PingOptions{})
		cancel()
		if err == nil {
			return nil
		}
		if _, ok := pidAlive(m.file("dockerd.pid"), m.run); !ok {
			return fmt.Errorf("dockerd exited: %s", tail(m.file("dockerd.log"), 5))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("dockerd did not answer within %s: %w", p.opt.BootTimeout, err)
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}

func (p *Provider) dockerOf(m machine) (*client.Client, error) {
	c, err := client.New(client.WithHost(m.socket()))
	if err != nil {
		return nil, fmt.Errorf("docker client for %s: %w", m.name, err)
	}
	return c, nil
}

func (p *Provider) ensureJoined(ctx context.Context, m machine, addr netip.Addr) error {
	c, err := p.dockerOf(m)
	if err != nil {
		return err
	}
	defer c.Close()
	info, err := c.Info(ctx, client.InfoOptions{})
	if err != nil {
		return fmt.Errorf("machine docker info: %w", err)
	}
	if info.Info.Swarm.LocalNodeState == swarm.LocalNodeStateInactive {
		maddr, token, err := p.opt.Manager.JoinInfo(ctx)
		if err != nil {
			return err
		}
		_, err = c.SwarmJoin(ctx, client.SwarmJoinOptions{
			RemoteAddrs: []string{maddr}, JoinToken: token,
			ListenAddr: addr.String() + ":2377", AdvertiseAddr: addr.String(), DataPathAddr: addr.String(),
		})
		if err != nil {
			return fmt.Errorf("join %s: %w", maddr, err)
		}
	}
	var nodeID string
	deadline := time.Now().Add(p.opt.BootTimeout)
	for {
		info, err = c.Info(ctx, client.InfoOptions{})
		if err != nil {
			return fmt.Errorf("machine docker info: %w", err)
		}
		sw := info.Info.Swarm
		if sw.LocalNodeState == swarm.LocalNodeStateActive && sw.NodeID != "" {
			nodeID = sw.NodeID
			break
		}
		if sw.LocalNodeState == swarm.LocalNodeStateError {
			return fmt.Errorf("swarm state error: %s", sw.Error)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not an active swarm node within %s (state %s)", p.opt.BootTimeout, sw.LocalNodeState)
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
	if err := os.WriteFile(m.file("node"), []byte(nodeID+"\n"), 0o644); err != nil {
		return err
	}
	pool, _ := os.ReadFile(m.file("pool"))
	return p.opt.Manager.LabelNode(ctx, nodeID, map[string]string{"hoist.machine": m.name, "hoist.pool": strings.TrimSpace(string(pool))})
}

func (p *Provider) ensureAgent(m machine, addr netip.Addr) error {
	if p.opt.Agent == "" {
		return nil
	}
	if _, ok := pidAlive(m.file("agent.pid"), "agent"); ok {
		return nil
	}
	cpus, _ := os.ReadFile(m.file("cpus"))
	args := []string{p.opt.Agent, "agent", "--docker", m.socket(), "--listen", fmt.Sprintf("%s:%d", addr, p.opt.AgentPort), "--machine", m.name}
	if p.opt.AgentCredentialFile != "" {
		args = append(args, "--credential-file", p.opt.AgentCredentialFile)
	}
	return startDetached(m, strings.TrimSpace(string(cpus)), m.file("agent.log"), m.file("agent.pid"), args...)
}

func tail(file string, n int) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return "(no log)"
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (p *Provider) view(m machine) cluster.Machine {
	mc := cluster.Machine{Name: m.name, Pool: p.opt.Pool, Status: cluster.MachineCreating}
	if b, err := os.ReadFile(m.file("addr")); err == nil {
		mc.Addr = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile(m.file("node")); err == nil {
		mc.ID = strings.TrimSpace(string(b))
	}
	_, dockerd := pidAlive(m.file("dockerd.pid"), m.run)
	_, created := os.Stat(m.file("created"))
	failed, ferr := os.ReadFile(m.file("failed"))
	switch {
	case p.isCreating(m.name):
	case ferr == nil:
		mc.Status, mc.Detail = cluster.MachineFailed, strings.TrimSpace(string(failed))
	case created == nil && dockerd:
		mc.Status = cluster.MachineRunning
	case created == nil:
		mc.Status = cluster.MachineFailed
		mc.Detail = "dockerd is not running: " + tail(m.file("dockerd.log"), 3)
	}
	return mc
}

// List implements engine.Provider from what exists on the host: state
// directories of this pool and namespaces with the prefix. A machine whose
// creation was cut short (hoist died during Create) is finished in the
// background and reported creating meanwhile; a machine whose dockerd died is
// reported failed, so the engine replaces it.
func (p *Provider) List(ctx context.Context) ([]cluster.Machine, error) {
	seen := map[string]bool{}
	var out []cluster.Machine
	dirs, err := os.ReadDir(p.opt.StateDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("list %s: %w", p.opt.StateDir, err)
	}
	for _, d := range dirs {
		if !d.IsDir() || !strings.HasPrefix(d.Name(), p.opt.Prefix) {
			continue
		}
		dir := filepath.Join(p.opt.StateDir, d.Name())
		pool, err := os.ReadFile(filepath.Join(dir, "pool"))
		if err != nil || strings.TrimSpace(string(pool)) != p.opt.Pool {
			continue
		}
		name := strings.TrimPrefix(d.Name(), p.opt.Prefix)
		m, err := p.machine(name)
		if err != nil {
			continue
		}
		seen[m.ns] = true
		_, cerr := os.Stat(m.file("created"))
		_, ferr := os.Stat(m.file("failed"))
		if cerr != nil && ferr != nil && !p.isCreating(name) {
			p.resume(name)
		}
		out = append(out, p.view(m))
	}
	// Namespaces without a state directory: half made by hand or by a crash
	// before the directory was written; report them failed so they are destroyed.
	nss, _ := os.ReadDir("/run/netns")
	for _, n := range nss {
		ns := n.Name()
		if !strings.HasPrefix(ns, p.opt.Prefix) || seen[ns] {
			continue
		}
		name := strings.TrimPrefix(ns, p.opt.Prefix)
		if !strings.HasPrefix(name, p.opt.Pool+"-") {
			continue
		}
		if _, err := os.Stat(filepath.Join(p.opt.StateDir, ns)); err == nil {
			continue // another pool's machine
		}
		out = append(out, cluster.Machine{Name: name, Pool: p.opt.Pool, Status: cluster.MachineFailed, Detail: "namespace without state"})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// resume finishes a creation a previous hoist left half done.
func (p *Provider) resume(name string) {
	p.setCreating(name, true) // reported creating from now on
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.log.Info("resuming an interrupted machine creation", "machine", name)
		ctx, cancel := context.WithTimeout(p.bg, 2*p.opt.BootTimeout)
		defer cancel()
		p.setCreating(name, false) // Create sets it again under the machine's lock
		if _, err := p.Create(ctx, name); err != nil {
			p.log.Warn("resumed creation failed", "machine", name, "err", err)
			if p.bg.Err() != nil {
				return // hoist is stopping: the next one resumes it, as after a kill
			}
			if m, merr := p.machine(name); merr == nil {
				if _, serr := os.Stat(m.dir); serr == nil {
					os.WriteFile(m.file("failed"), []byte("interrupted creation could not be finished: "+err.Error()+"\n"), 0o644)
				}
			}
		}
	}()
}

// Destroy implements engine.Provider: the node leaves the swarm and is
// removed, dockerd and the agent stop (by PID), every process left in the
// namespace or in the machine's cgroup is killed, mounts are undone, and the
// namespace, veth and directories are deleted. A missing machine is not an error.
func (p *Provider) Destroy(ctx context.Context, name string) error {
	m, err := p.machine(name)
	if err != nil {
		return err
	}
	unlock := p.locks.Lock(name)
	defer unlock()
	var errs []error
	// Leave the swarm while dockerd runs, so the manager sees it go.
	if _, ok := pidAlive(m.file("dockerd.pid"), m.run); ok {
		if c, err := p.dockerOf(m); err == nil {
			lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, lerr := c.SwarmLeave(lctx, client.SwarmLeaveOptions{Force: true})
			cancel()
			c.Close()
			if lerr != nil {
				p.log.Debug("swarm leave", "machine", name, "err", lerr)
			}
		}
	}
	nodes, err := p.opt.Manager.NodeOfMachine(ctx, name)
	if err != nil {
		errs = append(errs, err)
	}
	if b, err := os.ReadFile(m.file("node")); err == nil {
		nodes = append(nodes, strings.TrimSpace(string(b)))
	}
	for _, id := range uniq(nodes) {
		if err := p.opt.Manager.ForgetNode(ctx, id); err != nil {
			errs = append(errs, err)
		}
	}
	stopPID(m.file("agent.pid"), "agent", 5*time.Second)
	stopPID(m.file("dockerd.pid"), m.run, 20*time.Second)
	killNamespace(m.ns)
	killCgroup(m.cgroup())
	unmountUnder(m.run)
	unmountUnder(m.dir)
	if linkExists(m.hostVeth()) {
		if err := run("ip", "link", "del", m.hostVeth()); err != nil && linkExists(m.hostVeth()) {
			errs = append(errs, err)
		}
	}
	if _, err := os.Stat("/run/netns/" + m.ns); err == nil {
		if err := run("ip", "netns", "del", m.ns); err != nil {
			errs = append(errs, err)
		}
	}
	for _, d := range []string{m.run, m.dir} {
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", d, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("destroy %s: %w", name, err)
	}
	p.log.Info("machine destroyed", "machine", name)
	return nil
}

func uniq(ss []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range ss {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// stopPID stops the process in a PID file: TERM, wait, KILL.
func stopPID(file, want string, wait time.Duration) {
	pid, ok := pidAlive(file, want)
	if ok {
		syscall.Kill(pid, syscall.SIGTERM)
		deadline := time.Now().Add(wait)
		for time.Now().Before(deadline) {
			if _, ok := pidAlive(file, want); !ok {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if _, ok := pidAlive(file, want); ok {
			syscall.Kill(pid, syscall.SIGKILL)
			time.Sleep(100 * time.Millisecond)
		}
	}
	os.Remove(file)
}

// killNamespace kills every process in the network namespace: all of them
// were started by us (containerd and its shims, if dockerd died without them).
func killNamespace(ns string) {
	var st syscall.Stat_t
	if err := syscall.Stat("/run/netns/"+ns, &st); err != nil {
		return
	}
	procs, _ := os.ReadDir("/proc")
	for _, d := range procs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		var pst syscall.Stat_t
		if syscall.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &pst) == nil && pst.Ino == st.Ino && pst.Dev == st.Dev {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// machineWeight is how many busy host processes one CPU of a machine weighs
// as much as. The machine's containers share one cgroup, which the kernel
// weighs like a single host process by default: one compiler or `yes` on the
// machine's pinned CPU would halve the machine, and a busy host would leave a
// "1 CPU" machine a few per cent of a CPU, so its replicas could never reach
// their limits however much load they were offered. A real machine's CPUs are
// its own; 8 keeps that under ordinary host load without starving the host
// (the containers' own CPU limits still apply).
const machineWeight = 8

// weighCgroup creates the machine's cgroup (dockerd's --cgroup-parent) with a
// CPU weight of machineWeight host processes per CPU it is pinned to.
func weighCgroup(parent string, cpus int) error {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil { // cgroup v2
		dir := filepath.Join("/sys/fs/cgroup", parent)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, "cpu.weight"), []byte(strconv.Itoa(min(10000, 100*machineWeight*cpus))), 0o644)
	}
	dir := filepath.Join("/sys/fs/cgroup/cpu", parent)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "cpu.shares"), []byte(strconv.Itoa(min(262144, 1024*machineWeight*cpus))), 0o644)
}

// killCgroup kills the container processes left in the machine's cgroup
// (containers have network namespaces of their own) and removes the cgroups.
func killCgroup(parent string) {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*")
	roots = append(roots, "/sys/fs/cgroup")
	for _, root := range roots {
		dir := filepath.Join(root, parent)
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		var dirs []string
		filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if d.IsDir() {
				dirs = append(dirs, path)
			} else if d.Name() == "cgroup.procs" {
				if b, err := os.ReadFile(path); err == nil {
					for _, f := range strings.Fields(string(b)) {
						if pid, err := strconv.Atoi(f); err == nil {
							syscall.Kill(pid, syscall.SIGKILL)
						}
					}
				}
			}
			return nil
		})
		time.Sleep(50 * time.Millisecond)
		for i := len(dirs) - 1; i >= 0; i-- { // deepest first
			os.Remove(dirs[i])
		}
	}
}

// unmountUnder lazily unmounts everything mounted at or below dir.
func unmountUnder(dir string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var mounts []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := unescapeMount(f[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			mounts = append(mounts, mp)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(mounts)))
	for _, mp := range mounts {
		syscall.Unmount(mp, syscall.MNT_DETACH)
	}
}

func unescapeMount(s string) string {
	return strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`).Replace(s)
}
