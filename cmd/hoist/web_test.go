package main

// Browser tests of the dashboard: `hoist run` on the simulator in-process
// (20x speed), headless Chromium driven through chromedriver. Screenshots
// are kept under e2e/artifacts/dashboard (or $HOIST_ARTIFACTS).

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// dashboardDescriptor: a step of load at 60 s that needs more replicas than
// one machine holds (so machines are ordered), gone two minutes later (so
// replicas and then machines are removed).
const dashboardDescriptor = `
controller:
  interval: 5s
sim:
  start: "2026-01-05T08:00:00Z"
  container_start: 3s
pools:
  - name: workers
    provider: sim
    min: 1
    max: 4
    machine: {cpus: 2, memory: 4GiB}
    boot_time: 20s
    cooldown: 1m
    scale_down: {below: 0.5, for: 1m}
apps:
  - name: web
    image: hoist/demoapp:latest
    pools: [workers]
    resources:
      limits: {cpus: 1, memory: 512MiB}
      reservations: {cpus: 0.5, memory: 256MiB}
    replicas: {min: 2, max: 10}
    cooldown: {up: 0s, down: 20s}
    policies:
      - type: target
        metric: cpu
        target: 60
        window: 10s
        scale_down: {stabilization: 30s, max_percent: 100, period: 15s}
    load:
      cpu_per_request: 20ms
      pattern: {shape: step, base: 20, peak: 250, at: 60s, duration: 2m}
  - name: api
    image: hoist/demoapp:latest
    pools: [workers]
    resources:
      limits: {cpus: 0.5, memory: 256MiB}
      reservations: {cpus: 0.25, memory: 128MiB}
    replicas: {min: 1, max: 4}
    policies:
      - type: threshold
        metric: cpu
        upper: 80
        lower: 20
        for: 20s
        step_up: 1
        step_down: 1
    load:
      cpu_per_request: 10ms
      pattern: {shape: sine, base: 5, peak: 40, duration: 10m}
`

// simRun is `hoist run` on the simulator, in this process.
type simRun struct {
	url string // the dashboard, e.g. http://127.0.0.1:PORT/
	out *syncBuffer
}

// startSimRun writes descriptor to a file and runs it with opt (its
// ConfigPath set to that file).
func startSimRun(t *testing.T, descriptor string, opt runtimeOptions) *simRun {
	t.Helper()
	opt.ConfigPath = filepath.Join(t.TempDir(), "hoist.yaml")
	if err := os.WriteFile(opt.ConfigPath, []byte(descriptor), 0o600); err != nil {
		t.Fatal(err)
	}
	r := startRuntime(t, nil, opt)
	return &simRun{url: r.url + "/", out: r.out}
}

// apiGet reads an API route with a token.
func apiGet(t *testing.T, base, token, path string, out any) {
	t.Helper()
	if code := apiDo(t, "GET", base, token, path, "", out); code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, code, http.StatusText(code))
	}
}

type appSpecView struct {
	Spec struct {
		Replicas struct{ Min, Max int } `json:"replicas"`
		Policies []struct {
			Target float64 `json:"target"`
		} `json:"policies"`
	} `json:"spec"`
	Overridden bool `json:"overridden"`
}

// noConsoleErrors fails on any console error since the last check; allow
// lists substrings of expected ones (a refused request the test provoked).
func noConsoleErrors(t *testing.T, b *browser, step string, allow ...string) {
	t.Helper()
	for _, e := range b.consoleErrors() {
		ok := false
		for _, a := range allow {
			ok = ok || strings.Contains(e.Message, a)
		}
		switch {
		case ok:
			t.Logf("%s: expected console message: %s", step, e.Message)
		case e.Level == "SEVERE":
			t.Errorf("%s: console error: %s (%s)", step, e.Message, e.Source)
		default:
			t.Logf("%s: console warning: %s", step, e.Message)
		}
	}
}

