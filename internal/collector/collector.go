package collector

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/engine"
	scrapeloop "github.com/hoist/hoist/internal/scrape" // agent.go has a func scrape
	"github.com/hoist/hoist/internal/throttle"
)

var _ engine.MetricSource = (*Collector)(nil)

// StateSource gives the cluster's services, tasks and nodes
// (engine.Orchestrator fits).
type StateSource = scrapeloop.StateSource

// Reporter is a node's agent: over HTTP, or in-process for the manager's own
// node.
// With want non-nil the agent also reconciles its node's rate limits to it.
type Reporter interface {
	Report(ctx context.Context, want map[string]throttle.Limit) (Report, error)
}

// Throttles are the rate limits hoist wants (throttle.Book fits).
type Throttles interface {
	Active(now time.Time) []throttle.Entry
}

// Deciding is optionally implemented by Throttles: while it reports false
// (a standby with --ha), the agents are only read, told nothing, so they
// keep what the leader wants.
type Deciding interface {
	Deciding() bool
}

// Options configure a Collector.
type Options struct {
	State StateSource
	// AgentPort is where agents listen on their node's address (default 9101).
	AgentPort int
	// Interval between two scrapes (default 2s).
	Interval time.Duration
	// Keep is how long samples are kept: the longest window a policy may ask
	// for (default 15m).
	Keep time.Duration
	// Local answers for the node hoist runs on (its own dockerd), which has
	// no agent of its own; LocalNode is that node's ID.
	Local     Reporter
	LocalNode string
	HTTP      *http.Client
	Logger    *slog.Logger
	// Throttles, when set, are sent to every node's agent at every scrape
	// (desired state: each agent applies its tasks' limits and removes the
	// rest). Nil: the agents' limits are only read.
	Throttles Throttles
}

// Collector scrapes every node's agent and answers metric queries.
type Collector struct {
	opt  Options
	log  *slog.Logger
	loop *scrapeloop.Loop[Report]

	mu       sync.Mutex
	state    cluster.State
	samples  map[string][]ContainerStats // task ID -> samples, oldest first
	lastSeen map[string]time.Time        // task ID
	nodes    map[string]*NodeUsage       // node ID
	// throttled is every task's limit as its agent last reported it.
	throttled map[string]taskThrottle // task ID
}

type taskThrottle struct {
	app, node string
	state     *throttle.State
	err       string
}

// NodeUsage is one node's reservations and usage.
type NodeUsage struct {
	NodeID   string            `json:"node_id"`
	Machine  string            `json:"machine,omitempty"`
	Addr     string            `json:"addr,omitempty"`
	Capacity cluster.Resources `json:"capacity"`
	Reserved cluster.Resources `json:"reserved"`
	// CPU is cores in use by task containers; Memory their working set.
	CPU      float64   `json:"cpu"`
	Memory   int64     `json:"memory"`
	Tasks    int       `json:"tasks"`
	Scraped  time.Time `json:"scraped,omitempty"`
	Error    string    `json:"error,omitempty"`
	prevCPU  map[string]ContainerStats
	hasAgent bool
}

