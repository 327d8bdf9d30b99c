package local

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/hoist/hoist/internal/cluster"
)

// noManager is never reached by these tests, which touch only files.
type noManager struct{}

func (noManager) JoinInfo(context.Context) (string, string, error)           { panic("unused") }
func (noManager) LabelNode(context.Context, string, map[string]string) error { panic("unused") }
func (noManager) ForgetNode(context.Context, string) error                   { panic("unused") }
func (noManager) NodeOfMachine(context.Context, string) ([]string, error)    { panic("unused") }

func newTest(t *testing.T, pool string, dir string) *Provider {
	t.Helper()
	p, err := New(Options{Pool: pool, Manager: noManager{}, StateDir: dir, RunDir: filepath.Join(dir, "run"),
		Prefix: "hoisttest-", Subnet: "10.99.0.0/29", CPUs: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func TestNames(t *testing.T) {
	p := newTest(t, "w", t.TempDir())
	m, err := p.machine("workers-a-very-long-machine-name-from-the-engine")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.hostVeth()) > 15 || len(m.peerVeth()) > 15 {
		t.Errorf("interface names over 15 characters: %s %s", m.hostVeth(), m.peerVeth())
	}
	if m.ns != "hoisttest-workers-a-very-long-machine-name-from-the-engine" {
		t.Errorf("namespace %s", m.ns)
	}
	m2, _ := p.machine("workers-b")
	if m2.id == m.id {
		t.Error("two machines share an id")
	}
	for _, bad := range []string{"", "a/b", "a b"} {
		if _, err := p.machine(bad); err == nil {
			t.Errorf("name %q accepted", bad)
		}
	}
	if _, err := New(Options{Pool: "w", Manager: noManager{}, Subnet: "10.0.0.0/30"}); err == nil {
		t.Error("a /30 leaves no machine address; want an error")
	}
}

func TestCPUList(t *testing.T) {
	n := runtime.NumCPU()
	if got := cpuList(1, 0); got != "0" {
		t.Errorf("cpuList(1, 0) = %s", got)
	}
	if got, want := cpuList(1, n+1), strconv.Itoa((n+1)%n); got != want {
		t.Errorf("cpuList(1, n+1) = %s, want %s (machines rotate over the host's CPUs)", got, want)
	}
	if got := cpuList(64, 3); strings.Count(got, ",") != n-1 {
		t.Errorf("cpuList(64) = %s: want every host CPU once", got)
	}
	if got := cpuList(0.25, 0); got != "0" {
		t.Errorf("a fraction of a CPU pins one: %s", got)
	}
}

func TestAddressesAreUniqueAndBounded(t *testing.T) {
	dir := t.TempDir()
	a, b := newTest(t, "a", dir), newTest(t, "b", dir) // two pools, one subnet
	seen := map[netip.Addr]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := 0
	for i, p := range []*Provider{a, b, a, b, a, b, a} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, _ := p.machine(p.opt.Pool + "-" + string(rune('a'+i)))
			addr, err := p.ensureState(m)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs++
				return
			}
			if other, dup := seen[addr]; dup {
				t.Errorf("%s given to %s and %s", addr, other, m.name)
			}
			seen[addr] = m.name
		}()
	}
	wg.Wait()
	// A /29 has .1 (the host) to .6 for machines: 5 addresses, 2 asks fail.
	if len(seen) != 5 || errs != 2 {
		t.Errorf("%d addresses, %d errors: %v", len(seen), errs, seen)
	}
	for addr, name := range seen {
		m, _ := a.machine(name)
		again, err := a.ensureState(m)
		if err != nil || again != addr {
			t.Errorf("asking again for %s gave %s, %v; want %s", name, again, err, addr)
		}
	}
	if _, bad := seen[netip.MustParseAddr("10.99.0.7")]; bad {
		t.Error("the broadcast address was given out")
	}
}

func TestListFromStateDirectories(t *testing.T) {
	dir := t.TempDir()
	p := newTest(t, "w", dir)
	mk := func(name string, files ...string) {
		m, _ := p.machine(name)
		if _, err := p.ensureState(m); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			os.WriteFile(m.file(f), []byte("x\n"), 0o644)
		}
	}
	mk("w-dead", "created")  // made, dockerd gone: failed
	mk("w-broken", "failed") // a resumed creation that failed
	other := newTest(t, "other", dir)
	m, _ := other.machine("other-x")
	other.ensureState(m) // another pool's machine: not listed
	p.setCreating("w-busy", true)
	mk("w-busy") // being created by this process
	ms, err := p.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]cluster.MachineStatus{}
	for _, m := range ms {
		got[m.Name] = m.Status
		if m.Pool != "w" || m.Addr == "" {
			t.Errorf("machine %+v", m)
		}
	}
	want := map[string]cluster.MachineStatus{"w-dead": cluster.MachineFailed, "w-broken": cluster.MachineFailed, "w-busy": cluster.MachineCreating}
	if len(got) != len(want) {
		t.Fatalf("list = %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s, want %s", k, got[k], v)
		}
	}
}

func TestPidAliveChecksTheProgram(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "pid")
	os.WriteFile(f, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
	if _, ok := pidAlive(f, "definitely-not-this-binary"); ok {
		t.Error("a PID running another program counted as ours")
	}
	exe, _ := os.Executable()
	if _, ok := pidAlive(f, filepath.Base(exe)); !ok {
		t.Error("our own PID not alive")
	}
	if _, ok := pidAlive(filepath.Join(dir, "missing"), "x"); ok {
		t.Error("missing file counted as alive")
	}
}

// A machine's host name is its name made a valid host name (what `docker
// node ls` shows for it).
func TestHostname(t *testing.T) {
	p := newTest(t, "w", t.TempDir())
	long := strings.Repeat("workers-", 10) + "1"
	for name, want := range map[string]string{
		"workers-3":      "workers-3",
		"Web_Pool-12":    "web-pool-12",
		"-odd.name.-":    "odd.name",
		"pool:1":         "pool-1",
		"__":             "",
		long:             "",
		"lbl-1778-abcde": "lbl-1778-abcde",
	} {
		m, err := p.machine(name)
		if err != nil {
			t.Fatal(err)
		}
		got := m.hostname()
		switch {
		case name == "__":
			want = "m-" + m.id
		case name == long:
			want = strings.TrimRight(strings.ToLower(long)[:54], "-") + "-" + m.id
		}
		if got != want {
			t.Errorf("hostname of %q = %q, want %q", name, got, want)
		}
		if len(got) > 63 {
			t.Errorf("hostname of %q is %d characters", name, len(got))
		}
	}
}

// withHostname gives the program a host name of its own and leaves the
// host's alone; the program keeps the PID started (so its PID file is right).
func TestWithHostnameSetsTheName(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("a UTS namespace needs root")
		}
		t.Skip("a UTS namespace needs root")
	}
	before, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	argv := withHostname("lbl-7", "sh", "-c", `echo "$$ $(hostname)"`)
	cmd := exec.Command(argv[0], argv[1:]...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %v", argv, err)
	}
	f := strings.Fields(string(out))
	if len(f) != 2 || f[1] != "lbl-7" {
		t.Fatalf("the program saw %q, want its PID and lbl-7", out)
	}
	if f[0] != strconv.Itoa(cmd.Process.Pid) {
		t.Errorf("the program ran as PID %s, not the PID started (%d)", f[0], cmd.Process.Pid)
	}
	if after, _ := os.Hostname(); after != before {
		t.Errorf("the host's name changed from %q to %q", before, after)
	}
}