func signIn(t *testing.T, b *browser, token string) {
	t.Helper()
	b.waitFor("the sign-in form", `return !!document.querySelector('form.login #token')`, 20*time.Second)
	b.typeInto("#token", token)
	b.click("form.login button[type=submit]")
	b.waitFor("signed in", `return document.getElementById('who').textContent.startsWith('role:')`, 20*time.Second)
}

func TestDashboard(t *testing.T) {
	requireBrowser(t)
	run := startSimRun(t, dashboardDescriptor, runtimeOptions{Speed: 20, Tokens: tokensFile(t)})
	b := startBrowser(t, 1400, 1000)

	// The page loads, asks for a token, and shows the overview without a
	// console error.
	b.navigate(run.url)
	signIn(t, b, operatorTok)
	b.waitFor("the overview", `return document.querySelectorAll('#apps tbody tr').length === 2 && !!document.querySelector('#pools .machine')`, 20*time.Second)
	noConsoleErrors(t, b, "page load")

	// After the load step (60 s simulated, 3 s here) the event list shows the
	// scale-up, live.
	b.waitFor("a scale-up in the event list", `return [...document.querySelectorAll('#events li[data-kind="app.scale"]')].some(li => li.textContent.includes('web'))`, 30*time.Second)
	b.waitFor("machines ordered", `return !!document.querySelector('#events li[data-kind="machine.ordered"]')`, 30*time.Second)
	b.fullPageScreenshot("overview", 1400)

	// The app's charts have the history and the scale-up markers; its
	// decision history has the reasons.
	b.navigate(run.url + "#/apps/web")
	b.waitFor("the app's charts", `
		const c = document.getElementById('chart-replicas');
		return !!c && +c.dataset.points >= 10 && +c.dataset.marksUp >= 1 && !!document.querySelector('#chart-metric canvas')`, 20*time.Second)
	var shown struct {
		Up, Points, Rows int
		Reason           string
	}
	b.mustExec(`
		const c = document.getElementById('chart-replicas');
		const row = document.querySelector('#history tr[data-kind="app.scale"]');
		return {Up: +c.dataset.marksUp, Points: +c.dataset.points, Rows: document.querySelectorAll('#history tbody tr').length,
			Reason: row ? row.textContent : ''}`, &shown)
	t.Logf("app page: %d samples, %d scale-up markers, %d history rows; latest scale: %s", shown.Points, shown.Up, shown.Rows, shown.Reason)
	if !strings.Contains(shown.Reason, "cpu") || !strings.Contains(shown.Reason, "target 60") {
		t.Errorf("the scale-up's reason is not shown: %q", shown.Reason)
	}
	// The chart's running replicas rose above the minimum of 2.
	b.waitFor("more replicas running on the chart", `return JSON.parse(document.getElementById('chart-replicas').dataset.max).running > 2`, 30*time.Second)
	b.fullPageScreenshot("app-web", 1400)
	noConsoleErrors(t, b, "app page")

	// An operator edits the policy; the API has it, and the next decision
	// uses the new bounds.
	b.typeInto("#f-replicas-max", "7")
	b.typeInto("#f-policies-0-target", "50")
	b.click("#policy-save")
	b.waitFor("saved", `const m = document.getElementById('policy-msg'); return m.classList.contains('ok') && m.textContent.includes('Saved')`, 10*time.Second)
	var app appSpecView
	apiGet(t, run.url, operatorTok, "/v1/apps/web", &app)
	if app.Spec.Replicas.Max != 7 || app.Spec.Policies[0].Target != 50 || !app.Overridden {
		t.Fatalf("the API does not reflect the edit: %+v", app)
	}
	b.waitFor("the new bounds in force", `return [...document.querySelectorAll('#app-summary div')].some(d => d.textContent === '2–7min–max in force')`, 20*time.Second)
	noConsoleErrors(t, b, "operator edit")

	// A viewer sees the policy but cannot change it: the form is disabled,
	// and a change forced through anyway is refused by the API (403), which
	// the page shows.
	b.click("#logout")
	signIn(t, b, viewerTok)
	b.navigate(run.url + "#/apps/web")
	b.waitFor("the read-only policy", `return !!document.getElementById('policy-readonly') && document.getElementById('policy-fields').disabled`, 20*time.Second)
	noConsoleErrors(t, b, "viewer sign-in")
	b.mustExec(`document.getElementById('policy-fields').disabled = false`, nil)
	b.typeInto("#f-replicas-max", "3")
	b.click("#policy-save")
	b.waitFor("the refusal shown", `const m = document.getElementById('policy-msg'); return m.classList.contains('err') && m.textContent.includes('403') && m.textContent.includes('viewer')`, 10*time.Second)
	var msg string
	b.mustExec(`return document.getElementById('policy-msg').textContent`, &msg)
	t.Logf("viewer's edit: %s", msg)
	apiGet(t, run.url, operatorTok, "/v1/apps/web", &app)
	if app.Spec.Replicas.Max != 7 {
		t.Fatalf("a viewer changed the policy: max %d", app.Spec.Replicas.Max)
	}
	b.fullPageScreenshot("app-web-viewer-refused", 1400)
	noConsoleErrors(t, b, "viewer edit", "403")

	// The pool: machines over time with the orders and destructions marked,
	// and each scale-in step with its time once the load has gone.
	b.navigate(run.url + "#/pools/workers")
	b.waitFor("the pool's charts", `const c = document.getElementById('chart-machines'); return !!c && +c.dataset.points >= 10 && +c.dataset.marksOrdered >= 1`, 20*time.Second)
	b.waitFor("a complete scale-in sequence", `
		return [...document.querySelectorAll('#scale-in-table tbody tr')].some(tr => [...tr.cells].slice(1).every(td => /\d\d:\d\d:\d\d/.test(td.textContent)))`, 60*time.Second)
	var seq []string
	b.mustExec(`return [...document.querySelector('#scale-in-table tbody tr').cells].map(td => td.textContent)`, &seq)
	t.Logf("scale-in: %s", strings.Join(seq, " | "))
	b.fullPageScreenshot("pool-workers", 1400)
	noConsoleErrors(t, b, "pool page")
}

