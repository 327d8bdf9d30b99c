package balancer

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// goldenParams are the configurations kept in testdata/*.cfg.
var goldenParams = map[string]Params{
	"leastconn-http-check": {App: "web", Algorithm: "leastconn", Port: 80, StatsPort: 8404, BackendPort: 8080,
		Check: "/healthz", Slots: 16, Network: "hoist-web"},
	"roundrobin-tcp-check": {App: "api", Algorithm: "roundrobin", Port: 8080, StatsPort: 9000, BackendPort: 3000,
		Slots: 32, Network: "hoist-api"},
	"source": {App: "shop-2", Algorithm: "source", Port: 443, StatsPort: 8405, BackendPort: 8443,
		Check: "/status?full=1", Slots: 64, Network: "hoist-shop-2"},
	"random": {App: "a", Algorithm: "random", Port: 1, StatsPort: 65535, BackendPort: 65535, Slots: 4096, Network: "x"},
}

func haproxyBin(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		bin = "/usr/sbin/haproxy"
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("haproxy is not installed (scripts/deps installs Debian's): %v", err)
		}
	}
	return bin
}

// TestRenderGolden compares each configuration with its golden file and has
// the real haproxy check it.
func TestRenderGolden(t *testing.T) {
	bin := haproxyBin(t)
	for name, p := range goldenParams {
		t.Run(name, func(t *testing.T) {
			got, err := Render(p)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", name+".cfg")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test -run TestRenderGolden -update writes it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("configuration differs from %s (go test -update rewrites it):\n%s", golden, got)
			}
			path := filepath.Join(t.TempDir(), "haproxy.cfg")
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(bin, "-c", "-f", path).CombinedOutput()
			if err != nil {
				t.Fatalf("haproxy -c refused it: %v\n%s", err, out)
			}
			if strings.Contains(string(out), "WARNING") {
				t.Errorf("haproxy -c warns:\n%s", out)
			}
			for _, want := range []string{"balance " + p.Algorithm, fmt.Sprintf("server-template %s %d tasks.%s:%d", p.App, p.Slots, p.App, p.BackendPort),
				fmt.Sprintf("bind :%d", p.Port), fmt.Sprintf("bind :%d", p.StatsPort), "monitor fail if { stopping } || { nbsrv(" + p.App + ") lt 1 }"} {
				if !strings.Contains(string(got), want) {
					t.Errorf("no %q in the configuration", want)
				}
			}
			if has := strings.Contains(string(got), "option httpchk"); has != (p.Check != "") {
				t.Errorf("option httpchk present %v, want %v", has, p.Check != "")
			}
		})
	}
}

func TestRenderRefusesBadParams(t *testing.T) {
	good := goldenParams["leastconn-http-check"]
	for name, change := range map[string]func(*Params){
		"app name":       func(p *Params) { p.App = "Web app" },
		"newline in app": func(p *Params) { p.App = "web\nlisten x" },
		"port":           func(p *Params) { p.Port = 0 },
		"same ports":     func(p *Params) { p.StatsPort = p.Port },
		"stats port":     func(p *Params) { p.StatsPort = 70000 },
		"backend port":   func(p *Params) { p.BackendPort = -1 },
		"check path":     func(p *Params) { p.Check = "/a b" },
		"check newline":  func(p *Params) { p.Check = "/a\n  stats admin if TRUE" },
		"relative check": func(p *Params) { p.Check = "healthz" },
		"quote in check": func(p *Params) { p.Check = "/a'b" },
		"slots":          func(p *Params) { p.Slots = 0 },
		"algorithm":      func(p *Params) { p.Algorithm = "first" },
	} {
		p := good
		change(&p)
		if _, err := Render(p); !errors.Is(err, ErrParams) {
			t.Errorf("%s: got %v, want ErrParams", name, err)
		}
	}
}

