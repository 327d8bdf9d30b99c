//go:build e2e && ramp

// Not in the suite CI runs (its own tag, ramp): not robust on a busy host.
// At a 55 s period and a 2 s scale-down stabilisation it failed 1 full CI
// run in 5: the replicas went 6 -> 4 -> 6 within 4 s as the third ramp
// fell, and the two new tasks waited for the room of the two just stopped
// (Swarm gives it back once they have stopped), on the pool's max of 3
// nodes. At 70 s and 10 s (why: see rampPeriod and the descriptor) no run
// failed so, but 3 of 10 with both cores busy failed otherwise: a weak
// memory of the second ramp (3 of its 6 replicas running, ticks without
// metrics), and twice a forecast never trusted (worse than naive).
// docs/bench/README.md ("The repeated ramp") has every run and what is
// left in hoist. Run it with
//
//	go test -tags e2e,ramp -count=1 -run TestPredictiveRampOnSwarm -v ./e2e/

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/cluster"
)

// The load of TestPredictiveRampOnSwarm repeats every rampPeriod: rampLow
// req/s, a rise to rampHigh from rampAt over 4 s, held until rampDown, and
// back over 2 s; the rest of the period (the lull, 54 s from the end of a
// fall to the next rise) lets the pool go below its max and order again
// ahead of the next rise, on a busy host. In the 4 busy runs that passed,
// the pool's third node went 14-36 s after the second ramp's fall ended (the
// replicas stay up 10 s after the last tick that wanted them, their room
// is kept 10 s more, a node is reserved below half 4 s before it goes,
// and going takes some more), and the third ramp's machine was ordered 5-19
// s before its rise; at 55 s and a 10 s stabilisation the pool kept its
// 3 nodes through the lull (1 run of 2). The period is also the season the
// policy is told: its forecast was trusted from 99-129 s, within the
// second period. Two replicas (one machine, the pool's
// min) serve rampLow; rampHigh needs at least one more machine: 4 replicas
// of about 24 req/s at the policy's 85 % CPU target (the demo's 10 ms of
// CPU per request cost 3.5 % of a 0.4 CPU limit per req/s, measured), more
// than the two replicas can serve (57 req/s), and what they serve then
// needs 3. The forecast's headroom keeps the lull's replicas at 2-4 (one
// or two nodes), so at least the third ramp's third node is ordered ahead.
const (
	rampPeriod = 70 * time.Second
	rampAt     = 8 * time.Second
	rampDown   = 22 * time.Second
	rampLow    = 16
	rampHigh   = 88
)

const rampDescriptor = `
controller:
  interval: 2s
  drain_timeout: 30s
  boot_timeout: 2m
pools:
  - name: ramp
    provider: local
    min: 1
    max: 3
    machine: {cpus: 1, memory: 1GiB}
    # a node is removed 4 s after it is no longer needed, even just after a
    # scale-up: between two ramps the pool removes machines, so the third
    # ramp's are ordered again (ahead of it, or not).
    cooldown: 4s
    scale_down: {below: 0.5, for: 4s}
apps:
  - name: rampdemo
    image: hoist/demoapp:latest
    pools: [ramp]
    port: 8080
    env: [WORK=10ms]
    resources:
      limits: {cpus: 0.4, memory: 128MiB}
      reservations: {cpus: 0.4, memory: 64MiB}
    replicas: {min: 2, max: 6}
    # The latency objective is loose: on a host whose cores are busy the
    # p95 says more of the host than of the app, and the capacity learned
    # from it would make every ramp need every machine. With it, the
    # learned capacity is the 85 % target the policy starts from.
    slo: {latency_p95: 10s}
    policies:
      - type: predictive
        target: 85
        seasons: [70s]
        # two ticks a bucket: a tick without metrics (a busy host) leaves
        # no hole in the season's memory
        season_bucket: 4s
        # Replicas go down only once every tick of the last 10 s wanted
        # fewer: longer than a dip of the rate in the plateau and than the
        # fall itself (the forecast's upper bound jumps there, its errors
        # being largest at the ramps), so the ramp's replicas stay until
        # about when the counted window ends (12 s after the fall begins),
        # and no scale-up comes just after a scale-down within it, which on
        # the pool's max of 3 nodes waits for the room of the tasks just
        # stopped. At 2 s one full CI run in 5 failed so (6 -> 4 -> 6).
        scale_down: {stabilization: 10s}
        # Room is kept 10 s after the replicas fell (at least the
        # stabilisation, the policy's floor; the default, 45m, would keep
        # the ramp's machines through the lull, and the third ramp would
        # show no forecast).
        keep_window: 10s
`