// perfDescriptor has n apps on one pool of machines machines.
func perfDescriptor(apps, machines int) string {
	var s strings.Builder
	fmt.Fprintf(&s, `controller:
  interval: 5s
sim:
  start: "2026-01-05T08:00:00Z"
pools:
  - name: big
    provider: sim
    min: %d
    max: %d
    machine: {cpus: 8, memory: 32GiB}
    boot_time: 30s
apps:
`, machines, machines+20)
	for i := 0; i < apps; i++ {
		fmt.Fprintf(&s, `  - name: app-%03d
    image: hoist/demoapp:latest
    pools: [big]
    resources:
      limits: {cpus: 0.5, memory: 256MiB}
      reservations: {cpus: 0.25, memory: 128MiB}
    replicas: {min: 2, max: 12}
    policies:
      - {type: target, metric: cpu, target: 60, window: 10s}
    load:
      cpu_per_request: 10ms
      pattern: {shape: sine, base: 10, peak: %d, duration: %dm}
`, i, 60+i%5*40, 4+i%7)
	}
	return s.String()
}

// TestDashboardPerformance measures, in the browser, the overview with 200
// apps and 100 machines: the first render and each live update (DOM work
// plus style and layout, from performance.now()). It logs the figures and
// fails only if the page does not show everything.
//
//	go test ./cmd/hoist -run TestDashboardPerformance -v
func TestDashboardPerformance(t *testing.T) {
	requireBrowser(t)
	const nApps, nMachines = 200, 100
	run := startSimRun(t, perfDescriptor(nApps, nMachines), runtimeOptions{Speed: 10})
	b := startBrowser(t, 1400, 1000)
	b.navigate(run.url)
	b.waitFor("the first render", `const p = window.hoistPerf; return !!p && p.firstRender != null && p.apps === 200 && p.machines >= 100`, 60*time.Second)
	b.waitFor("ten live updates", `return window.hoistPerf.updates.length >= 10`, 60*time.Second)
	var perf struct {
		FirstRender   float64   `json:"firstRender"`
		FirstRenderAt float64   `json:"firstRenderAt"`
		Updates       []float64 `json:"updates"`
		Events        []float64 `json:"events"`
		Apps          int       `json:"apps"`
		Machines      int       `json:"machines"`
	}
	b.mustExec(`return window.hoistPerf`, &perf)
	var rows, chips int
	b.mustExec(`return document.querySelectorAll('#apps tbody tr').length`, &rows)
	b.mustExec(`return document.querySelectorAll('#pools .machine').length`, &chips)
	if rows != nApps || chips < nMachines {
		t.Fatalf("the overview shows %d apps and %d machines, want %d and %d", rows, chips, nApps, nMachines)
	}
	t.Logf("overview with %d apps and %d machines (Chromium headless, this machine):", perf.Apps, perf.Machines)
	t.Logf("  first render: %.1f ms (DOM + style + layout); page usable %.0f ms after navigation (fetches included)", perf.FirstRender, perf.FirstRenderAt)
	t.Logf("  live update (refresh applied): %s", stats(perf.Updates))
	t.Logf("  live event appended to the list: %s", stats(perf.Events))

	// The page of one of them: its charts, form and history, first render.
	var took float64
	b.navigate(run.url + "#/apps/app-007")
	b.waitFor("the app's charts", `const c = document.getElementById('chart-replicas'); return !!c && +c.dataset.points >= 5 && window.hoistPerf.appRender != null`, 30*time.Second)
	b.mustExec(`return window.hoistPerf.appRender`, &took)
	t.Logf("  app page (3 charts, %s): first render %.1f ms", "history, policy form", took)
	b.navigate(run.url + "#/pools/big")
	b.waitFor("the pool page", `return document.querySelectorAll('#machines tbody tr').length >= 100 && window.hoistPerf.poolRender != null`, 30*time.Second)
	b.mustExec(`return window.hoistPerf.poolRender`, &took)
	t.Logf("  pool page (100 machines with their lives): render %.1f ms", took)
	b.navigate(run.url)
	b.waitFor("the overview again", `return document.querySelectorAll('#apps tbody tr').length === 200`, 30*time.Second)
	b.fullPageScreenshot("overview-200-apps", 1400)
	noConsoleErrors(t, b, "200 apps")
}

