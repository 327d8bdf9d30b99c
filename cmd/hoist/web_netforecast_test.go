package main

// Browser tests of the app page's forecast band and network limit: `hoist
// run` on the simulator in-process, headless Chromium through chromedriver
// (webdriver_test.go). Screenshots: app-shop-forecast.png,
// app-files-throttle.png under e2e/artifacts/dashboard; with
// HOIST_DOC_SCREENSHOTS=1 also docs/img/dashboard-{forecast,throttle,traffic}.png.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/api"
	"github.com/hoist/hoist/internal/throttle"
)

// forecastDescriptor: shop has a predictive policy on a sine of requests;
// files sends 20 KiB per request (the simulator's traffic), to be limited.
const forecastDescriptor = `
controller:
  interval: 5s
sim:
  start: "2026-01-05T08:00:00Z"
  container_start: 3s
pools:
  - name: workers
    provider: sim
    min: 1
    max: 6
    machine: {cpus: 4, memory: 8GiB}
    boot_time: 30s
apps:
  - name: shop
    image: hoist/demoapp:latest
    pools: [workers]
    resources:
      limits: {cpus: 1, memory: 512MiB}
      reservations: {cpus: 0.5, memory: 256MiB}
    replicas: {min: 1, max: 12}
    slo: {latency_p95: 250ms}
    policies:
      - type: predictive
        target: 60
    load:
      cpu_per_request: 20ms
      pattern: {shape: sine, base: 20, peak: 200, duration: 10m}
  - name: files
    image: hoist/demoapp:latest
    pools: [workers]
    resources:
      limits: {cpus: 0.5, memory: 256MiB}
      reservations: {cpus: 0.25, memory: 128MiB}
    replicas: {min: 2, max: 4}
    policies:
      - {type: target, metric: cpu, target: 60}
    load:
      cpu_per_request: 5ms
      bytes_per_request: 20KiB
      request_bytes: 1KiB
      pattern: {shape: sine, base: 30, peak: 60, duration: 10m}
`

// apiDo sends a request with a token and a JSON body, decoding the answer.
func apiDo(t *testing.T, method, base, token, path, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, strings.TrimSuffix(base, "/")+path, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if out != nil {
		if err := json.NewDecoder(res.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %s: %v", method, path, res.Status, err)
		}
	}
	return res.StatusCode
}

type throttleView struct {
	Throttle *struct {
		Tasks []string `json:"tasks"`
		Limit struct {
			Rate uint64 `json:"rate"`
		} `json:"limit"`
		Until time.Time `json:"until"`
		By    string    `json:"by"`
	} `json:"throttle"`
}

