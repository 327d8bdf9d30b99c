package balancer

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

func haproxyBin(t *testing.T) string {
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
				fmt.Sprintf("bind :%d", p.Port), fmt.Sprintf("bind :%d", p.StatsPort), "monitor fail if { stopping }"} {
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

// TestRealHAProxy runs the real haproxy on a rendered configuration: its
// stats page parses, the health URI answers 200 and is not counted as
// traffic, every template slot waits for DNS in maintenance, and SIGUSR1
// fails the health URI at once while the listener stays open for the grace
// delay, then HAProxy exits by itself.
func TestRealHAProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("runs haproxy for about 6 s")
	}
	bin := haproxyBin(t)
	p := goldenParams["leastconn-http-check"]
	p.Port, p.StatsPort = freePort(t), freePort(t)
	text, err := Render(p)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// Only what a host lacks changes: the socket's directory, and loopback
	// binds (traffic stays on this host).
	cfg := strings.ReplaceAll(string(text), "/run/haproxy/admin.sock", filepath.Join(dir, "admin.sock"))
	cfg = strings.ReplaceAll(cfg, "bind :", "bind 127.0.0.1:")
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, "-db", "-f", path)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			cmd.Process.Kill()
			<-done
		}
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", p.Port)
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	get := func(url string) (int, string, error) {
		resp, err := hc.Get(url)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if code, _, err := get(base + HealthPath); err == nil && code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxy did not answer on %s:\n%s", base, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	get(base + HealthPath)
	code, body, err := get(fmt.Sprintf("http://127.0.0.1:%d/stats;csv", p.StatsPort))
	if err != nil || code != 200 {
		t.Fatalf("stats: %d %v", code, err)
	}
	rows, err := ParseCSV(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	sum, ok := Summarize(rows, p.App)
	if !ok {
		t.Fatalf("no proxy %s in:\n%s", p.App, body)
	}
	if sum.Requests != 0 {
		t.Errorf("health checks counted as %d requests", sum.Requests)
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
	if code, _, _ := get(fmt.Sprintf("http://127.0.0.1:%d/metrics", p.StatsPort)); code != 200 {
		t.Errorf("prometheus exporter: %d", code)
	}

	// The stop signal: health fails at once, the listener stays for Grace.
	stopAt := time.Now()
	if err := cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	var failedAt time.Time
	for time.Since(stopAt) < Grace-time.Second {
		code, _, err := get(base + HealthPath)
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
	case <-done:
		t.Logf("haproxy exited %s after SIGUSR1", time.Since(stopAt).Round(time.Millisecond))
	case <-time.After(Grace + 5*time.Second):
		t.Fatalf("haproxy still runs %s after SIGUSR1", time.Since(stopAt).Round(time.Second))
	}
	if time.Since(stopAt) < Grace {
		t.Errorf("haproxy exited before the grace delay")
	}
}