func stats(v []float64) string {
	if len(v) == 0 {
		return "none"
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	q := func(p float64) float64 { return s[min(len(s)-1, int(p*float64(len(s))))] }
	return fmt.Sprintf("n=%d median %.1f ms, p90 %.1f ms, max %.1f ms", len(s), q(0.5), q(0.9), s[len(s)-1])
}

// runCLI runs `hoist ARGS...` until stop is called; its output is returned
// by the buffer.
func runCLI(t *testing.T, args ...string) (out *syncBuffer, stop func()) {
	t.Helper()
	return runCLIWith(t, testDefaults(), args...)
}

func runCLIWith(t *testing.T, d cliDefaults, args ...string) (out *syncBuffer, stop func()) {
	t.Helper()
	out = &syncBuffer{}
	root := newRootCmd(d)
	root.SetOut(out)
	root.SetErr(out)
	root.SetArgs(args)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("hoist %s: %v", strings.Join(args, " "), err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("hoist %s did not stop", strings.Join(args, " "))
		}
	}
	t.Cleanup(stop)
	return out, stop
}

func waitOutput(t *testing.T, out *syncBuffer, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %s in the output:\n%s", re, out.String())
	return nil
}

// `hoist run` on the simulator serves the dashboard without being asked:
// on the default address (127.0.0.1:8080 outside tests), or a free port when
// that is taken; --listen= turns it off. The test's default address is one
// it holds itself, or a free port: nothing depends on a fixed port.
func TestRunServesTheDashboardByDefault(t *testing.T) {
	if defaultListen != "127.0.0.1:8080" {
		t.Errorf("the default address changed: %s", defaultListen)
	}
	page := func(url string) string {
		res, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 {
			t.Fatalf("GET %s: %s", url, res.Status)
		}
		return string(b)
	}
	dashboard := regexp.MustCompile(`hoist: dashboard on (http://127\.0\.0\.1:(\d+)/)\n`)
	run := func(d cliDefaults, args ...string) (*syncBuffer, func()) {
		return runCLIWith(t, d, append([]string{"run", "--speed", "20", "-q"}, args...)...)
	}

	// Free: the default address is used (the dashboard is open, no token).
	out, stop := run(cliDefaults{listen: "127.0.0.1:0"})
	m := waitOutput(t, out, dashboard)
	if p := page(m[1]); !strings.Contains(p, `content="open"`) {
		t.Errorf("the page does not say the API is open: %.300s", p)
	}
	stop()

	// Taken by another program: a free port, printed.
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	_, heldPort, _ := net.SplitHostPort(held.Addr().String())
	out, stop = run(cliDefaults{listen: held.Addr().String()})
	m = waitOutput(t, out, dashboard)
	if m[2] == heldPort {
		t.Fatalf("listened on a taken port? %s", m[1])
	}
	if p := page(m[1]); !strings.Contains(p, "assets/app.js") {
		t.Errorf("no dashboard at %s", m[1])
	}
	stop()

	// --listen= : no listener at all.
	out, stop = run(cliDefaults{listen: "127.0.0.1:0"}, "--listen=")
	waitOutput(t, out, regexp.MustCompile(`hoist: running`))
	stop()
	if strings.Contains(out.String(), "API on") || strings.Contains(out.String(), "dashboard on") {
		t.Errorf("--listen= still listened:\n%s", out.String())
	}
}

