// Package collector is hoist's built-in metrics: per task CPU and memory
// (and request rate and latency when the task exposes Prometheus metrics),
// per node usage. The manager cannot read other nodes' container stats, so
// an Agent runs on every node and serves its node's figures over HTTP; the
// Collector on the manager scrapes the agents and answers the engine's
// metric queries (engine.MetricSource).
//
// Agents report raw cumulative counters (CPU nanoseconds, request counts,
// histogram buckets); the collector turns them into rates over the query's
// window, so an agent keeps no state and a missed scrape loses nothing.
package collector

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/hoist/hoist/internal/throttle"
)

// Docker's labels on a swarm task's container.
const (
	labelTaskID  = "com.docker.swarm.task.id"
	labelService = "com.docker.swarm.service.name"
	labelNodeID  = "com.docker.swarm.node.id"
	// LabelMetricsPort on a container asks the agent to scrape its Prometheus
	// metrics (hoist sets it from the app's port; opt-in services set it with
	// --container-label).
	LabelMetricsPort = "hoist.metrics.port"
	LabelMetricsPath = "hoist.metrics.path"
)

// Report is what an agent serves at /v1/stats.
type Report struct {
	Machine    string           `json:"machine,omitempty"`
	NodeID     string           `json:"node_id,omitempty"`
	Time       time.Time        `json:"time"`
	CPUs       int              `json:"cpus"`
	MemTotal   int64            `json:"mem_total"`
	Containers []ContainerStats `json:"containers"`
}

// ContainerStats are one task container's cumulative counters at Time.
type ContainerStats struct {
	ID      string    `json:"id"`
	TaskID  string    `json:"task_id"`
	Service string    `json:"service"`
	Time    time.Time `json:"time"`
	// CPUNanos is the CPU time used since the container started.
	CPUNanos uint64 `json:"cpu_ns"`
	// Memory is the working set (usage less inactive file cache).
	Memory   int64 `json:"memory"`
	MemLimit int64 `json:"mem_limit,omitempty"`
	// Requests and Latency come from the container's Prometheus metrics: a
	// counter named *_requests_total and a histogram *_request_duration_seconds.
	HasRequests bool               `json:"has_requests,omitempty"`
	Requests    float64            `json:"requests,omitempty"`
	Latency     map[string]float64 `json:"latency_buckets,omitempty"` // le -> cumulative count
	ScrapeErr   string             `json:"scrape_error,omitempty"`
	// Throttle is hoist's rate limit on the container's interfaces as the
	// agent found or left it (nil: none, or the agent cannot throttle).
	Throttle    *throttle.State `json:"throttle,omitempty"`
	ThrottleErr string          `json:"throttle_error,omitempty"`
	// Net are the container's network counters per interface, cumulative
	// since it started (Docker's stats).
	Net map[string]NetCounters `json:"net,omitempty"`
}

// NetCounters are one interface's cumulative counters: rx is what the
// container received, tx what it sent.
type NetCounters struct {
	RxBytes   uint64 `json:"rx_bytes"`
	RxPackets uint64 `json:"rx_packets"`
	RxDropped uint64 `json:"rx_dropped"`
	TxBytes   uint64 `json:"tx_bytes"`
	TxPackets uint64 `json:"tx_packets"`
	TxDropped uint64 `json:"tx_dropped"`
}

// NetTotal sums a container's counters over its interfaces.
func (cs ContainerStats) NetTotal() NetCounters {
	var t NetCounters
	for _, n := range cs.Net {
		t.RxBytes += n.RxBytes
		t.RxPackets += n.RxPackets
		t.RxDropped += n.RxDropped
		t.TxBytes += n.TxBytes
		t.TxPackets += n.TxPackets
		t.TxDropped += n.TxDropped
	}
	return t
}

// DockerAPI is the part of the Docker API an agent reads.
type DockerAPI interface {
	Info(ctx context.Context, o client.InfoOptions) (client.SystemInfoResult, error)
	ContainerList(ctx context.Context, o client.ContainerListOptions) (client.ContainerListResult, error)
	ContainerStats(ctx context.Context, id string, o client.ContainerStatsOptions) (client.ContainerStatsResult, error)
	NetworkInspect(ctx context.Context, id string, o client.NetworkInspectOptions) (client.NetworkInspectResult, error)
	ContainerInspect(ctx context.Context, id string, o client.ContainerInspectOptions) (client.ContainerInspectResult, error)
}

// Shaper rate-limits a container's network namespace, found from the PID of
// its process (throttle.PIDShaper).
type Shaper interface {
	Apply(ctx context.Context, pid int, l throttle.Limit) error
	Remove(ctx context.Context, pid int) error
	Read(ctx context.Context, pid int) (throttle.State, error)
}

var _ Shaper = throttle.PIDShaper{}

var _ DockerAPI = (*client.Client)(nil)