// TestPredictiveRampOnSwarm is issue 13's "must show" on the real stack: a
// load that repeats a ramp every 70 s, a predictive policy told that season;
// tasks pending for resources (Swarm's "insufficient resources") are counted
// from the real swarm during each ramp. Once the policy has seen two
// periods, the third ramp's pending task-seconds must be at most a tenth of
// the first's, and the first must have some (else the test shows nothing).
// Between the second and the third ramp the pool must have removed a
// machine the ramp needs (all three), so one was ordered for the third.
func TestPredictiveRampOnSwarm(t *testing.T) {
	s := newStack(t)
	const pool, app = "ramp", "rampdemo"
	desc := writeFile(t, t.TempDir(), "ramp.yaml", rampDescriptor)
	t.Cleanup(func() { // runs last
		if left := s.leftovers(t, pool); len(left) > 0 {
			t.Errorf("left behind:\n%s", strings.Join(left, "\n"))
		}
	})
	newProvider(t, s, pool, 1, "") // its cleanup destroys what is left, even on failure
	t.Cleanup(func() { s.removeService(t, app); s.removeNetwork("hoist-" + app) })
	testStart := time.Now()

	// Listening on loopback: the policy's rate and forecast per tick are
	// read from the API at the end, for the log.
	h := startHoistArgs(t, "run", "--config", desc, "--listen", "127.0.0.1:0")
	waitFor(t, 2*time.Minute, "2 replicas running", func() bool {
		run := 0
		for _, tk := range s.state(t).Tasks {
			if tk.Service == app && tk.State == cluster.TaskRunning {
				run++
			}
		}
		return run == 2
	})

	// The schedule's time zero, a few seconds on: the generator's task
	// starts before it, so the first period is whole, and the test knows
	// when each ramp comes.
	epoch := time.Now().Truncate(time.Second).Add(4 * time.Second)
	s.startLoadArgs(t, app, "--period", rampPeriod.String(), "--epoch", fmt.Sprint(epoch.Unix()),
		"--schedule", fmt.Sprintf("0s=%d,%s=%d,%s=%d,%s=%d,%s=%d", rampLow, rampAt, rampLow, rampAt+4*time.Second, rampHigh,
			rampDown, rampHigh, rampDown+2*time.Second, rampLow))
	t.Cleanup(func() { // before startLoad's cleanup removes the generator
		if t.Failed() {
			promLoadLogs(t, app+"-load")
		}
	})
	t.Logf("load from %s (load average %s)", epoch.Format("15:04:05"), loadAvg())

	// Each ramp's window: from a little before its rise to well after its
	// fall (a task still waits for a machine then, it counts).
	const before, after = 4 * time.Second, 12 * time.Second
	window := func(k int) (time.Time, time.Time) {
		start := epoch.Add(time.Duration(k)*rampPeriod + rampAt)
		return start.Add(-before), start.Add(rampDown - rampAt + after)
	}
	var (
		pending   [3]float64           // task-seconds pending for resources, per ramp
		early     [3]float64           // and in the 20 s before each ramp\'s window (reported)
		trough    = [3]int{99, 99, 99} // fewest pool nodes before each ramp, since the previous one fell
		lastPoll  time.Time
		nodesSeen []string
	)
	_, end := window(2)
	for now := time.Now(); now.Before(end); now = time.Now() {
		st, err := s.orch.State(t.Context())
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		at := time.Now()
		waiting, nodes := 0, 0
		for _, tk := range st.Tasks {
			if tk.Service == app && tk.PendingForResources() {
				waiting++
			}
		}
		for _, n := range st.Nodes {
			if n.Pool == pool && n.Ready {
				nodes++
			}
		}
		for k := 0; k < 3; k++ {
			from, to := window(k)
			if !at.Before(from) && at.Before(to) && !lastPoll.IsZero() {
				pending[k] += float64(waiting) * at.Sub(lastPoll).Seconds()
			}
			if !at.Before(from.Add(-20*time.Second)) && at.Before(from) && !lastPoll.IsZero() {
				early[k] += float64(waiting) * at.Sub(lastPoll).Seconds()
			}
			// Between the end of the previous ramp's rise and this one's.
			if k > 0 && at.After(epoch.Add(time.Duration(k-1)*rampPeriod+rampDown+2*time.Second)) && at.Before(from.Add(before)) {
				trough[k] = min(trough[k], nodes)
			}
		}
		if len(nodesSeen) == 0 || !strings.HasSuffix(nodesSeen[len(nodesSeen)-1], fmt.Sprintf(" %d nodes, %d waiting", nodes, waiting)) {
			nodesSeen = append(nodesSeen, fmt.Sprintf("%+6.1fs %d nodes, %d waiting", at.Sub(epoch).Seconds(), nodes, waiting))
		}
		lastPoll = at
		time.Sleep(250 * time.Millisecond)
	}
	ticks := rampSeries(t, h, app, epoch)
	h.stop(t)

	var scale []string
	for _, e := range h.events() {
		if f := strings.Fields(e); len(f) > 2 && (strings.HasPrefix(f[2], "app.") || strings.HasPrefix(f[2], "pool.") || f[2] == "machine.ordered" ||
			f[2] == "machine.ready" || f[2] == "machine.destroyed" || f[2] == "engine.info") {
			scale = append(scale, e)
		}
	}
	t.Logf("hoist's events:\n%s", strings.Join(scale, "\n"))
	t.Logf("pool nodes and tasks waiting for resources (seconds from the load's time zero; ramps rise at %s, %s, %s):\n%s",
		rampAt, rampPeriod+rampAt, 2*rampPeriod+rampAt, strings.Join(nodesSeen, "\n"))
	t.Logf("the policy's view per tick (s from the load's time zero, req/s):\n%s", ticks)
	report := fmt.Sprintf("tasks pending for resources, task-seconds: ramp 1 %.1f, ramp 2 %.1f, ramp 3 %.1f (third/first %.0f %%; "+
		"in the 20 s before each: %.1f, %.1f, %.1f); pool nodes before ramps 2 and 3: %d, %d; whole test %s (load average %s)",
		pending[0], pending[1], pending[2], 100*pending[2]/max(pending[0], 1e-9), early[0], early[1], early[2],
		trough[1], trough[2], time.Since(testStart).Round(time.Second), loadAvg())
	t.Log(report)
	fmt.Println(report)
	if pending[0] == 0 {
		t.Fatal("no task waited for resources during the first ramp: the test shows nothing")
	}
	if trough[2] >= 3 {
		t.Errorf("the pool kept its %d nodes between the second and the third ramp: no machine was ordered for the third", trough[2])
	}
	if pending[2] > pending[0]/10 {
		t.Errorf("the third ramp's tasks waited %.1f task-seconds for resources, the first's %.1f: want at most a tenth", pending[2], pending[0])
	}
}