// TestDashboardDocScreenshots renders the images of docs/dashboard.md from
// the built-in quickstart at 60x speed. It runs only when asked:
//
//	HOIST_DOC_SCREENSHOTS=1 go test ./cmd/hoist -run TestDashboardDocScreenshots -v
func TestDashboardDocScreenshots(t *testing.T) {
	if os.Getenv("HOIST_DOC_SCREENSHOTS") == "" {
		t.Skip("set HOIST_DOC_SCREENSHOTS=1 to regenerate docs/img/dashboard-*.png")
	}
	requireBrowser(t)
	dir, err := filepath.Abs("../../docs/img")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOIST_ARTIFACTS", dir)
	url := startRuntime(t, nil, runtimeOptions{Speed: 60}).url + "/"
	b := startBrowser(t, 1280, 900)
	b.navigate(url)
	// Around the load's peak: machines ordered and ready, replicas high.
	b.waitFor("machines added", `return document.querySelectorAll('#pools .machine[data-phase="ready"]').length >= 3`, 90*time.Second)
	time.Sleep(1500 * time.Millisecond) // let the highlights fade
	b.fullPageScreenshot("dashboard-overview", 1280)
	b.navigate(url + "#/pools/workers")
	b.waitFor("a scale-in", `return !!document.querySelector('#scale-in-table tbody tr td:last-child') &&
		/\d\d:\d\d:\d\d/.test(document.querySelector('#scale-in-table tbody tr td:last-child').textContent)`, 120*time.Second)
	b.navigate(url + "#/apps/web")
	b.waitFor("the app's charts", `const c = document.getElementById('chart-replicas'); return !!c && +c.dataset.marksDown >= 1`, 30*time.Second)
	time.Sleep(1500 * time.Millisecond)
	b.fullPageScreenshot("dashboard-app", 1280)
	b.navigate(url + "#/pools/workers")
	b.waitFor("the pool's charts", `const c = document.getElementById('chart-machines'); return !!c && +c.dataset.marksDestroyed >= 1`, 30*time.Second)
	time.Sleep(1500 * time.Millisecond)
	b.fullPageScreenshot("dashboard-pool", 1280)
	noConsoleErrors(t, b, "doc screenshots")
}