// Agent reads its node's task containers.
type Agent struct {
	Docker  DockerAPI
	Machine string
	HTTP    *http.Client // for scraping containers' metrics
	Log     *slog.Logger
	// Credential is what the collector must present (Authorization: Bearer)
	// to read /v1/stats; empty serves anyone (tests of the report only).
	Credential string
	// Shaper applies the rate limits hoist wants (nil: the agent cannot;
	// a wanted limit is reported as an error).
	Shaper Shaper
}

// Report reads every running task container of the node. With want
// non-nil (the collector's scrape) it also reconciles the node's rate limits
// to it: the tasks in want get their limit (again, if a restarted container
// lost it), every other task container loses hoist's limit. With want nil
// (a plain GET) the limits are read and left as they are.
func (a *Agent) Report(ctx context.Context, want map[string]throttle.Limit) (Report, error) {
	log := a.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	hc := a.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 2 * time.Second}
	}
	rep := Report{Machine: a.Machine, Time: time.Now()}
	info, err := a.Docker.Info(ctx, client.InfoOptions{})
	if err != nil {
		return rep, fmt.Errorf("docker info: %w", err)
	}
	rep.NodeID, rep.CPUs, rep.MemTotal = info.Info.Swarm.NodeID, info.Info.NCPU, info.Info.MemTotal
	list, err := a.Docker.ContainerList(ctx, client.ContainerListOptions{Filters: client.Filters{}.Add("label", labelTaskID)})
	if err != nil {
		return rep, fmt.Errorf("list containers: %w", err)
	}
	// Task containers are on overlay networks the agent is not on; each also
	// has an address on the node's docker_gwbridge, which the node reaches.
	gw := map[string]string{}
	if nw, err := a.Docker.NetworkInspect(ctx, "docker_gwbridge", client.NetworkInspectOptions{}); err == nil {
		for id, ep := range nw.Network.Containers {
			if ep.IPv4Address.IsValid() {
				gw[id] = ep.IPv4Address.Addr().String()
			}
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, c := range list.Items {
		if c.State != container.StateRunning {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			cs, err := a.containerStats(ctx, c.ID)
			if err != nil {
				log.Debug("container stats", "container", c.ID, "err", err)
				return
			}
			cs.TaskID, cs.Service = c.Labels[labelTaskID], c.Labels[labelService]
			a.reconcile(ctx, c.ID, want, &cs)
			if port := c.Labels[LabelMetricsPort]; port != "" {
				if ip := gw[c.ID]; ip == "" {
					cs.ScrapeErr = "no docker_gwbridge address"
				} else {
					path := c.Labels[LabelMetricsPath]
					if path == "" {
						path = "/metrics"
					}
					scrape(ctx, hc, "http://"+ip+":"+port+path, &cs)
				}
			}
			mu.Lock()
			rep.Containers = append(rep.Containers, cs)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return rep, nil
}

func (a *Agent) containerStats(ctx context.Context, id string) (ContainerStats, error) {
	res, err := a.Docker.ContainerStats(ctx, id, client.ContainerStatsOptions{})
	if err != nil {
		return ContainerStats{}, err
	}
	defer res.Body.Close()
	var s container.StatsResponse
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&s); err != nil {
		return ContainerStats{}, fmt.Errorf("decode stats: %w", err)
	}
	cs := ContainerStats{ID: id, Time: s.Read, CPUNanos: s.CPUStats.CPUUsage.TotalUsage, MemLimit: int64(s.MemoryStats.Limit)}
	if cs.Time.IsZero() {
		cs.Time = time.Now()
	}
	// As `docker stats` does: usage less the inactive file cache.
	used := s.MemoryStats.Usage
	for _, k := range []string{"total_inactive_file", "inactive_file"} {
		if v, ok := s.MemoryStats.Stats[k]; ok && v < used {
			used -= v
			break
		}
	}
	cs.Memory = int64(used)
	for name, n := range s.Networks {
		if cs.Net == nil {
			cs.Net = map[string]NetCounters{}
		}
		cs.Net[name] = NetCounters{RxBytes: n.RxBytes, RxPackets: n.RxPackets, RxDropped: n.RxDropped,
			TxBytes: n.TxBytes, TxPackets: n.TxPackets, TxDropped: n.TxDropped}
	}
	return cs, nil
}

// reconcile brings the container's limit to what want says for its task
// and records what it left.
func (a *Agent) reconcile(ctx context.Context, id string, want map[string]throttle.Limit, cs *ContainerStats) {
	l, wanted := want[cs.TaskID]
	if a.Shaper == nil {
		if wanted {
			cs.ThrottleErr = "this agent cannot throttle (not built with a shaper)"
		}
		return
	}
	ins, err := a.Docker.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil || ins.Container.State == nil || ins.Container.State.Pid == 0 {
		if wanted {
			cs.ThrottleErr = fmt.Sprintf("no process to throttle: %v", err)
		}
		return
	}
	pid := ins.Container.State.Pid
	st, err := a.Shaper.Read(ctx, pid)
	switch {
	case err != nil:
	case wanted && (!st.Applied || st.Rate != l.Rate):
		if err = a.Shaper.Apply(ctx, pid, l); err == nil {
			st, err = a.Shaper.Read(ctx, pid)
		}
	case !wanted && want != nil && st.Found:
		if err = a.Shaper.Remove(ctx, pid); err == nil {
			st, err = a.Shaper.Read(ctx, pid)
		}
	}
	if err != nil {
		// An agent that cannot read limits (not root) only matters where
		// one is wanted.
		if wanted || st.Found {
			cs.ThrottleErr = err.Error()
		}
		return
	}
	if st.Found {
		cs.Throttle = &st
	}
}

func scrape(ctx context.Context, hc *http.Client, url string, cs *ContainerStats) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		cs.ScrapeErr = err.Error()
		return
	}
	resp, err := hc.Do(req)
	if err != nil {
		cs.ScrapeErr = err.Error()
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		cs.ScrapeErr = "metrics: " + resp.Status
		return
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		cs.ScrapeErr = err.Error()
		return
	}
	cs.Requests, cs.Latency, cs.HasRequests = ParseMetrics(string(b))
}

