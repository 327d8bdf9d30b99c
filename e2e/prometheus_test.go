//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/prom/promtest"
)

// TestPrometheus: hoist with a real Prometheus and Alertmanager (Debian's,
// started by scripts/prometheus on free loopback ports), on two runtimes:
// the simulator (sim) and the real stack (swarm: Docker Swarm, a pool of
// local machines, the demo app).
//
//  1. An app with an alert policy appears: its rule file is written and
//     Prometheus loads it (rules API).
//  2. Its load rises: the overloaded alert fires in Prometheus, Alertmanager
//     posts it to hoist's webhook (with the webhook's token), hoist scales
//     the app (events).
//  3. An app whose policy is a PromQL query over hoist's exported request
//     rate scales up with its load.
//  4. Prometheus stops while that load falls: no scale-down, and the events
//     say why (no data); Prometheus comes back and hoist scales down.
//  5. The alert app is removed from the descriptor and hoist reloaded: its
//     rule file goes and Prometheus drops its rules.
//
// The runtime is a parameter (promRuntime): the simulator's loads are
// scheduled in its descriptor on its clock; the real stack's are demoapp's
// load generator as services, started and stopped by the test.
func TestPrometheus(t *testing.T) {
	t.Run("sim", func(t *testing.T) { promScenario(t, simPromRuntime()) })
	t.Run("swarm", func(t *testing.T) { promScenario(t, swarmPromRuntime(t)) })
}

