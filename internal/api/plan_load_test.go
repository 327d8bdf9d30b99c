package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hoist/hoist/examples"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/sim"
	"github.com/hoist/hoist/internal/store"
)

// Issue 19: twenty viewers looping on GET /v1/plan while the metric source
// takes 2 s per answer once stretched a 10 s tick to 97 s and a read to 21 s,
// because a plan held the engine's lock through its observation. The same
// load runs twice below: in a synctest bubble, where time moves only when
// every goroutine waits, so the assertions are exact; and over a real
// listener on the wall clock, as a benchmark that reports the figures.

// slowMetrics answers like a Prometheus that takes delay per query, and
// counts how many queries run at once.
type slowMetrics struct {
	src       engine.MetricSource
	delay     time.Duration
	inFlight  atomic.Int64
	maxFlight atomic.Int64
	calls     atomic.Int64
}

func (m *slowMetrics) Value(ctx context.Context, q engine.MetricQuery) (float64, error) {
	n := m.inFlight.Add(1)
	defer m.inFlight.Add(-1)
	for {
		cur := m.maxFlight.Load()
		if n <= cur || m.maxFlight.CompareAndSwap(cur, n) {
			break
		}
	}
	m.calls.Add(1)
	t := time.NewTimer(m.delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return m.src.Value(ctx, q)
}

// loadRig is the quickstart on the simulator, driven by a loop that ticks
// every interval, with the API in front of it and the simulated cluster
// following the clock second by second, as `hoist run` does.
type loadRig struct {
	cfg     *config.Config
	cluster *sim.Cluster
	eng     *engine.Engine
	srv     *Server
	metrics *slowMetrics
}

func newLoadRig(tb testing.TB, delay time.Duration) *loadRig {
	tb.Helper()
	cfg, err := config.Parse("quickstart.yaml", examples.Quickstart)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := sim.New(cfg, sim.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	db, err := store.OpenBolt(filepath.Join(tb.TempDir(), "data"), store.BoltOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	cat, err := NewCatalog(context.Background(), db)
	if err != nil {
		tb.Fatal(err)
	}
	r := &loadRig{cfg: cfg, cluster: c, metrics: &slowMetrics{src: c, delay: delay}}
	r.eng, err = engine.New(cfg, engine.Deps{
		Orchestrator: c, Providers: c.Providers(), Metrics: r.metrics, Clock: c,
		Store: db, Events: db, ExtraApps: cat.ExtraApps,
	})
	if err != nil {
		tb.Fatal(err)
	}
	r.srv, err = New(Options{Engine: r.eng, Events: db, Catalog: cat, Services: c, Base: cfg, Now: c.Now})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(r.srv.Close)
	return r
}

// loadResult is what one run measured.
type loadResult struct {
	tickStarts []time.Duration // since the run began
	tickTook   []time.Duration
	tickErrs   []error
	plan       []time.Duration
	reads      map[string][]time.Duration // apps, pools, scaleto
	failures   []string
}

// run drives the rig for d with viewers looping on /v1/plan, pausing think
// between requests, and one operator looping on apps, pools and scaleto; do
// sends a request and returns its status.
func (r *loadRig) run(d time.Duration, viewers int, think time.Duration, do func(method, path string) (int, error)) *loadResult {
	res := &loadResult{reads: map[string][]time.Duration{}}
	var mu sync.Mutex
	fail := func(format string, args ...any) {
		mu.Lock()
		res.failures = append(res.failures, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	// The simulated cluster follows the clock.
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				r.cluster.Advance(time.Second)
			}
		}
	})
	// The loop, as `hoist run` ticks.
	wg.Go(func() {
		t := time.NewTicker(r.cfg.Interval())
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			began := time.Now()
			_, err := r.eng.Tick(ctx)
			if ctx.Err() != nil {
				return
			}
			mu.Lock()
			res.tickStarts = append(res.tickStarts, began.Sub(start))
			res.tickTook = append(res.tickTook, time.Since(began))
			res.tickErrs = append(res.tickErrs, err)
			mu.Unlock()
		}
	})
	for range viewers {
		wg.Go(func() {
			for ctx.Err() == nil {
				began := time.Now()
				code, err := do("GET", "/v1/plan")
				// A request still waiting at the end counts too, for as long
				// as it waited: leaving it out would hide the worst ones.
				mu.Lock()
				res.plan = append(res.plan, time.Since(began))
				mu.Unlock()
				if ctx.Err() != nil {
					return
				}
				if err != nil || code != http.StatusOK {
					fail("GET /v1/plan: %d %v", code, err)
				}
				if think > 0 {
					time.Sleep(think)
				}
			}
		})
	}
	wg.Go(func() {
		reads := []struct{ name, method, path string }{
			{"apps", "GET", "/v1/apps"},
			{"pools", "GET", "/v1/pools"},
			{"scaleto", "POST", "/v1/pools/workers/scaleto/2"},
			{"apps", "GET", "/v1/apps"},
			{"scaleto", "POST", "/v1/pools/workers/scaleto/1"},
		}
		for i := 0; ctx.Err() == nil; i++ {
			rd := reads[i%len(reads)]
			began := time.Now()
			code, err := do(rd.method, rd.path)
			took := time.Since(began)
			mu.Lock()
			res.reads[rd.name] = append(res.reads[rd.name], took)
			mu.Unlock()
			if ctx.Err() != nil {
				return
			}
			if err != nil || code >= 300 {
				fail("%s %s: %d %v", rd.method, rd.path, code, err)
			}
			// An operator, not a tight loop: one request every half second.
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
		}
	})
	time.Sleep(d)
	cancel()
	wg.Wait()
	return res
}