// New returns a collector; Run makes it scrape.
func New(opt Options) *Collector {
	if opt.AgentPort == 0 {
		opt.AgentPort = 9101
	}
	if opt.Interval == 0 {
		opt.Interval = 2 * time.Second
	}
	if opt.Keep == 0 {
		opt.Keep = 15 * time.Minute
	}
	if opt.HTTP == nil {
		opt.HTTP = &http.Client{Timeout: 4 * time.Second}
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Collector{opt: opt, log: opt.Logger, samples: map[string][]ContainerStats{},
		lastSeen: map[string]time.Time{}, nodes: map[string]*NodeUsage{}, throttled: map[string]taskThrottle{}}
	c.loop = &scrapeloop.Loop[Report]{Name: "collector", State: opt.State, Interval: opt.Interval,
		Targets: c.targets, Apply: c.apply, Logger: opt.Logger}
	return c
}

// Run scrapes every Interval until ctx ends.
func (c *Collector) Run(ctx context.Context) error { return c.loop.Run(ctx) }

// Scrape reads the cluster state and every node's agent once.
func (c *Collector) Scrape(ctx context.Context) { c.loop.Once(ctx) }

// targets are the agents of the ready nodes (the manager's own node answers
// in-process).
func (c *Collector) targets(st cluster.State) []scrapeloop.Target[Report] {
	wants := Wants(st, c.active())
	telling := c.opt.Throttles != nil
	if d, ok := c.opt.Throttles.(Deciding); ok && !d.Deciding() {
		telling = false
	}
	var out []scrapeloop.Target[Report]
	for _, n := range st.Nodes {
		if !n.Ready {
			continue
		}
		var r Reporter
		switch {
		case c.opt.Local != nil && n.ID == c.opt.LocalNode:
			r = c.opt.Local
		case n.Addr != "" && n.Addr != "0.0.0.0":
			r = &httpReporter{hc: c.opt.HTTP, url: "http://" + net.JoinHostPort(n.Addr, strconv.Itoa(c.opt.AgentPort)) + "/v1/stats"}
		default:
			continue
		}
		var want map[string]throttle.Limit
		if telling {
			want = wants[n.ID]
			if want == nil {
				want = map[string]throttle.Limit{} // none: the agent removes any
			}
		}
		out = append(out, scrapeloop.Target[Report]{Key: n.ID, Fetch: func(ctx context.Context) (Report, error) {
			return r.Report(ctx, want)
		}})
	}
	return out
}

func (c *Collector) active() []throttle.Entry {
	if c.opt.Throttles == nil {
		return nil
	}
	return c.opt.Throttles.Active(time.Now())
}

// Wants groups the limits of entries by the node running each task they
// cover (running tasks only; pure, for tests).
func Wants(st cluster.State, entries []throttle.Entry) map[string]map[string]throttle.Limit {
	out := map[string]map[string]throttle.Limit{}
	for _, e := range entries {
		for _, t := range st.Tasks {
			if t.Service != e.App || t.State != cluster.TaskRunning || t.NodeID == "" || !e.Covers(t.ID) {
				continue
			}
			if out[t.NodeID] == nil {
				out[t.NodeID] = map[string]throttle.Limit{}
			}
			out[t.NodeID][t.ID] = e.Limit
		}
	}
	return out
}

// apply keeps a round's reports: the nodes' usage and every task's samples.
func (c *Collector) apply(st cluster.State, results []scrapeloop.Result[Report], now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.state = st
	reserved := st.Reserved()
	live := map[string]bool{}
	for _, n := range st.Nodes {
		live[n.ID] = true
		u := c.nodes[n.ID]
		if u == nil {
			u = &NodeUsage{NodeID: n.ID, prevCPU: map[string]ContainerStats{}}
			c.nodes[n.ID] = u
		}
		u.Machine, u.Addr, u.Capacity, u.Reserved = n.Machine, n.Addr, n.Capacity, reserved[n.ID]
	}
	for id := range c.nodes {
		if !live[id] {
			delete(c.nodes, id)
		}
	}
	for _, r := range results {
		u := c.nodes[r.Key]
		if u == nil {
			continue
		}
		if r.Err != nil {
			u.Error = r.Err.Error()
			continue
		}
		u.Error, u.Scraped, u.hasAgent = "", now, true
		cpu, mem := 0.0, int64(0)
		prev := u.prevCPU
		u.prevCPU = map[string]ContainerStats{}
		for _, cs := range r.Value.Containers {
			if cs.TaskID == "" {
				continue
			}
			c.add(cs, now)
			if cs.Throttle != nil || cs.ThrottleErr != "" {
				c.throttled[cs.TaskID] = taskThrottle{app: cs.Service, node: r.Key, state: cs.Throttle, err: cs.ThrottleErr}
			} else {
				delete(c.throttled, cs.TaskID)
			}
			mem += cs.Memory
			if p, ok := prev[cs.TaskID]; ok {
				if v, ok := cpuRate(p, cs); ok {
					cpu += v
				}
			}
			u.prevCPU[cs.TaskID] = cs
		}
		u.CPU, u.Memory, u.Tasks = cpu, mem, len(r.Value.Containers)
	}
	for id, seen := range c.lastSeen {
		if now.Sub(seen) > c.opt.Keep {
			delete(c.lastSeen, id)
			delete(c.samples, id)
			delete(c.throttled, id)
		}
	}
}

func (c *Collector) add(cs ContainerStats, now time.Time) {
	s := c.samples[cs.TaskID]
	if n := len(s); n > 0 && !cs.Time.After(s[n-1].Time) {
		return // the same reading twice
	}
	s = append(s, cs)
	cut := 0
	for cut < len(s) && now.Sub(s[cut].Time) > c.opt.Keep {
		cut++
	}
	c.samples[cs.TaskID] = s[cut:]
	c.lastSeen[cs.TaskID] = now
}

type httpReporter struct {
	hc  *http.Client
	url string
}

func (h *httpReporter) Report(ctx context.Context, want map[string]throttle.Limit) (Report, error) {
	var rep Report
	method, body := http.MethodGet, io.Reader(nil)
	if want != nil {
		sr := StatsRequest{Throttles: []throttle.Want{}}
		for id, l := range want {
			sr.Throttles = append(sr.Throttles, throttle.Want{TaskID: id, Limit: l})
		}
		sort.Slice(sr.Throttles, func(i, j int) bool { return sr.Throttles[i].TaskID < sr.Throttles[j].TaskID })
		b, err := json.Marshal(sr)
		if err != nil {
			return rep, err
		}
		method, body = http.MethodPost, bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, h.url, body)
	if err != nil {
		return rep, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.hc.Do(req)
	if err != nil {
		return rep, fmt.Errorf("agent: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return rep, fmt.Errorf("agent %s: %s: %s", h.url, resp.Status, b)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&rep); err != nil {
		return rep, fmt.Errorf("agent %s: bad report: %w", h.url, err)
	}
	return rep, nil
}

func cpuRate(a, b ContainerStats) (float64, bool) {
	dt := b.Time.Sub(a.Time).Seconds()
	if dt <= 0 || b.CPUNanos < a.CPUNanos {
		return 0, false
	}
	return float64(b.CPUNanos-a.CPUNanos) / 1e9 / dt, true
}

// NetRates are network counters turned into per-second rates.
type NetRates struct {
	RxBytes   float64 `json:"rx_bytes"`
	RxPackets float64 `json:"rx_packets"`
	RxDropped float64 `json:"rx_dropped"`
	TxBytes   float64 `json:"tx_bytes"`
	TxPackets float64 `json:"tx_packets"`
	TxDropped float64 `json:"tx_dropped"`
}

// netRate is the rate of a task's counters summed over its interfaces
// between two samples; a counter that went down (the container restarted,
// an interface went away) gives no rate.
func netRate(a, b ContainerStats) (NetRates, bool) {
	dt := b.Time.Sub(a.Time).Seconds()
	if dt <= 0 || b.Net == nil {
		return NetRates{}, false
	}
	return counterRates(a.NetTotal(), b.NetTotal(), dt)
}

func counterRates(x, y NetCounters, dt float64) (NetRates, bool) {
	d := func(a, b uint64, ok *bool) float64 {
		if b < a {
			*ok = false
			return 0
		}
		return float64(b-a) / dt
	}
	ok := true
	r := NetRates{
		RxBytes: d(x.RxBytes, y.RxBytes, &ok), RxPackets: d(x.RxPackets, y.RxPackets, &ok), RxDropped: d(x.RxDropped, y.RxDropped, &ok),
		TxBytes: d(x.TxBytes, y.TxBytes, &ok), TxPackets: d(x.TxPackets, y.TxPackets, &ok), TxDropped: d(x.TxDropped, y.TxDropped, &ok),
	}
	return r, ok
}

// ErrUnknownMetric is returned for a metric the collector does not provide.
var ErrUnknownMetric = errors.New("unknown metric")

// Value implements engine.MetricSource: for the app's running tasks, over the
// window: cpu and memory as percent of the limit (or the reservation without
// one), rps per replica, latency_p95 in milliseconds.
func (c *Collector) Value(_ context.Context, q engine.MetricQuery) (float64, error) {
	if q.Query != "" {
		return 0, fmt.Errorf("the built-in collector does not run PromQL: %w", engine.ErrNoData)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	svc, win, err := c.service(q.App, q.Window)
	if err != nil {
		return 0, err
	}
	return value(q.Metric, svc, c.state.Tasks, c.samples, time.Now(), win)
}

// RequestRate is the requests per second of app's running replicas together
// over window: the sum over the replicas that have figures in it. A replica
// just started, not yet scraped twice, adds nothing (the per-replica mean
// times the running replicas would count it at the others' rate).
func (c *Collector) RequestRate(_ context.Context, app string, window time.Duration) (float64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	svc, win, err := c.service(app, window)
	if err != nil {
		return 0, err
	}
	sum, _, _, err := gather("rps", svc, c.state.Tasks, c.samples, time.Now(), win)
	return sum, err
}

// service is app's service and the window its samples are read over (at
// least two scrapes, plus one for the scrape under way). c.mu is held.
func (c *Collector) service(app string, window time.Duration) (cluster.Service, time.Duration, error) {
	for i := range c.state.Services {
		if c.state.Services[i].Name == app {
			return c.state.Services[i], max(window, 2*c.opt.Interval) + c.opt.Interval, nil
		}
	}
	return cluster.Service{}, 0, fmt.Errorf("no service %s yet: %w", app, engine.ErrNoData)
}

// TaskNet is the traffic of app's running tasks over window, in bytes per
// second by task ID (the guard's top contributors).
func (c *Collector) TaskNet(_ context.Context, app string, window time.Duration) (map[string]NetRates, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	svc, win, err := c.service(app, window)
	if err != nil {
		return nil, err
	}
	return taskNet(svc, c.state.Tasks, c.samples, time.Now(), win), nil
}

// TaskBytes is TaskNet's bytes per second of one direction: metric net_rx
// (received) or net_tx (sent); the guard's view (guard.Traffic).
func (c *Collector) TaskBytes(ctx context.Context, app, metric string, window time.Duration) (map[string]float64, error) {
	per, err := c.TaskNet(ctx, app, window)
	if err != nil {
		return nil, err
	}
	out := make(map[string]float64, len(per))
	for id, r := range per {
		switch metric {
		case "net_rx":
			out[id] = r.RxBytes
		case "net_tx":
			out[id] = r.TxBytes
		default:
			return nil, fmt.Errorf("%q: %w", metric, ErrUnknownMetric)
		}
	}
	return out, nil
}

func taskNet(svc cluster.Service, tasks []cluster.Task, samples map[string][]ContainerStats, now time.Time, win time.Duration) map[string]NetRates {
	from := now.Add(-win)
	out := map[string]NetRates{}
	for _, t := range tasks {
		if t.Service != svc.Name || t.State != cluster.TaskRunning {
			continue
		}
		s := samples[t.ID]
		i := sort.Search(len(s), func(i int) bool { return !s[i].Time.Before(from) })
		if len(s)-i < 2 {
			continue
		}
		if r, ok := netRate(s[i], s[len(s)-1]); ok {
			out[t.ID] = r
		}
	}
	return out
}

// value computes one metric from the samples (pure, for tests).
func value(metric string, svc cluster.Service, tasks []cluster.Task, samples map[string][]ContainerStats, now time.Time, win time.Duration) (float64, error) {
	sum, n, buckets, err := gather(metric, svc, tasks, samples, now, win)
	if err != nil {
		return 0, err
	}
	if metric == "latency_p95" {
		q, ok := quantile(0.95, buckets)
		if !ok {
			return 0, fmt.Errorf("no request of %s in the last %s: %w", svc.Name, win.Round(time.Second), engine.ErrNoData)
		}
		return q * 1000, nil
	}
	return sum / float64(n), nil
}

// gather sums metric over the running tasks of svc that have figures in the
// window (n of them; latency_p95: the summed bucket deltas).
func gather(metric string, svc cluster.Service, tasks []cluster.Task, samples map[string][]ContainerStats, now time.Time, win time.Duration) (sum float64, n int, buckets map[float64]float64, err error) {
	from := now.Add(-win)
	buckets = map[float64]float64{}
	for _, t := range tasks {
		if t.Service != svc.Name || t.State != cluster.TaskRunning {
			continue
		}
		var in []ContainerStats
		for _, s := range samples[t.ID] {
			if !s.Time.Before(from) {
				in = append(in, s)
			}
		}
		if len(in) == 0 {
			continue
		}
		first, last := in[0], in[len(in)-1]
		switch metric {
		case "cpu":
			base := svc.Limit.MilliCPU
			if base == 0 {
				base = svc.Reservation.MilliCPU
			}
			if base == 0 {
				base = 1000 // no limit, no reservation: percent of one core
			}
			r, ok := cpuRate(first, last)
			if !ok || len(in) < 2 {
				continue
			}
			sum += 100 * r / (float64(base) / 1000)
			n++
		case "memory":
			base := svc.Limit.Memory
			if base == 0 {
				base = svc.Reservation.Memory
			}
			if base == 0 {
				return 0, 0, nil, fmt.Errorf("%s has no memory limit or reservation to compare to: %w", svc.Name, engine.ErrNoData)
			}
			var m float64
			for _, s := range in {
				m += float64(s.Memory)
			}
			sum += 100 * m / float64(len(in)) / float64(base)
			n++
		case "rps":
			dt := last.Time.Sub(first.Time).Seconds()
			if !first.HasRequests || !last.HasRequests || dt <= 0 || last.Requests < first.Requests {
				continue
			}
			sum += (last.Requests - first.Requests) / dt
			n++
		case "net_rx", "net_tx":
			r, ok := netRate(first, last)
			if !ok || len(in) < 2 {
				continue
			}
			if metric == "net_rx" {
				sum += r.RxBytes
			} else {
				sum += r.TxBytes
			}
			n++
		case "latency_p95":
			if len(in) < 2 {
				continue
			}
			for le, v := range last.Latency {
				b, err := strconv.ParseFloat(le, 64)
				if err != nil {
					continue
				}
				d := v - first.Latency[le]
				if d >= 0 {
					buckets[b] += d
				}
			}
			n++
		default:
			return 0, 0, nil, fmt.Errorf("%q: %w", metric, ErrUnknownMetric)
		}
	}
	if n == 0 {
		return 0, 0, nil, fmt.Errorf("no %s samples of %s in the last %s: %w", metric, svc.Name, win.Round(time.Second), engine.ErrNoData)
	}
	return sum, n, buckets, nil
}

// quantile is Prometheus' histogram_quantile over cumulative buckets.
func quantile(q float64, buckets map[float64]float64) (float64, bool) {
	les := make([]float64, 0, len(buckets))
	for le := range buckets {
		les = append(les, le)
	}
	sort.Float64s(les)
	if len(les) == 0 {
		return 0, false
	}
	total := buckets[les[len(les)-1]]
	if total <= 0 {
		return 0, false
	}
	rank := q * total
	prevLe, prevCount := 0.0, 0.0
	for _, le := range les {
		c := buckets[le]
		if c >= rank {
			if math.IsInf(le, 1) {
				return prevLe, true // above the last finite bucket: its bound
			}
			if c == prevCount {
				return le, true
			}
			return prevLe + (le-prevLe)*(rank-prevCount)/(c-prevCount), true
		}
		prevLe, prevCount = le, c
	}
	return prevLe, true
}

// Nodes returns every node's reservations and usage.
func (c *Collector) Nodes() []NodeUsage {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]NodeUsage, 0, len(c.nodes))
	for _, u := range c.nodes {
		v := *u
		v.prevCPU = nil
		if !u.hasAgent && v.Error == "" {
			v.Error = "no agent answered"
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].NodeID < out[j].NodeID })
	return out
}

// TaskUsage is one task's latest figures.
type TaskUsage struct {
	TaskID  string  `json:"task_id"`
	Service string  `json:"service"`
	CPU     float64 `json:"cpu"` // cores, over the last two samples
	Memory  int64   `json:"memory"`
	RPS     float64 `json:"rps,omitempty"`
	// Throttle is hoist's limit on the task as its agent reported it.
	Throttle    *throttle.State `json:"throttle,omitempty"`
	ThrottleErr string          `json:"throttle_error,omitempty"`
	// Net is the task's traffic over its interfaces together, per second;
	// Interfaces the same per interface (absent until two samples).
	Net        *NetRates           `json:"net,omitempty"`
	Interfaces map[string]NetRates `json:"interfaces,omitempty"`
}

// Tasks returns every task's latest usage.
func (c *Collector) Tasks() []TaskUsage {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []TaskUsage
	for id, s := range c.samples {
		if len(s) == 0 {
			continue
		}
		last := s[len(s)-1]
		u := TaskUsage{TaskID: id, Service: last.Service, Memory: last.Memory, Throttle: last.Throttle, ThrottleErr: last.ThrottleErr}
		if len(s) > 1 {
			prev := s[len(s)-2]
			u.CPU, _ = cpuRate(prev, last)
			if dt := last.Time.Sub(prev.Time).Seconds(); last.HasRequests && dt > 0 && last.Requests >= prev.Requests {
				u.RPS = (last.Requests - prev.Requests) / dt
			}
			if r, ok := netRate(prev, last); ok {
				u.Net = &r
				u.Interfaces = map[string]NetRates{}
				for name, y := range last.Net {
					if x, ok := prev.Net[name]; ok {
						if r, ok := counterRates(x, y, last.Time.Sub(prev.Time).Seconds()); ok {
							u.Interfaces[name] = r
						}
					}
				}
			}
		}
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TaskID < out[j].TaskID })
	return out
}

// Handler serves the collector's view: /nodes and /tasks as JSON.
func (c *Collector) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /nodes", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(c.Nodes())
	})
	mux.HandleFunc("GET /tasks", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(c.Tasks())
	})
	return mux
}