// rampSeries is the app's series from hoist's API, one line a tick: the
// rate the predictive policy observed, its forecast of the peak over the
// machines' horizon and that forecast's upper bound, and the replicas.
func rampSeries(t *testing.T, h *hoistProc, app string, epoch time.Time) string {
	api := regexp.MustCompile(`hoist: API on (http://\S+)/v1 `).FindStringSubmatch(h.out.String())
	if api == nil {
		return "(hoist did not say where its API is)"
	}
	resp, err := http.Get(api[1] + "/v1/apps/" + app + "/series")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	var sr struct {
		T, Rate, Forecast, ForecastUpper, Desired, Running, Pending []*float64
	}
	if err := json.NewDecoder(resp.Body).Decode(&struct {
		T             *[]*float64 `json:"t"`
		Rate          *[]*float64 `json:"rate"`
		Forecast      *[]*float64 `json:"forecast"`
		ForecastUpper *[]*float64 `json:"forecast_upper"`
		Desired       *[]*float64 `json:"desired"`
		Running       *[]*float64 `json:"running"`
		Pending       *[]*float64 `json:"pending"`
	}{&sr.T, &sr.Rate, &sr.Forecast, &sr.ForecastUpper, &sr.Desired, &sr.Running, &sr.Pending}); err != nil {
		return err.Error()
	}
	f := func(c []*float64, i int) string {
		if i >= len(c) || c[i] == nil {
			return "-"
		}
		return strconv.FormatFloat(*c[i], 'f', 0, 64)
	}
	var b strings.Builder
	b.WriteString("     t  rate forecast upper desired running pending\n")
	for i, tt := range sr.T {
		if tt == nil {
			continue
		}
		at := time.Unix(int64(*tt), 0).Sub(epoch).Seconds()
		if at < -10 {
			continue
		}
		fmt.Fprintf(&b, "%6.0f %5s %8s %5s %7s %7s %7s\n", at, f(sr.Rate, i), f(sr.Forecast, i), f(sr.ForecastUpper, i), f(sr.Desired, i), f(sr.Running, i), f(sr.Pending, i))
	}
	return b.String()
}