func TestConfigName(t *testing.T) {
	a, _ := Render(goldenParams["leastconn-http-check"])
	p := goldenParams["leastconn-http-check"]
	p.Algorithm = "roundrobin"
	b, _ := Render(p)
	if ConfigName("web-lb", a) != ConfigName("web-lb", a) {
		t.Error("not deterministic")
	}
	if ConfigName("web-lb", a) == ConfigName("web-lb", b) {
		t.Error("a changed configuration keeps its name: Swarm would not roll it out")
	}
	if n := ConfigName("web-lb", a); !strings.HasPrefix(n, "web-lb-") || len(n) != len("web-lb-")+12 {
		t.Errorf("name %q", n)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// haproxyRun is the real haproxy running a rendered configuration on this
// host: binds on loopback, its admin socket in a temporary directory, and
// Docker's DNS replaced by dns (only what a host lacks changes).
type haproxyRun struct {
	cmd         *exec.Cmd
	done        chan struct{}
	out         *syncBuffer
	base, stats string
	hc          *http.Client
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startHAProxy(t *testing.T, p Params, dns string) *haproxyRun {
	t.Helper()
	bin := haproxyBin(t)
	text, err := Render(p)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := strings.ReplaceAll(string(text), "/run/haproxy/admin.sock", filepath.Join(dir, "admin.sock"))
	cfg = strings.ReplaceAll(cfg, "bind :", "bind 127.0.0.1:")
	cfg = strings.ReplaceAll(cfg, "nameserver docker 127.0.0.11:53", "nameserver docker "+dns)
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	h := &haproxyRun{done: make(chan struct{}), out: &syncBuffer{},
		base:  fmt.Sprintf("http://127.0.0.1:%d", p.Port),
		stats: fmt.Sprintf("http://127.0.0.1:%d", p.StatsPort),
		hc:    &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
	h.cmd = exec.Command(bin, "-db", "-f", path)
	h.cmd.Stdout, h.cmd.Stderr = h.out, h.out
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { h.cmd.Wait(); close(h.done) }()
	t.Cleanup(func() {
		select {
		case <-h.done:
		default:
			h.cmd.Process.Kill()
			<-h.done
		}
	})
	return h
}

func (h *haproxyRun) get(url string) (int, string, error) {
	resp, err := h.hc.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// health returns the code of the health URI, 0 when HAProxy does not answer.
func (h *haproxyRun) health() int {
	code, _, _ := h.get(h.base + HealthPath)
	return code
}

func (h *haproxyRun) rows(t *testing.T) []Row {
	t.Helper()
	code, body, err := h.get(h.stats + "/stats;csv")
	if err != nil || code != 200 {
		t.Fatalf("stats: %d %v", code, err)
	}
	rows, err := ParseCSV(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// waitUntil polls cond every 50 ms until it holds or d passes.
func waitUntil(t *testing.T, h *haproxyRun, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; haproxy said:\n%s", d, what, h.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// backends listens on 127.0.0.2 and 127.0.0.3 with one port: two tasks of an
// app as DNS gives them (addresses; the port is the template's). The first
// serves, its health check answering 200 while healthy holds; the second
// accepts connections and never answers, as a task behind an overlay
// network that does not carry traffic yet.
func backends(t *testing.T, healthy *atomic.Bool) (serving, hanging netip.Addr, port int) {
	t.Helper()
	serving, hanging = netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")
	var l1, l2 net.Listener
	for attempt := 0; l2 == nil; attempt++ {
		var err error
		if l1, err = net.Listen("tcp", serving.String()+":0"); err != nil {
			t.Fatal(err)
		}
		port = l1.Addr().(*net.TCPAddr).Port
		if l2, err = net.Listen("tcp", fmt.Sprintf("%s:%d", hanging, port)); err != nil {
			l1.Close()
			if attempt == 10 {
				t.Fatalf("no port free on both %s and %s: %v", serving, hanging, err)
			}
		}
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" && !healthy.Load() {
			http.Error(w, "not healthy", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "served by "+serving.String())
	})}
	go srv.Serve(l1)
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := l2.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		srv.Close()
		l2.Close()
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	})
	return serving, hanging, port
}

// serverStatus returns the status of the server at addr ("" if none has it).
func serverStatus(rows []Row, proxy, addr string) string {
	sum, _ := Summarize(rows, proxy)
	for _, sv := range sum.Servers {
		if sv.Addr == addr {
			return sv.Status
		}
	}
	return ""
}

// TestRealHAProxy runs the real haproxy on a rendered configuration with a
// DNS server in place of Docker's: every template slot waits for DNS in
// maintenance and the replica is not ready (health URI 503); a task that
// resolves but does not answer leaves the rotation and does not make it
// ready; a serving task does, requests pass and health checks are not
// counted as traffic; when the task's health check fails the replica is not
// ready any more, and ready again when it passes; SIGUSR1 fails the health
// URI at once while the listener stays open for the grace delay, then
// HAProxy exits by itself.
func TestRealHAProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("runs haproxy for about 15 s")
	}
	var healthy atomic.Bool
	healthy.Store(true)
	serving, hanging, backendPort := backends(t, &healthy)
	dns := newFakeDNS(t)
	p := goldenParams["leastconn-http-check"]
	p.Port, p.StatsPort, p.BackendPort = freePort(t), freePort(t), backendPort
	h := startHAProxy(t, p, dns.addr())
	servingAddr := fmt.Sprintf("%s:%d", serving, backendPort)
	hangingAddr := fmt.Sprintf("%s:%d", hanging, backendPort)

	// 1. No DNS answer: HAProxy answers, but is not ready.
	waitUntil(t, h, 5*time.Second, "haproxy to answer", func() bool { return h.health() != 0 })
	if code := h.health(); code != http.StatusServiceUnavailable {
		t.Errorf("health URI %d before any server resolved, want 503", code)
	}
	rows := h.rows(t)
	sum, ok := Summarize(rows, p.App)
	if !ok {
		t.Fatalf("no proxy %s in the stats", p.App)
	}
	slots := 0
	for _, r := range rows {
		if r.Proxy == p.App && r.Type == TypeServer {
			slots++
			if !strings.HasPrefix(r.Status, "MAINT") {
				t.Errorf("slot %s is %q before any DNS answer, want MAINT", r.Name, r.Status)
			}
		}
	}
	if slots != p.Slots {
		t.Errorf("%d server slots, want %d", slots, p.Slots)
	}
	if code, _, _ := h.get(h.stats + "/metrics"); code != 200 {
		t.Errorf("prometheus exporter: %d", code)
	}

	// 2. A task that resolves but never answers: its check fails it, and the
	// replica stays not ready.
	dns.set(hanging)
	waitUntil(t, h, 10*time.Second, "the silent task resolved and failed by its check", func() bool {
		return strings.HasPrefix(serverStatus(h.rows(t), p.App, hangingAddr), "DOWN")
	})
	if code := h.health(); code != http.StatusServiceUnavailable {
		t.Errorf("health URI %d with its only server down, want 503", code)
	}
	// A request sent anyway fails, and is logged with why.
	if code, _, _ := h.get(h.base + "/"); code != http.StatusServiceUnavailable {
		t.Errorf("a request with no server up: %d, want 503", code)
	}
	waitUntil(t, h, 5*time.Second, "the failed request logged", func() bool {
		return strings.Contains(h.out.String(), `<NOSRV> `) && strings.Contains(h.out.String(), `"GET / HTTP/1.1"`)
	})

	// 3. A serving task: ready, and requests pass.
	dns.set(hanging, serving)
	waitUntil(t, h, 10*time.Second, "ready with a serving task", func() bool { return h.health() == http.StatusOK })
	for i := 0; i < 5; i++ {
		code, body, err := h.get(h.base + "/")
		if err != nil || code != 200 || body != "served by "+serving.String() {
			t.Fatalf("request through the balancer: %d %q %v", code, body, err)
		}
	}
	if st := serverStatus(h.rows(t), p.App, hangingAddr); !strings.HasPrefix(st, "DOWN") {
		t.Errorf("the silent task is %q beside a serving one, want DOWN", st)
	}
	sum, _ = Summarize(h.rows(t), p.App)
	if sum.Requests != 6 {
		t.Errorf("the frontend counted %d requests, want the 6 sent (health checks are not traffic)", sum.Requests)
	}

	// 4. The serving task's check fails: not ready; passes again: ready.
	healthy.Store(false)
	waitUntil(t, h, 10*time.Second, "not ready with every server failing its check", func() bool {
		return h.health() == http.StatusServiceUnavailable
	})
	if st := serverStatus(h.rows(t), p.App, servingAddr); !strings.HasPrefix(st, "DOWN") {
		t.Errorf("a task failing its check is %q, want DOWN", st)
	}
	healthy.Store(true)
	waitUntil(t, h, 10*time.Second, "ready again", func() bool { return h.health() == http.StatusOK })

	// 5. The stop signal: health fails at once, the listener stays for Grace.
	stopAt := time.Now()
	if err := h.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	var failedAt time.Time
	for time.Since(stopAt) < Grace-time.Second {
		code, _, err := h.get(h.base + HealthPath)
		if err != nil {
			t.Fatalf("listener closed %s after SIGUSR1, within the grace delay: %v", time.Since(stopAt).Round(time.Millisecond), err)
		}
		if code == http.StatusServiceUnavailable && failedAt.IsZero() {
			failedAt = time.Now()
		}
		time.Sleep(100 * time.Millisecond)
	}
	if failedAt.IsZero() || failedAt.Sub(stopAt) > time.Second {
		t.Errorf("health URI did not fail within 1s of SIGUSR1 (failed at %v)", failedAt.Sub(stopAt))
	}
	select {
	case <-h.done:
		t.Logf("haproxy exited %s after SIGUSR1", time.Since(stopAt).Round(time.Millisecond))
	case <-time.After(Grace + 5*time.Second):
		t.Fatalf("haproxy still runs %s after SIGUSR1", time.Since(stopAt).Round(time.Second))
	}
	if time.Since(stopAt) < Grace {
		t.Errorf("haproxy exited before the grace delay")
	}
}
