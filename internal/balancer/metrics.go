package balancer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/scrape"
)

var (
	_ engine.MetricSource = (*Source)(nil)
	_ engine.MetricSource = (*Router)(nil)
)

// StateSource gives the cluster's services, tasks and nodes (the swarm
// orchestrator fits).
type StateSource = scrape.StateSource

// SourceOptions configure a Source.
type SourceOptions struct {
	State StateSource
	// Interval between two scrapes of every balancer replica (default 1s).
	Interval time.Duration
	// Keep is how long samples are kept: the longest window a policy may ask
	// for (default 15m).
	Keep time.Duration
	// Active, when set, says whether there is anything to scrape: no cluster
	// calls while no app has a balancer.
	Active func() bool
	HTTP   *http.Client
	Logger *slog.Logger
}

// Source reads every balancer replica's stats and answers the lb_* metrics.
// Replicas are found in the cluster (services labelled hoist.balancer.for)
// and read at their node's address on the published stats port, so hoist
// needs no agent for them and sees what their clients see.
type Source struct {
	opt  SourceOptions
	log  *slog.Logger
	loop *scrape.Loop[Replica]

	mu       sync.Mutex
	state    cluster.State
	samples  map[string][]sample // balancer task ID -> samples, oldest first
	lastSeen map[string]time.Time
	status   map[string]Replica // balancer task ID -> latest scrape
}

type sample struct {
	t time.Time
	s Summary
}

// Replica is one balancer replica's latest scrape.
type Replica struct {
	Service string    `json:"service"`
	App     string    `json:"app"`
	TaskID  string    `json:"task_id"`
	NodeID  string    `json:"node_id"`
	URL     string    `json:"url"`
	Time    time.Time `json:"time"`
	Error   string    `json:"error,omitempty"`
	Summary Summary   `json:"summary"`
}