// TestDashboardAfterTwoHours runs the built-in quickstart for two simulated
// hours and checks the app page as an operator sees it then: no marker
// closer than 2 % of the chart's width to the next (dense events are drawn
// as one marker with their count), a time-range picker that sets what the
// charts show, units on every axis, the latest values in the legends without
// hovering, times in 24 h. Screenshots: app-web-2h-*.png, pool-workers-2h.png.
func TestDashboardAfterTwoHours(t *testing.T) {
	requireBrowser(t)
	run := startRuntime(t, nil, runtimeOptions{Speed: 300})
	url := run.url + "/"
	b := startBrowser(t, 1280, 1000)                     // while the simulation runs
	start := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC) // examples/quickstart.yaml's sim.start
	deadline := time.Now().Add(4 * time.Minute)
	for {
		var latest struct {
			Time time.Time `json:"time"`
		}
		apiGet(t, url, "", "/v1/series", &latest)
		if latest.Time.Sub(start) >= 2*time.Hour {
			t.Logf("simulated %s", latest.Time.Sub(start).Round(time.Second))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the simulation reached only %s in 4 minutes", latest.Time.Sub(start))
		}
		time.Sleep(200 * time.Millisecond)
	}

	b.navigate(url + "#/apps/web")
	b.waitFor("the app's charts", `const c = document.getElementById('chart-replicas');
		return !!c && +c.dataset.points >= 500 && c.dataset.drawnMarks != null && !!document.getElementById('range')`, 30*time.Second)

	type chartView struct {
		ID       string    `json:"id"`
		Marks    int       `json:"marks"`
		Drawn    int       `json:"drawn"`
		Xs       []float64 `json:"xs"`
		Width    float64   `json:"width"`
		XMin     float64   `json:"xMin"`
		XMax     float64   `json:"xMax"`
		TFirst   float64   `json:"tFirst"`
		TLast    float64   `json:"tLast"`
		Ahead    float64   `json:"ahead"` // a forecast's horizon shown after the last sample
		LegendAt float64   `json:"legendAt"`
		Axes     []string  `json:"axes"`
		Legend   []string  `json:"legend"`
	}
	charts := func() []chartView {
		var out []chartView
		b.mustExec(`return [...document.querySelectorAll('.chart')].map(c => {
			const d = c.dataset;
			const marks = Object.keys(d).filter(k => /^marks[A-Z]/.test(k)).reduce((n, k) => n + +d[k], 0);
			return {id: c.id, marks, drawn: +d.drawnMarks, xs: JSON.parse(d.markXs || '[]'), width: +d.plotWidth,
				xMin: +d.xMin, xMax: +d.xMax, tFirst: +d.tFirst, tLast: +d.tLast, ahead: +(d.ahead || 0), legendAt: +d.legendAt, axes: JSON.parse(d.axes),
				legend: [...c.querySelectorAll('.u-legend .u-series')].map(s => s.textContent)};
		})`, &out)
		return out
	}
	pick := func(label string) {
		t.Helper()
		b.mustExec(`[...document.querySelectorAll('#range button')].find(x => x.textContent === arguments[0]).click()`, nil, label)
	}
	// checkMarks: at most one marker per 2 % of the width.
	checkMarks := func(view string, cs []chartView) {
		t.Helper()
		for _, c := range cs {
			if c.Width <= 0 {
				t.Fatalf("%s: chart %s has no plot width", view, c.ID)
			}
			if c.Drawn > 51 {
				t.Errorf("%s: chart %s draws %d markers on %.0f px", view, c.ID, c.Drawn, c.Width)
			}
			for i := 1; i < len(c.Xs); i++ {
				if gap := c.Xs[i] - c.Xs[i-1]; gap < 0.02*c.Width-0.2 {
					t.Errorf("%s: chart %s: markers %d and %d are %.1f px apart, under 2 %% of %.0f px", view, c.ID, i-1, i, gap, c.Width)
				}
			}
		}
	}

	pick("all")
	b.waitFor("all the data shown", `const d = document.getElementById('chart-replicas').dataset; return d.range === '0' && +d.xMax - +d.xMin >= 7000`, 10*time.Second)
	all := charts()
	if len(all) < 3 {
		t.Fatalf("the app page has %d charts, want metric, replicas and load", len(all))
	}
	for _, c := range all {
		if c.XMin != c.TFirst || c.XMax != c.TLast+c.Ahead {
			t.Errorf("all: chart %s shows %.0f..%.0f, its data is %.0f..%.0f", c.ID, c.XMin, c.XMax, c.TFirst, c.TLast)
		}
		t.Logf("all: chart %s: %d event markers drawn as %d on %.0f px, x %.0f s", c.ID, c.Marks, c.Drawn, c.Width, c.XMax-c.XMin)
	}
	if all[0].Marks <= 51 {
		t.Errorf("only %d events in 2 hours: the test does not show markers being combined", all[0].Marks)
	}
	checkMarks("all", all)
	b.fullPageScreenshot("app-web-2h-all", 1280)

	// Every axis says its unit; the metric (cpu) is a percent of the limit.
	for _, c := range all {
		for i, a := range c.Axes {
			if a == "" {
				t.Errorf("chart %s: axis %d has no label", c.ID, i)
			}
		}
	}
	if !strings.Contains(strings.Join(all[0].Axes, "|"), "cpu (% of the limit)") {
		t.Errorf("the metric chart's axes: %q", all[0].Axes)
	}
	// Without the cursor on a chart, its legend shows the latest values.
	for _, c := range all {
		for _, l := range c.Legend[1:] {
			if strings.HasSuffix(l, "--") || strings.HasSuffix(l, "–") {
				t.Errorf("chart %s: legend %q shows no value without hovering", c.ID, l)
			}
		}
	}
	t.Logf("replicas legend: %q", all[1].Legend)

	// The picker: each range shows that much of the latest data, or all of
	// it when less was kept (the simulation goes on meanwhile).
	for _, r := range []struct {
		label string
		sec   float64
	}{{"15 min", 900}, {"1 h", 3600}, {"6 h", 21600}} {
		pick(r.label)
		b.waitFor("the range "+r.label, `return [...document.querySelectorAll('#range button')].some(x => x.textContent === arguments[0] && x.getAttribute('aria-pressed') === 'true')`, 5*time.Second, r.label)
		cs := charts()
		for _, c := range cs {
			want := min(c.TLast-c.TFirst, r.sec)
			if c.LegendAt != c.TLast {
				t.Errorf("%s: chart %s: the legend shows %.0f, the latest sample is %.0f", r.label, c.ID, c.LegendAt, c.TLast)
			}
			if span := c.XMax - c.Ahead - c.XMin; c.XMax != c.TLast+c.Ahead || span < want-1 || span > want+1 {
				t.Errorf("%s: chart %s shows %.0f..%.0f (%.0f s), want the last %.0f s up to %.0f", r.label, c.ID, c.XMin, c.XMax, span, want, c.TLast)
			}
		}
		checkMarks(r.label, cs)
		if r.label == "15 min" {
			b.fullPageScreenshot("app-web-2h-15min", 1280)
		}
	}
	// api's schedule (weekdays 08:00-18:00 UTC, min 2) is shown, in force on
	// this Monday morning of the simulated clock.
	b.navigate(url + "#/apps/api")
	b.waitFor("api's schedule window in force", `const tr = document.querySelector('fieldset.schedule tr[data-window="0"]');
		return !!tr && tr.dataset.inForce === 'true' && tr.textContent.includes('08:00–18:00')`, 30*time.Second)

	// The choice holds for the tab: the pool page opens with it.
	b.navigate(url + "#/pools/workers")
	b.waitFor("the pool's charts", `const c = document.getElementById('chart-machines'); return !!c && +c.dataset.points >= 500 && c.dataset.range === '21600'`, 30*time.Second)
	checkMarks("pool", charts())
	// Times in the tables are 24 h.
	var times []string
	b.mustExec(`return [...document.querySelectorAll('#pool-events li > span:first-child')].slice(0, 20).map(s => s.textContent)`, &times)
	for _, s := range times {
		if !regexp.MustCompile(`^([01]\d|2[0-3]):[0-5]\d:[0-5]\d$`).MatchString(s) {
			t.Errorf("event time %q is not hh:mm:ss (24 h)", s)
		}
	}
	b.fullPageScreenshot("pool-workers-2h", 1280)
	noConsoleErrors(t, b, "two hours")
}