func TestDashboardForecastAndThrottle(t *testing.T) {
	requireBrowser(t)
	// The simulator has no agents: what Swarm's agents would report of the
	// limit on files's tasks (applied with its counters, or an error) is
	// given here, for the page's table of it.
	reports := func(app string) []api.TaskLimit {
		if app != "files" {
			return nil
		}
		return []api.TaskLimit{
			{Task: "task-r1", Applied: true, Rate: 3e6,
				Egress:  throttle.Counters{Bytes: 3 << 20, Packets: 2400, Drops: 17, Overlimits: 2022},
				Ingress: throttle.Counters{Bytes: 512 << 10, Packets: 400, Drops: 0, Overlimits: 946}},
			{Task: "task-r2", Error: "no network namespace for the container"},
		}
	}
	run := startSimRun(t, forecastDescriptor, runtimeOptions{Speed: 50, Tokens: tokensFile(t), throttleReports: reports})
	b := startBrowser(t, 1400, 1000)
	b.navigate(run.url + "#/apps/shop")
	signIn(t, b, operatorTok)

	// The predictive app's load chart: the forecast and its upper bound as
	// series with a band between them, and the latest forecast drawn over
	// the reaction horizon after the last sample.
	b.waitFor("the forecast band", `
		const c = document.getElementById('chart-load');
		if (!c || !c.dataset.aheadBand || !(+c.dataset.points >= 10)) return false;
		const m = JSON.parse(c.dataset.max);
		const [x0, yu, x1, yp] = JSON.parse(c.dataset.aheadBand);
		return m['forecast peak req/s'] > 0 && Object.keys(m).some(k => k.startsWith('upper q')) && yp - yu >= 6 && x1 > x0`, 30*time.Second)
	var band struct {
		Ahead, XMin, XMax, TLast float64
		Width                    float64 // the plot's, in the canvas's pixels
		Band                     []float64
		Pixels                   [][]int // a 3 x 3 grid inside the band
		Legend, Axes             []string
		Title, Health, Mode      string
	}
	var app struct {
		Decision struct {
			Forecast struct {
				Mode           string   `json:"mode"`
				HorizonSeconds float64  `json:"horizon_seconds"`
				Coverage       float64  `json:"coverage"`
				MASE           *float64 `json:"mase"`
				Errors         int      `json:"errors"`
			} `json:"forecast"`
		} `json:"decision"`
	}
	// The page and the API are read one after the other while the forecast
	// learns (its horizon moves): read both again until they are of one
	// moment. When the pool's first boot is measured the horizon grows from
	// two ticks to the boot time, a horizon with no errors yet whose upper
	// bound is its point (a band of no height): wait until it has some.
	var f = &app.Decision.Forecast
	for deadline := time.Now().Add(minWait); ; time.Sleep(500 * time.Millisecond) {
		b.mustExec(`
			const c = document.getElementById('chart-load');
			const d = c.dataset;
			const band = JSON.parse(d.aheadBand);
			const cv = c.querySelector('canvas');
			return {Ahead: +d.ahead, XMin: +d.xMin, XMax: +d.xMax, TLast: +d.tLast, Width: +d.plotWidth * devicePixelRatio, Band: band,
				Pixels: [0.25, 0.5, 0.75].flatMap(fy => [0.25, 0.5, 0.75].map(fx => [...cv.getContext('2d').getImageData(
					Math.round(band[0] + fx * (band[2] - band[0])), Math.round(band[1] + fy * (band[3] - band[1])), 1, 1).data])),
				Legend: [...c.querySelectorAll('.u-legend .u-series')].map(s => s.textContent), Axes: JSON.parse(d.axes),
				Title: document.getElementById('chart-load-title').textContent,
				Health: document.getElementById('forecast').textContent, Mode: document.getElementById('forecast').dataset.mode}`, &band)
		apiGet(t, run.url, operatorTok, "/v1/apps/shop", &app)
		oneMoment := band.Ahead == f.HorizonSeconds && band.XMax-band.TLast == band.Ahead
		if oneMoment && len(band.Band) == 4 && band.Band[3]-band.Band[1] >= 6 || time.Now().After(deadline) {
			break
		}
	}
	t.Logf("load chart: ahead %.0f s, band %v (px), pixels %v; legend %q", band.Ahead, band.Band, band.Pixels, band.Legend)
	t.Logf("forecast health: %s", band.Health)
	if f.HorizonSeconds <= 0 || band.Ahead != f.HorizonSeconds || band.XMax-band.TLast != band.Ahead {
		t.Errorf("the chart shows %.0f s after the last sample (x to %.0f, last %.0f); the forecast's horizon is %.0f s", band.Ahead, band.XMax, band.TLast, f.HorizonSeconds)
	}
	// The band ahead spans the horizon on the time axis.
	if want := band.Ahead / (band.XMax - band.XMin) * band.Width; math.Abs(band.Band[2]-band.Band[0]-want) > 3 {
		t.Errorf("the band ahead is %.0f px wide, the horizon %.0f px", band.Band[2]-band.Band[0], want)
	}
	// Its pixels are the band's colour (purple, translucent): drawn, not
	// only announced.
	// A series line may cross the band: most of a grid of its pixels, not
	// one, must be purple.
	purple := 0
	for _, p := range band.Pixels {
		if len(p) == 4 && p[3] != 0 && p[2] > p[0] && p[2] > p[1] {
			purple++
		}
	}
	if purple < 5 {
		t.Errorf("%d of the band's 9 sampled pixels are the band's purple: %v", purple, band.Pixels)
	}
	// A legend entry for each, with its latest value; the title says what
	// the band is.
	for _, want := range []string{"forecast peak req/s", "upper q"} {
		found := false
		for _, l := range band.Legend {
			if strings.HasPrefix(l, want) {
				found = true
				if strings.HasSuffix(l, "–") || strings.HasSuffix(l, "--") {
					t.Errorf("legend %q has no value", l)
				}
			}
		}
		if !found {
			t.Errorf("no legend entry %q in %q", want, band.Legend)
		}
	}
	if !strings.Contains(band.Title, "forecast peak over the reaction horizon") {
		t.Errorf("the load chart's title: %q", band.Title)
	}
	if !strings.Contains(strings.Join(band.Axes, "|"), "load (req/s)") {
		t.Errorf("the load chart's axes: %q", band.Axes)
	}
	// The forecast's health as the API gives it: its mode, coverage and MASE.
	if band.Mode != f.Mode {
		t.Errorf("the page says mode %q, the API %q", band.Mode, f.Mode)
	}
	for _, want := range []*regexp.Regexp{regexp.MustCompile(`coverage \d+ %`), regexp.MustCompile(`MASE (\d+\.\d\d|–)`),
		regexp.MustCompile(`horizon (\d+ s|\d+m)`), regexp.MustCompile(`\d+ scored`), regexp.MustCompile(`(predictive|reactive fallback|forecast only)`)} {
		if !want.MatchString(band.Health) {
			t.Errorf("the forecast's health %q lacks %s", band.Health, want)
		}
	}
	b.fullPageScreenshot("app-shop-forecast", 1400)
	if os.Getenv("HOIST_DOC_SCREENSHOTS") != "" {
		b.elementScreenshot("#chart-load", "../../docs/img/dashboard-forecast.png")
	}
	noConsoleErrors(t, b, "forecast")

	// The overview gives a predictive app's rate against its forecast's
	// upper bound (not a threshold it does not have).
	b.navigate(run.url + "#/")
	b.waitFor("shop's rate and forecast on the overview", `const tr = document.querySelector('#apps tr[data-app="shop"]');
		return !!tr && /rate \d+ req\/s \/ forecast ≤ \d+/.test(tr.textContent) && !tr.textContent.includes('upper')`, 20*time.Second)

	// A limit set through the API is on the app's page: rate, tasks, the
	// time left counting down on the cluster's clock; the traffic chart
	// and a marker for the limit's event.
	// (3 h of the simulated clock is 3.6 min here at 50x: the limits outlive
	// the test on a busy machine.)
	var thr throttleView
	if code := apiDo(t, "POST", run.url, operatorTok, "/v1/apps/files/throttle", `{"rate":"3Mbit","for":"3h"}`, &thr); code != 200 || thr.Throttle == nil {
		t.Fatalf("POST throttle: %d %+v", code, thr)
	}
	b.navigate(run.url + "#/apps/files")
	b.waitFor("the limit on the page", `
		const a = document.getElementById('throttle-active');
		return !!a && a.dataset.rate === '3000000' && document.getElementById('throttle-tasks').textContent === 'all running tasks' &&
			/^(\d+h\d\dm|\d+m\d\ds|\d+m|\d+ s) left$/.test(document.getElementById('throttle-left').textContent)`, 20*time.Second)
	left := func() string {
		var s string
		b.mustExec(`return document.getElementById('throttle-left').textContent`, &s)
		return s
	}
	first := left()
	b.waitFor("the countdown", `return document.getElementById('throttle-left').textContent !== arguments[0]`, 20*time.Second, first)
	t.Logf("countdown: %s, then %s", first, left())
	b.waitFor("the traffic chart and the limit's marker", `
		const c = document.getElementById('chart-net');
		if (!c) return false;
		const m = JSON.parse(c.dataset.max);
		return m['sent (net_tx)'] > 0 && m['received (net_rx)'] > 0 && +c.dataset.marksThrottle >= 1 &&
			JSON.parse(c.dataset.axes).includes('traffic (bit/s)') && m['limit each way'] > 0`, 20*time.Second)
	var limitMax float64
	b.mustExec(`return JSON.parse(document.getElementById('chart-net').dataset.max)['limit each way']`, &limitMax)
	// All running tasks (files keeps 2 to 4) at 3 Mbit/s each.
	if n := limitMax / 3e6; n < 2 || n > 4 || n != math.Trunc(n) {
		t.Errorf("the traffic chart's limit is %.0f bit/s, not 3 Mbit/s times the running tasks", limitMax)
	}
	// The overview marks the app as limited.
	b.navigate(run.url + "#/")
	b.waitFor("files limited on the overview", `const tr = document.querySelector('#apps tr[data-app="files"]');
		const l = tr && tr.querySelector('.badge.limit');
		return !!l && !l.hidden && l.textContent === 'limited 3Mbit/s' && !document.querySelector('#apps tr[data-app="shop"] .badge.limit:not([hidden])')`, 20*time.Second)
	b.navigate(run.url + "#/apps/files")
	b.waitFor("the limit on the page again", `return !!document.getElementById('throttle-active') && !!document.querySelector('#throttle-reported tbody tr')`, 20*time.Second)

	// The agents' reports: one applied with its counters, one failed.
	var rows [][]string
	b.mustExec(`return [...document.querySelectorAll('#throttle-reported tbody tr')].map(tr => [...tr.cells].map(td => td.textContent))`, &rows)
	want := [][]string{
		{"task-r1", "yes, 3Mbit", "3 MiB", "17", "2022", "512 KiB", "0", "946"},
		{"task-r2", "error: no network namespace for the container", "–", "–", "–", "–", "–", "–"},
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("the agents' reports on the page:\n%q\nwant\n%q", rows, want)
	}
	var text string
	b.mustExec(`return document.getElementById('throttle').textContent`, &text)
	for _, want := range []string{"3Mbit", "each way", "operator", "until"} {
		if !strings.Contains(text, want) {
			t.Errorf("the limit's panel %q lacks %q", text, want)
		}
	}
	b.fullPageScreenshot("app-files-throttle", 1400)
	if os.Getenv("HOIST_DOC_SCREENSHOTS") != "" {
		b.elementScreenshot("#throttle-card", "../../docs/img/dashboard-throttle.png")
		b.elementScreenshot("#chart-net", "../../docs/img/dashboard-traffic.png")
	}
	noConsoleErrors(t, b, "throttle")

	// An operator lifts it from the page, and sets another on one task; a
	// bad rate is refused with the API's message.
	b.click("#throttle-lift")
	b.waitFor("lifted", `return !!document.getElementById('throttle-none') && document.getElementById('throttle-msg').classList.contains('ok')`, 10*time.Second)
	apiGet(t, run.url, operatorTok, "/v1/apps/files/throttle", &thr)
	if thr.Throttle != nil {
		t.Fatalf("the API still has a limit after the page lifted it: %+v", thr.Throttle)
	}
	b.typeInto("#thr-rate", "fast")
	b.click("#throttle-set")
	b.waitFor("the refusal", `const m = document.getElementById('throttle-msg'); return m.classList.contains('err') && m.textContent.includes('400') && m.textContent.includes('rate')`, 10*time.Second)
	b.typeInto("#thr-rate", "5Mbit")
	b.typeInto("#thr-for", "3h")
	b.typeInto("#thr-tasks", "task-x1")
	b.click("#throttle-set")
	b.waitFor("the new limit", `const a = document.getElementById('throttle-active'); return !!a && a.dataset.rate === '5000000' && document.getElementById('throttle-tasks').textContent === 'task-x1'`, 10*time.Second)
	apiGet(t, run.url, operatorTok, "/v1/apps/files/throttle", &thr)
	if thr.Throttle == nil || thr.Throttle.Limit.Rate != 5e6 || len(thr.Throttle.Tasks) != 1 || thr.Throttle.Tasks[0] != "task-x1" || !strings.Contains(thr.Throttle.By, "operator") {
		t.Fatalf("the API has %+v after the page set 5Mbit on task-x1", thr.Throttle)
	}
	noConsoleErrors(t, b, "throttle by hand", "400")

	// A viewer sees the limit, without the form.
	b.click("#logout")
	signIn(t, b, viewerTok)
	b.navigate(run.url + "#/apps/files")
	b.waitFor("the viewer's limit card", `return !!document.getElementById('throttle-active') && !document.getElementById('throttle-form') &&
		document.getElementById('throttle').textContent.includes('Your role is viewer')`, 20*time.Second)
	noConsoleErrors(t, b, "viewer")
}

// elementScreenshot saves one element's picture at path (docs images).
func (b *browser) elementScreenshot(css, path string) {
	b.t.Helper()
	b.mustExec(`document.querySelector(arguments[0]).scrollIntoView()`, nil, css)
	id, err := b.element(css)
	var data string
	if err == nil {
		err = b.call("GET", b.sess("/element/"+id+"/screenshot"), nil, &data)
	}
	if err != nil {
		b.t.Fatalf("screenshot of %s: %v", css, err)
	}
	png, err := base64.StdEncoding.DecodeString(data)
	if err == nil {
		err = os.WriteFile(path, png, 0o644)
	}
	if err != nil {
		b.t.Fatalf("screenshot of %s: %v", css, err)
	}
	b.t.Logf("screenshot: %s", path)
}