// NewSource returns a source; Run makes it scrape.
func NewSource(opt SourceOptions) *Source {
	if opt.Interval == 0 {
		opt.Interval = time.Second
	}
	if opt.Keep == 0 {
		opt.Keep = 15 * time.Minute
	}
	if opt.HTTP == nil {
		opt.HTTP = &http.Client{Timeout: 2 * time.Second}
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Source{opt: opt, log: opt.Logger, samples: map[string][]sample{},
		lastSeen: map[string]time.Time{}, status: map[string]Replica{}}
	s.loop = &scrape.Loop[Replica]{Name: "balancer stats", State: opt.State, Interval: opt.Interval,
		Active: opt.Active, Targets: s.targets, Apply: s.apply, Logger: opt.Logger}
	return s
}

// Run scrapes every Interval until ctx ends.
func (s *Source) Run(ctx context.Context) error { return s.loop.Run(ctx) }

// Scrape reads the cluster and every running balancer replica once.
func (s *Source) Scrape(ctx context.Context) { s.loop.Once(ctx) }

// targets are the running replicas of every balancer service, read at their
// node's address on the published stats port.
func (s *Source) targets(st cluster.State) []scrape.Target[Replica] {
	nodes := map[string]cluster.Node{}
	for _, n := range st.Nodes {
		nodes[n.ID] = n
	}
	var out []scrape.Target[Replica]
	for _, svc := range st.Services {
		app := svc.Labels[LabelFor]
		port, err := strconv.Atoi(svc.Labels[LabelStatsPort])
		if app == "" || err != nil {
			continue
		}
		for _, t := range st.Tasks {
			n, ok := nodes[t.NodeID]
			if t.Service != svc.Name || t.State != cluster.TaskRunning || !ok || !n.Ready || n.Addr == "" || n.Addr == "0.0.0.0" {
				continue
			}
			r := Replica{Service: svc.Name, App: app, TaskID: t.ID, NodeID: t.NodeID,
				URL: "http://" + net.JoinHostPort(n.Addr, strconv.Itoa(port)) + "/stats;csv"}
			out = append(out, scrape.Target[Replica]{Key: t.ID, Fetch: func(ctx context.Context) (Replica, error) {
				sum, err := s.fetch(ctx, r.URL, r.App)
				r.Summary = sum
				return r, err
			}})
		}
	}
	return out
}

// apply keeps a round's scrapes: every replica's latest, and the samples of
// those that answered.
func (s *Source) apply(st cluster.State, results []scrape.Result[Replica], now time.Time) {
	reps := make([]Replica, 0, len(results))
	for _, res := range results {
		r := res.Value
		r.Time = res.Time
		if res.Err != nil {
			r.Error = res.Err.Error()
		}
		reps = append(reps, r)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state = st
	live := map[string]bool{}
	for _, r := range reps {
		live[r.TaskID] = true
		s.status[r.TaskID] = r
		if r.Error == "" {
			s.samples[r.TaskID] = append(s.samples[r.TaskID], sample{r.Time, r.Summary})
			s.lastSeen[r.TaskID] = now
		}
	}
	for id := range s.status {
		if !live[id] {
			delete(s.status, id)
		}
	}
	for id, seen := range s.lastSeen {
		if now.Sub(seen) > s.opt.Keep {
			delete(s.lastSeen, id)
			delete(s.samples, id)
			continue
		}
		ss := s.samples[id]
		cut := 0
		for cut < len(ss) && now.Sub(ss[cut].t) > s.opt.Keep {
			cut++
		}
		s.samples[id] = ss[cut:]
	}
}

// fetch reads one replica's stats (the loop bounds it in time).
func (s *Source) fetch(ctx context.Context, url, proxy string) (Summary, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Summary{}, fmt.Errorf("balancer stats: %w", err)
	}
	resp, err := s.opt.HTTP.Do(req)
	if err != nil {
		return Summary{}, fmt.Errorf("balancer stats: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Summary{}, fmt.Errorf("balancer stats %s: %s", url, resp.Status)
	}
	rows, err := ParseCSV(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return Summary{}, fmt.Errorf("balancer stats %s: %w", url, err)
	}
	sum, ok := Summarize(rows, proxy)
	if !ok {
		return Summary{}, fmt.Errorf("balancer stats %s: no proxy %q: %w", url, proxy, ErrStats)
	}
	return sum, nil
}

// ErrUnknownMetric is returned for a metric that is not a balancer metric.
var ErrUnknownMetric = errors.New("not a balancer metric")

// Value implements engine.MetricSource for the lb_* metrics of an app that has
// a balancer, or of the balancer's own app, over the query's window:
//
//	lb_rps          requests/s through the balancer, per running replica of the app asked about
//	lb_connections  client connections open on the balancer, per running replica of the app asked about
//	lb_queue        requests waiting in the balancer for a server (all replicas)
//	lb_latency      mean total time of a request through the balancer, ms (HAProxy's
//	                average of its last 1024 requests, weighted by each replica's traffic)
func (s *Source) Value(_ context.Context, q engine.MetricQuery) (float64, error) {
	if q.Query != "" || !slices.Contains(config.BalancerMetrics, q.Metric) {
		return 0, fmt.Errorf("%q: %w", q.Metric, ErrUnknownMetric)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	lb := ""
	for _, svc := range s.state.Services {
		switch {
		case svc.Name == q.App && svc.Labels[LabelFor] != "":
			lb = svc.Name
		case svc.Labels[LabelFor] == q.App && lb == "":
			lb = svc.Name
		}
	}
	if lb == "" {
		return 0, fmt.Errorf("%s has no balancer yet: %w", q.App, engine.ErrNoData)
	}
	running := 0
	var tasks []string
	for _, t := range s.state.Tasks {
		if t.State != cluster.TaskRunning {
			continue
		}
		if t.Service == q.App {
			running++
		}
		if t.Service == lb {
			tasks = append(tasks, t.ID)
		}
	}
	win := max(q.Window, 2*s.opt.Interval) + s.opt.Interval
	per := map[string][]sample{}
	for _, id := range tasks {
		per[id] = s.samples[id]
	}
	return value(q.Metric, per, running, time.Now(), win, lb)
}

// value computes one metric from each balancer replica's samples (pure, for tests).
func value(metric string, per map[string][]sample, running int, now time.Time, win time.Duration, lb string) (float64, error) {
	if running == 0 {
		return 0, fmt.Errorf("no running replica to share %s's traffic: %w", lb, engine.ErrNoData)
	}
	from := now.Add(-win)
	var sum, weighted, weight float64
	n := 0
	ids := make([]string, 0, len(per))
	for id := range per {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		var in []sample
		for _, sm := range per[id] {
			if !sm.t.Before(from) {
				in = append(in, sm)
			}
		}
		if len(in) == 0 {
			continue
		}
		first, last := in[0], in[len(in)-1]
		switch metric {
		case "lb_rps", "lb_latency":
			dt := last.t.Sub(first.t).Seconds()
			d := float64(last.s.Requests - first.s.Requests)
			if len(in) < 2 || dt <= 0 || d < 0 { // d < 0: HAProxy restarted
				continue
			}
			sum += d / dt
			if d > 0 {
				weighted += d * float64(last.s.TTime)
				weight += d
			}
		case "lb_connections", "lb_queue":
			var m float64
			for _, sm := range in {
				if metric == "lb_queue" {
					m += float64(sm.s.Queue)
				} else {
					m += float64(sm.s.Sessions)
				}
			}
			sum += m / float64(len(in))
		}
		n++
	}
	if n == 0 {
		return 0, fmt.Errorf("no stats of %s in the last %s: %w", lb, win.Round(time.Second), engine.ErrNoData)
	}
	switch metric {
	case "lb_rps", "lb_connections":
		return sum / float64(running), nil
	case "lb_latency":
		if weight == 0 {
			return 0, fmt.Errorf("no request through %s in the last %s: %w", lb, win.Round(time.Second), engine.ErrNoData)
		}
		return weighted / weight, nil
	}
	return sum, nil
}

// Replicas returns every balancer replica's latest scrape, by service and task.
func (s *Source) Replicas() []Replica {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Replica, 0, len(s.status))
	for _, r := range s.status {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Service != out[j].Service {
			return out[i].Service < out[j].Service
		}
		return out[i].TaskID < out[j].TaskID
	})
	return out
}

// Handler serves Replicas as JSON at /replicas.
func (s *Source) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /replicas", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(s.Replicas())
	})
	return mux
}

// Router sends the lb_* metrics to the balancer source and everything else
// to the next source (the collector and Prometheus).
type Router struct {
	LB   engine.MetricSource
	Next engine.MetricSource
}

// Value implements engine.MetricSource.
func (r *Router) Value(ctx context.Context, q engine.MetricQuery) (float64, error) {
	if q.Query == "" && strings.HasPrefix(q.Metric, "lb_") {
		return r.LB.Value(ctx, q)
	}
	return r.Next.Value(ctx, q)
}