// percentile returns the q-quantile (0..1) of ds by the nearest rank.
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func (res *loadResult) periods() []time.Duration {
	var out []time.Duration
	for i := 1; i < len(res.tickStarts); i++ {
		out = append(out, res.tickStarts[i]-res.tickStarts[i-1])
	}
	return out
}

// observation is how long one observation of the quickstart takes at most:
// one query per metric policy (web's target, api's threshold).
func (r *loadRig) observation() time.Duration {
	n := 0
	for _, a := range r.cfg.Apps {
		for _, p := range a.Policies {
			if p.Type == config.PolicyTarget || p.Type == config.PolicyThreshold {
				n++
			}
		}
	}
	return time.Duration(n) * r.metrics.delay
}

// In a bubble: the loop keeps its period to the nanosecond, reads and manual
// requests never wait at all, a plan waits for at most two observations (its
// own, or the shared one under way, then a tick that began meanwhile), and the
// viewers share observations instead of each running its own.
func TestPlanLoadKeepsTheLoopAndTheReads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newLoadRig(t, 2*time.Second)
		h := r.srv.Handler()
		do := func(method, path string) (int, error) {
			req := httptest.NewRequest(method, "http://127.0.0.1"+path, nil)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			return w.Code, nil
		}
		// Time moves only when every goroutine waits: the viewers pause a
		// little between plans (the benchmark's do not).
		res := r.run(5*time.Minute, 20, 100*time.Millisecond, do)
		for _, f := range res.failures[:min(len(res.failures), 5)] {
			t.Error(f)
		}
		interval, obs := r.cfg.Interval(), r.observation()
		if want := int(5*time.Minute/interval) - 1; len(res.tickStarts) < want {
			t.Fatalf("%d ticks in 5m, want at least %d", len(res.tickStarts), want)
		}
		for i, p := range res.periods() {
			if p != interval {
				t.Errorf("tick %d came %s after the one before, want %s", i+1, p, interval)
			}
		}
		for i, took := range res.tickTook {
			if took > obs {
				t.Errorf("tick %d took %s, more than its own observation (%s)", i, took, obs)
			}
			if res.tickErrs[i] != nil {
				t.Errorf("tick %d: %v", i, res.tickErrs[i])
			}
		}
		for name, ds := range res.reads {
			if len(ds) == 0 {
				t.Errorf("no %s answered", name)
			}
			if worst := slices.Max(ds); worst != 0 {
				t.Errorf("%s waited %s (a read must never wait on the metric source)", name, worst)
			}
		}
		if len(res.plan) == 0 {
			t.Fatal("no plan answered")
		}
		if worst := slices.Max(res.plan); worst > 2*obs {
			t.Errorf("a plan took %s, more than two observations (%s)", worst, 2*obs)
		}
		// The tick's queries and at most one shared dry run's, never one per viewer.
		if n := r.metrics.maxFlight.Load(); n > 2 {
			t.Errorf("%d metric queries ran at once: viewers do not share observations", n)
		}
		t.Logf("ticks %d, period p50 %s; plan p50 %s p99 %s (%d plans); metric queries %d",
			len(res.tickStarts), percentile(res.periods(), 0.5), percentile(res.plan, 0.5), percentile(res.plan, 0.99),
			len(res.plan), r.metrics.calls.Load())
	})
}