// ParseMetrics reads, from Prometheus text exposition, the sum of every
// *_requests_total counter and the buckets of *_request_duration_seconds
// (summed over label sets, by le).
func ParseMetrics(text string) (requests float64, buckets map[string]float64, found bool) {
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		name, labels, value, ok := parseSample(line)
		if !ok {
			continue
		}
		switch {
		case strings.HasSuffix(name, "_requests_total"):
			requests += value
			found = true
		case strings.HasSuffix(name, "_request_duration_seconds_bucket"):
			le := labelValue(labels, "le")
			if le == "" {
				continue
			}
			if buckets == nil {
				buckets = map[string]float64{}
			}
			buckets[le] += value
		}
	}
	return requests, buckets, found
}

// parseSample splits `name{a="b"} 1.5 [timestamp]`.
func parseSample(line string) (name, labels string, value float64, ok bool) {
	rest := line
	if i := strings.IndexByte(line, '{'); i >= 0 {
		j := strings.LastIndexByte(line, '}')
		if j < i {
			return "", "", 0, false
		}
		name, labels, rest = line[:i], line[i+1:j], line[j+1:]
	} else {
		f := strings.Fields(line)
		if len(f) < 2 {
			return "", "", 0, false
		}
		name, rest = f[0], strings.Join(f[1:], " ")
	}
	f := strings.Fields(rest)
	if len(f) < 1 {
		return "", "", 0, false
	}
	value, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return "", "", 0, false
	}
	return strings.TrimSpace(name), labels, value, true
}

func labelValue(labels, key string) string {
	for _, kv := range strings.Split(labels, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if ok && k == key {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// Handler serves the agent's report at /v1/stats.
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/stats", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			w.Header().Set("Allow", "GET, POST")
			http.Error(w, "GET reads the node's stats, POST also reconciles its rate limits", http.StatusMethodNotAllowed)
			return
		}
		if !a.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hoist agent"`)
			http.Error(w, "the agent credential is missing or wrong", http.StatusUnauthorized)
			return
		}
		var want map[string]throttle.Limit
		if r.Method == http.MethodPost {
			var err error
			if want, err = decodeWants(io.LimitReader(r.Body, 1<<20)); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
		}
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		rep, err := a.Report(ctx, want)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(rep)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	return mux
}

// StatsRequest is the body of POST /v1/stats: every limit the node's tasks
// should have.
type StatsRequest struct {
	Throttles []throttle.Want `json:"throttles"`
}

func decodeWants(r io.Reader) (map[string]throttle.Limit, error) {
	var req StatsRequest
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, fmt.Errorf("bad stats request: %w", err)
	}
	want := make(map[string]throttle.Limit, len(req.Throttles))
	for i, w := range req.Throttles {
		if w.TaskID == "" || w.Rate == 0 {
			return nil, fmt.Errorf("bad stats request: throttles[%d] needs task_id and rate > 0", i)
		}
		want[w.TaskID] = w.Limit
	}
	return want, nil
}

// authorized reports whether r carries the agent's credential (compared as
// digests: constant time, no length leak).
func (a *Agent) authorized(r *http.Request) bool {
	if a.Credential == "" {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	x, y := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(a.Credential))
	return ok && subtle.ConstantTimeCompare(x[:], y[:]) == 1
}

// CredentialClient is the collector's HTTP client: it presents credential
// to every agent.
func CredentialClient(credential string) *http.Client {
	return &http.Client{Timeout: 4 * time.Second, Transport: credentialTransport{credential, http.DefaultTransport}}
}

type credentialTransport struct {
	credential string
	next       http.RoundTripper
}

func (t credentialTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+t.credential)
	return t.next.RoundTrip(r)
}