// promScenario runs the scenario on rt.
func promScenario(t *testing.T, rt promRuntime) {
	start := time.Now()
	dir := t.TempDir()
	p := promParams{
		dir:      dir,
		listen:   fmt.Sprintf("127.0.0.1:%d", promtest.FreePort(t)),
		promPort: promtest.FreePort(t),
		amPort:   promtest.FreePort(t),
	}
	p.rules = filepath.Join(dir, "rules")
	p.token = filepath.Join(dir, "webhook-token")
	if err := os.WriteFile(p.token, []byte("e2e-webhook-token-0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	promURL := fmt.Sprintf("http://127.0.0.1:%d", p.promPort)
	descriptor := filepath.Join(dir, "hoist.yaml")
	if err := os.WriteFile(descriptor, []byte(rt.descriptor(p, true)), 0o644); err != nil {
		t.Fatal(err)
	}

	stack := startPromStack(t, p)
	h := startPromHoist(t, descriptor, p.listen, rt.speed)
	hoistURL := "http://" + p.listen

	// 1. The alert app's rules are written and loaded.
	h.waitEvent(t, 30*time.Second, "alert.rules", "hoist-app-web.yml written")
	waitFor(t, 20*time.Second, "Prometheus to load hoist-app-web", func() bool { return promRuleGroups(t, promURL)["hoist-app-web"] })
	if _, err := os.Stat(filepath.Join(p.rules, "hoist-app-web.yml")); err != nil {
		t.Fatal(err)
	}
	// The webhook takes only its own credential.
	if code := promPostStatus(t, hoistURL+"/v1/alerts/webhook", ""); code != http.StatusUnauthorized {
		t.Fatalf("webhook without a token: %d", code)
	}
	t.Logf("%s: web's rules written and loaded", time.Since(start).Round(time.Second))

	// 2. Load makes the alert fire; Alertmanager calls hoist; hoist scales.
	rt.load(t, h, "web", true)
	h.waitEvent(t, 60*time.Second, "alert.firing", "HoistAppOverloaded firing for app web")
	h.waitEvent(t, 30*time.Second, "app.scale", "alert HoistAppOverloaded firing")
	t.Logf("%s: web scaled on its alert", time.Since(start).Round(time.Second))
	// promtool accepts the live /metrics, web's load figures in it.
	scrape := promGet(t, hoistURL+"/metrics")
	if !strings.Contains(scrape, `hoist_app_cpu_percent{app="web"}`) {
		t.Fatalf("no CPU figure of web in hoist's /metrics:\n%s", promTail(scrape, 3000))
	}
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = strings.NewReader(scrape)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
	// web's load falls (the simulator keeps it: nothing below depends on it).
	rt.load(t, h, "web", false)

	// 3. The query policy scales its app up.
	rt.load(t, h, "api", true)
	h.waitEventAfter(t, 0, 60*time.Second, "app.scale", "api", "policies[0] query")
	waitFor(t, 60*time.Second, "api to scale to 3 or more", func() bool { return h.replicas(t, "api") >= 3 })
	t.Logf("%s: api scaled to %d on its query", time.Since(start).Round(time.Second), h.replicas(t, "api"))

	// 4. Prometheus stops; the load falls; no scale-down, and events say why.
	mark := len(h.events())
	stack.run(t, "stop", "prometheus")
	held := h.waitEventAfter(t, mark, 60*time.Second, "app.hold", "api", "prometheus unavailable")
	up := h.replicas(t, "api")
	rt.load(t, h, "api", false)
	rt.settle(t, h)
	for _, e := range h.events()[held:] {
		if m := scaleRE.FindStringSubmatch(e); m != nil && m[1] == "api" {
			t.Fatalf("api scaled while Prometheus was down: %s", e)
		}
	}
	if got := h.replicas(t, "api"); got != up {
		t.Fatalf("api at %d, was %d when Prometheus stopped", got, up)
	}
	t.Logf("%s: no scale-down while Prometheus was down", time.Since(start).Round(time.Second))
	stack.run(t, "start", "prometheus")
	waitFor(t, 60*time.Second, "api to scale down once Prometheus is back", func() bool { return h.replicas(t, "api") < up })
	h.waitEventAfter(t, held, 10*time.Second, "app.scale", "api", "policies[0] query")
	t.Logf("%s: api scaled down to %d after Prometheus came back", time.Since(start).Round(time.Second), h.replicas(t, "api"))

	// 5. The alert app goes: its rules go.
	if err := os.WriteFile(descriptor, []byte(rt.descriptor(p, false)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := h.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	h.waitEvent(t, 30*time.Second, "alert.rules", "hoist-app-web.yml removed")
	if _, err := os.Stat(filepath.Join(p.rules, "hoist-app-web.yml")); !os.IsNotExist(err) {
		t.Fatalf("web's rule file is still there: %v", err)
	}
	waitFor(t, 20*time.Second, "Prometheus to drop hoist-app-web", func() bool { return !promRuleGroups(t, promURL)["hoist-app-web"] })
	t.Logf("%s: web's rules removed and dropped", time.Since(start).Round(time.Second))
	t.Log("hoist's events:\n" + strings.Join(h.events(), "\n"))
}

// promParams are what a runtime's descriptor needs to know.
type promParams struct {
	dir, listen, rules, token string
	promPort, amPort          int
}

// promRuntime is the runtime the scenario runs on.
type promRuntime struct {
	speed string // --speed, "" for a real cluster
	// descriptor has the alert app web and the query app api (withWeb false:
	// without web).
	descriptor func(p promParams, withWeb bool) string
	// load makes app's load high or low (the simulator: waits until its
	// schedule has done so; the real stack: starts or stops a generator).
	load func(t *testing.T, h *promHoist, app string, high bool)
	// settle waits long enough after api's load fell for a scale-down to be
	// due had there been data.
	settle func(t *testing.T, h *promHoist)
}

// The simulator at 5x: a tick (5s) each wall second. Its loads are
// scheduled on the simulated clock: web steps up at 30s; api steps up at
// 90s for 2 minutes.
func simPromRuntime() promRuntime {
	const (
		webHigh = 30 * time.Second
		apiHigh = 90 * time.Second
		apiLow  = apiHigh + 2*time.Minute
	)
	return promRuntime{
		speed: "5",
		descriptor: func(p promParams, withWeb bool) string {
			web := `
  - name: web
    image: hoist/demoapp:latest
    pools: [workers]
    resources: {limits: {cpus: 1, memory: 256MiB}, reservations: {cpus: 0.25, memory: 128MiB}}
    replicas: {min: 1, max: 5}
    cooldown: {up: 10s, down: 1m}
    policies:
      # MiCADO's alerts: overloaded above 70 % CPU for 2s (Prometheus's
      # clock), underloaded below 1 %.
      - {type: alert, upper: 70, lower: 1, for: 2s, repeat: 30s}
    load:
      cpu_per_request: 20ms   # 50 req/s fill a replica: 60 req/s overload one
      pattern: {shape: step, base: 5, peak: 60, at: 30s}`
			if !withWeb {
				web = ""
			}
			return fmt.Sprintf(`
controller: {interval: 5s}
sim: {container_start: 2s}
prometheus:
  url: http://127.0.0.1:%d
  timeout: 2s
  rules_dir: %s
  webhook: {bearer_token_file: %s}
pools:
  - name: workers
    min: 2
    max: 4
    machine: {cpus: 4, memory: 8GiB}
apps:%s
  - name: api
    image: hoist/demoapp:latest
    pools: [workers]
    resources: {limits: {cpus: 1, memory: 256MiB}, reservations: {cpus: 0.25, memory: 128MiB}}
    replicas: {min: 1, max: 6}
    policies:
      # Requests per second per running replica, from hoist's own /metrics
      # (samples of the last 5s: see the swarm runtime).
      - type: target
        query: 'sum(last_over_time(hoist_app_requests_per_second{app="api"}[5s])) / sum(last_over_time(hoist_app_replicas{app="api",state="running"}[5s]))'
        target: 20
        scale_down: {stabilization: 0s, max_percent: 100, period: 15s}
    load:
      cpu_per_request: 5ms
      pattern: {shape: step, base: 10, peak: 100, at: %s, duration: %s}
`, p.promPort, p.rules, p.token, web, apiHigh, apiLow-apiHigh)
		},
		load: func(t *testing.T, h *promHoist, app string, high bool) {
			at := map[string]time.Duration{"web": webHigh, "api": apiHigh}[app]
			if !high {
				if app != "api" {
					return // web's schedule stays high
				}
				at = apiLow
			}
			h.waitClock(t, at)
		},
		settle: func(t *testing.T, h *promHoist) { h.waitClock(t, apiLow+time.Minute) },
	}
}

// The real stack's pool: one local machine of 1 CPU, where both apps at
// their max fit (their reservations are small): no machine is ordered
// after the first.
const promPool = "prome2e"

// swarmPromRuntime is the real stack: Docker Swarm, a pool of local
// machines, web and api running the demo app, and demoapp's load generator
// as services on the manager. Its inputs are deterministic: web's replica
// has a small CPU limit that a closed loop of 4 saturates (CPU near 100 % of
// the limit, the alert's threshold 60); api gets an open loop at a fixed 50
// requests/s against a target of 20 per replica: from any n replicas the
// policy asks for ceil(n x (50/n)/20) = ceil(2.5) = 3, half a replica from
// either edge, so noise does not change it. Everything it makes (services,
// networks, machines) is removed when the test ends, failed or not, and it
// checks that no machine is left.
func swarmPromRuntime(t *testing.T) promRuntime {
	t.Helper()
	s := newStack(t)
	t.Cleanup(func() { // runs last
		if left := s.leftovers(t, promPool); len(left) > 0 {
			t.Errorf("left behind:\n%s", strings.Join(left, "\n"))
		}
	})
	newProvider(t, s, promPool, 1, "") // its cleanup destroys the machines, even on failure
	services := []string{"web-load", "api-load", "web", "api"}
	clean := func() {
		for _, name := range services {
			s.removeService(t, name)
		}
		s.removeNetwork("hoist-web")
		s.removeNetwork("hoist-api")
	}
	clean() // what a killed run may have left
	t.Cleanup(clean)
	t.Cleanup(func() { // before clean: what ran
		if t.Failed() {
			promDumpSwarm(t, s, services)
		}
	})
	const rate = 50 // api's requests/s
	return promRuntime{
		descriptor: func(p promParams, withWeb bool) string {
			web := `
  - name: web
    image: hoist/demoapp:latest
    pools: [` + promPool + `]
    port: 8080
    env: [WORK=20ms]
    resources: {limits: {cpus: 0.2, memory: 128MiB}, reservations: {cpus: 0.05, memory: 32MiB}}
    replicas: {min: 1, max: 2}
    policies:
      # MiCADO's alerts on the built-in CPU (percent of the 0.2 CPU limit):
      # overloaded above 60 for 2s (Prometheus's clock), underloaded below 1.
      - {type: alert, upper: 60, lower: 1, for: 2s, repeat: 30s}`
			if !withWeb {
				web = ""
			}
			return fmt.Sprintf(`
controller: {interval: 2s, drain_timeout: 30s, boot_timeout: 2m}
prometheus:
  url: http://127.0.0.1:%d
  timeout: 2s
  rules_dir: %s
  webhook: {bearer_token_file: %s}
pools:
  - name: %s
    provider: local
    min: 1
    max: 1
    machine: {cpus: 1, memory: 1GiB}
apps:%s
  - name: api
    image: hoist/demoapp:latest
    pools: [%s]
    port: 8080
    env: [WORK=2ms]
    resources: {limits: {cpus: 0.5, memory: 128MiB}, reservations: {cpus: 0.05, memory: 32MiB}}
    replicas: {min: 1, max: 4}
    policies:
      # Requests per second per running replica: the demo app's request
      # rate as hoist's collector reads it, through hoist's own /metrics.
      # Only samples of the last 5s count: Prometheus otherwise answers
      # with a series' last sample for 5 minutes, also with those from
      # before it was stopped, once it is back.
      # Prometheus's figures lag hoist's by a scrape or two: right after a
      # scale-up the query still divides by the replicas that ran before
      # (too high), and a replica just started adds no requests until
      # scraped twice (too low). Scale-ups take the lowest recommendation of
      # 4s, scale-downs the highest of 10s: no step on such a blip.
      - type: target
        query: 'sum(last_over_time(hoist_app_requests_per_second{app="api"}[5s])) / sum(last_over_time(hoist_app_replicas{app="api",state="running"}[5s]))'
        target: 20
        scale_up: {stabilization: 4s, max_percent: 100, max_replicas: 4, period: 15s}
        scale_down: {stabilization: 10s, max_percent: 100, period: 15s}
`, p.promPort, p.rules, p.token, promPool, web, promPool)
		},
		load: func(t *testing.T, h *promHoist, app string, high bool) {
			t.Helper()
			if !high {
				s.removeService(t, app+"-load")
				return
			}
			// The generator joins the app's network, made with the app: wait
			// for a running replica (the first time, for the machine too).
			running := fmt.Sprintf(`hoist_app_replicas{app=%q,state="running"}`, app)
			waitFor(t, 150*time.Second, app+" running", func() bool { return h.metric(t, running) >= 1 })
			if app == "api" {
				s.startLoadArgs(t, app, "--rate", fmt.Sprint(rate))
			} else {
				s.startLoadArgs(t, app, "--concurrency", "4")
			}
			t.Cleanup(func() { // before startLoadArgs's cleanup removes it
				if t.Failed() {
					promLoadLogs(t, app+"-load")
				}
			})
			// The load reaches the app, as hoist's collector sees it.
			series, least := fmt.Sprintf(`hoist_app_cpu_percent{app=%q}`, app), 60.0
			if app == "api" {
				series, least = fmt.Sprintf(`hoist_app_requests_per_second{app=%q}`, app), 0.75*rate
			}
			waitFor(t, 60*time.Second, fmt.Sprintf("%s at %g or more (hoist's /metrics)", series, least), func() bool {
				return h.metric(t, series) >= least
			})
		},
		settle: func(t *testing.T, h *promHoist) {
			t.Helper()
			// api's request rate, as hoist measures it, has fallen to nothing
			// (the query would be 0: a scale-down to min) ...
			series := `hoist_app_requests_per_second{app="api"}`
			waitFor(t, 45*time.Second, "api's request rate to fall below 1/s (hoist's /metrics)", func() bool {
				v := h.metric(t, series)
				return v >= 0 && v < 1
			})
			// ... for longer than the query policy needs to act (its 10s
			// stabilization, a tick, a scrape).
			time.Sleep(16 * time.Second)
		},
	}
}

// promLoadLogs logs a load generator's last lines (what it sent, to which
// replicas, how many failed), if it still runs.
func promLoadLogs(t *testing.T, service string) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, "docker", "service", "logs", "--tail", "15", service).CombinedOutput()
	t.Logf("%s (last lines):\n%s", service, out)
}

// promDumpSwarm logs the tasks of services.
func promDumpSwarm(t *testing.T, s *stack, services []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := s.orch.State(ctx)
	if err != nil {
		t.Logf("swarm state: %v", err)
		return
	}
	var b strings.Builder
	for _, tk := range st.Tasks {
		if slices.Contains(services, tk.Service) {
			fmt.Fprintf(&b, "  %s %s node %s %s %s\n", tk.Service, tk.ID, tk.NodeID, tk.State, tk.Reason)
		}
	}
	t.Logf("tasks:\n%s", b.String())
}

// promStack is scripts/prometheus with this test's ports and directories.
type promStack struct{ env []string }

func startPromStack(t *testing.T, p promParams) *promStack {
	t.Helper()
	s := &promStack{env: append(os.Environ(),
		"HOIST_PROM_DIR="+filepath.Join(p.dir, "prom"),
		"HOIST_PROM_PORT="+strconv.Itoa(p.promPort),
		"HOIST_AM_PORT="+strconv.Itoa(p.amPort),
		"HOIST_TARGET="+p.listen,
		"HOIST_RULES_DIR="+p.rules,
		"HOIST_WEBHOOK_TOKEN_FILE="+p.token,
		"HOIST_PROM_INTERVAL=1s",
		"HOIST_PROM_RESEND=2s",
		"HOIST_AM_REPEAT=20s",
	)}
	t.Cleanup(func() {
		s.run(t, "stop", "")
		if t.Failed() {
			for _, f := range []string{"prometheus.log", "alertmanager.log"} {
				b, _ := os.ReadFile(filepath.Join(p.dir, "prom", f))
				t.Logf("%s (tail):\n%s", f, promTail(string(b), 3000))
			}
		}
	})
	s.run(t, "start", "")
	return s
}

func (s *promStack) run(t *testing.T, verb, what string) {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	args := []string{verb}
	if what != "" {
		args = append(args, what)
	}
	cmd := exec.Command(filepath.Join(filepath.Dir(file), "..", "scripts", "prometheus"), args...)
	cmd.Env = s.env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/prometheus %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// promHoist is `hoist run --listen` as a process.
type promHoist struct {
	cmd    *exec.Cmd
	out    *promBuffer
	done   chan struct{}
	listen string
}

type promBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *promBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *promBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func startPromHoist(t *testing.T, descriptor, listen, speed string) *promHoist {
	t.Helper()
	bin, err := hoistBinary()
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"run", "--config", descriptor, "--listen", listen, "-q"}
	if speed != "" {
		args = append(args, "--speed", speed)
	}
	h := &promHoist{out: &promBuffer{}, done: make(chan struct{}), listen: listen}
	h.cmd = exec.Command(bin, args...)
	h.cmd.Stdout, h.cmd.Stderr = h.out, h.out
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = h.cmd.Wait(); close(h.done) }()
	t.Cleanup(func() {
		_ = h.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-h.done:
		case <-time.After(20 * time.Second):
			_ = h.cmd.Process.Kill()
			<-h.done
		}
		if t.Failed() {
			t.Logf("hoist output:\n%s", promTail(h.out.String(), 30000))
		}
	})
	waitFor(t, 30*time.Second, "hoist's API", func() bool {
		select {
		case <-h.done:
			t.Fatalf("hoist exited:\n%s", h.out)
		default:
		}
		resp, err := http.Get("http://" + listen + "/v1/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	})
	return h
}

var promEventRE = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (\S+)\s+(\S+)\s+(.*)$`)

// scaleRE finds an app's scale events: app, from and to are in the reason's
// context only, so the replica count is read from /metrics instead.
var scaleRE = regexp.MustCompile(`^\S+ \S+ app\.scale\s+(\S+)\s`)

func (h *promHoist) events() []string {
	var out []string
	for _, l := range strings.Split(h.out.String(), "\n") {
		if promEventRE.MatchString(l) {
			out = append(out, l)
		}
	}
	return out
}

func (h *promHoist) waitEvent(t *testing.T, d time.Duration, kind, text string) {
	t.Helper()
	h.waitEventAfter(t, 0, d, kind, "", text)
}

// waitEventAfter waits for an event of kind about subject ("" any) containing
// text, among the events after the first skip, and returns its index.
func (h *promHoist) waitEventAfter(t *testing.T, skip int, d time.Duration, kind, subject, text string) int {
	t.Helper()
	at := -1
	waitFor(t, d, fmt.Sprintf("event %s %s %q", kind, subject, text), func() bool {
		evs := h.events()
		for i := min(skip, len(evs)); i < len(evs); i++ {
			m := promEventRE.FindStringSubmatch(evs[i])
			if m != nil && m[1] == kind && (subject == "" || m[2] == subject) && strings.Contains(evs[i], text) {
				at = i
				return true
			}
		}
		return false
	})
	return at
}

// metric reads one series of hoist's /metrics (-1 when absent).
func (h *promHoist) metric(t *testing.T, series string) float64 {
	t.Helper()
	for _, l := range strings.Split(promGet(t, "http://"+h.listen+"/metrics"), "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

func (h *promHoist) replicas(t *testing.T, app string) int {
	return int(h.metric(t, fmt.Sprintf(`hoist_app_replicas{app=%q,state="desired"}`, app)))
}

// waitClock waits until hoist's engine clock has passed start+d (the
// simulator starts at sim.start, 2026-01-05T00:00:00Z by default).
func (h *promHoist) waitClock(t *testing.T, d time.Duration) {
	t.Helper()
	want := float64(time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC).Add(d).Unix())
	waitFor(t, d+time.Minute, fmt.Sprintf("the engine clock to pass %s", d), func() bool {
		return h.metric(t, "hoist_last_tick_timestamp_seconds") >= want
	})
}

func promRuleGroups(t *testing.T, promURL string) map[string]bool {
	var r struct {
		Data struct {
			Groups []struct {
				Name string `json:"name"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(promGet(t, promURL+"/api/v1/rules")), &r); err != nil {
		return nil
	}
	out := map[string]bool{}
	for _, g := range r.Data.Groups {
		out[g.Name] = true
	}
	return out
}

func promGet(t *testing.T, url string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func promPostStatus(t *testing.T, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"version":"4","alerts":[]}`))
	req.Header.Set("Content-Type", "application/json") // as Alertmanager sends it
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func promTail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