// BenchmarkPlanLoad is the same load over a real loopback listener on the wall
// clock: 20 viewers loop on GET /v1/plan while an operator reads apps and
// pools and asks for scaleto, the metric source answering in 2 s. It reports
// the tick period and each route's latency. It runs for PLANLOAD_DURATION
// (default 1m) whatever b.N is; run it with -benchtime=1x:
//
//	go test -run '^$' -bench PlanLoad -benchtime=1x ./internal/api/
func BenchmarkPlanLoad(b *testing.B) {
	d := time.Minute
	if s := envDuration(b, "PLANLOAD_DURATION"); s > 0 {
		d = s
	}
	for b.Loop() {
		r := newLoadRig(b, 2*time.Second)
		ts := httptest.NewServer(r.srv.Handler())
		client := ts.Client()
		do := func(method, path string) (int, error) {
			req, err := http.NewRequest(method, ts.URL+path, nil)
			if err != nil {
				return 0, err
			}
			resp, err := client.Do(req)
			if err != nil {
				return 0, err
			}
			defer resp.Body.Close()
			_, err = io.Copy(io.Discard, resp.Body)
			return resp.StatusCode, err
		}
		res := r.run(d, 20, 0, do)
		ts.Close()
		for _, f := range res.failures[:min(len(res.failures), 5)] {
			b.Error(f)
		}
		ms := func(x time.Duration) float64 { return float64(x) / float64(time.Millisecond) }
		b.ReportMetric(float64(len(res.tickStarts)), "ticks")
		b.ReportMetric(percentile(res.periods(), 0.5).Seconds(), "tick-period-p50-s")
		b.ReportMetric(slices.Max(append(res.periods(), 0)).Seconds(), "tick-period-max-s")
		b.ReportMetric(ms(percentile(res.plan, 0.5)), "plan-p50-ms")
		b.ReportMetric(ms(percentile(res.plan, 0.99)), "plan-p99-ms")
		b.ReportMetric(ms(percentile(res.plan, 1)), "plan-max-ms")
		for _, name := range []string{"apps", "pools", "scaleto"} {
			b.ReportMetric(ms(percentile(res.reads[name], 0.5)), name+"-p50-ms")
			b.ReportMetric(ms(percentile(res.reads[name], 0.99)), name+"-p99-ms")
			b.ReportMetric(ms(percentile(res.reads[name], 1)), name+"-max-ms")
		}
		line := func(ds []time.Duration) string {
			return fmt.Sprintf("p50 %s p99 %s max %s (%d)", percentile(ds, 0.5).Round(10*time.Microsecond),
				percentile(ds, 0.99).Round(10*time.Microsecond), percentile(ds, 1).Round(10*time.Microsecond), len(ds))
		}
		b.Logf("%s: %d ticks, period p50 %s max %s; plan %s; apps %s; pools %s; scaleto %s; metric queries %d, at most %d at once",
			d, len(res.tickStarts), percentile(res.periods(), 0.5).Round(time.Millisecond), slices.Max(append(res.periods(), 0)).Round(time.Millisecond),
			line(res.plan), line(res.reads["apps"]), line(res.reads["pools"]), line(res.reads["scaleto"]),
			r.metrics.calls.Load(), r.metrics.maxFlight.Load())
	}
}

func envDuration(tb testing.TB, name string) time.Duration {
	s := os.Getenv(name)
	if s == "" {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	return d
}
