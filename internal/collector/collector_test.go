package collector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/throttle"
)

const demoMetrics = `# HELP demoapp_requests_total HTTP requests served, by status code.
# TYPE demoapp_requests_total counter
demoapp_requests_total{code="200"} %d
demoapp_requests_total{code="400"} 2
# TYPE demoapp_request_duration_seconds histogram
demoapp_request_duration_seconds_bucket{le="0.01"} %d
demoapp_request_duration_seconds_bucket{le="0.1"} %d
demoapp_request_duration_seconds_bucket{le="+Inf"} %d
demoapp_request_duration_seconds_sum 12.5
demoapp_request_duration_seconds_count %d
`

func TestParseMetrics(t *testing.T) {
	req, b, ok := ParseMetrics(fmt.Sprintf(demoMetrics, 100, 50, 90, 102, 102))
	if !ok || req != 102 || b["0.01"] != 50 || b["+Inf"] != 102 || len(b) != 3 {
		t.Fatalf("requests %v buckets %v ok %v", req, b, ok)
	}
	if _, _, ok := ParseMetrics("garbage\n{{{\nfoo 1 2 3 4\n"); ok {
		t.Error("garbage parsed as requests")
	}
}

func TestQuantile(t *testing.T) {
	b := map[float64]float64{0.01: 50, 0.1: 100, math.Inf(1): 100}
	q, ok := quantile(0.95, b)
	if !ok || math.Abs(q-0.091) > 1e-9 {
		t.Fatalf("p95 = %v", q)
	}
	b = map[float64]float64{0.01: 0, 0.1: 10, math.Inf(1): 100}
	if q, _ := quantile(0.95, b); q != 0.1 {
		t.Fatalf("beyond the last bucket: %v", q)
	}
	if _, ok := quantile(0.95, map[float64]float64{math.Inf(1): 0}); ok {
		t.Fatal("no requests, yet a quantile")
	}
}

func TestValue(t *testing.T) {
	now := time.Now()
	svc := cluster.Service{Name: "web", Limit: cluster.Resources{MilliCPU: 500, Memory: 100 << 20}, Reservation: cluster.Resources{MilliCPU: 250}}
	tasks := []cluster.Task{
		{ID: "a", Service: "web", State: cluster.TaskRunning},
		{ID: "b", Service: "web", State: cluster.TaskRunning},
		{ID: "c", Service: "web", State: cluster.TaskStarting},
		{ID: "x", Service: "other", State: cluster.TaskRunning},
	}
	at := func(s float64) time.Time { return now.Add(time.Duration(s * float64(time.Second))) }
	lat := func(fast, slow float64) map[string]float64 {
		return map[string]float64{"0.01": fast, "0.1": fast + slow, "+Inf": fast + slow}
	}
	samples := map[string][]ContainerStats{
		// a: 0.5 cores for 10 s = 100 % of its 0.5 CPU limit; 10 req/s.
		"a": {{Time: at(-100), CPUNanos: 0}, {Time: at(-10), CPUNanos: 1e9, Memory: 50 << 20, HasRequests: true, Requests: 100, Latency: lat(100, 0)},
			{Time: at(0), CPUNanos: 6e9, Memory: 30 << 20, HasRequests: true, Requests: 200, Latency: lat(190, 10)}},
		// b: idle; 0 req/s.
		"b": {{Time: at(-10), CPUNanos: 5e9, Memory: 10 << 20, HasRequests: true, Requests: 7, Latency: lat(7, 0)},
			{Time: at(0), CPUNanos: 5e9, Memory: 10 << 20, HasRequests: true, Requests: 7, Latency: lat(7, 0)}},
		"c": {{Time: at(-5), CPUNanos: 0}, {Time: at(0), CPUNanos: 5e9}}, // not running: not counted
		"x": {{Time: at(-5), CPUNanos: 0}, {Time: at(0), CPUNanos: 5e9}},
	}
	win := 15 * time.Second
	cases := []struct {
		metric string
		want   float64
	}{
		{"cpu", 50},                  // (100 + 0) / 2
		{"memory", 25},               // a: 40 MiB avg = 40 %, b: 10 %
		{"rps", 5},                   // (10 + 0) / 2
		{"latency_p95", 10 + 90*0.5}, // 100 new requests, 90 fast, 10 slow: rank 95 halfway into (0.01, 0.1]
	}
	for _, c := range cases {
		got, err := value(c.metric, svc, tasks, samples, now, win)
		if err != nil || math.Abs(got-c.want) > 1e-6 {
			t.Errorf("%s = %v, %v; want %v", c.metric, got, err, c.want)
		}
	}
	if _, err := value("cpu", svc, tasks, samples, now.Add(time.Hour), win); !errors.Is(err, engine.ErrNoData) {
		t.Errorf("old samples only: err = %v", err)
	}
	if _, err := value("bogus", svc, tasks, samples, now, win); !errors.Is(err, ErrUnknownMetric) {
		t.Errorf("unknown metric: err = %v", err)
	}
	noLimit := svc
	noLimit.Limit = cluster.Resources{}
	if got, _ := value("cpu", noLimit, tasks, samples, now, win); math.Abs(got-100) > 1e-6 {
		t.Errorf("cpu against the reservation = %v, want 100", got)
	}
}

// An app's total request rate sums the replicas with figures: one just
// started (a single scrape) adds nothing, where the mean times the running
// replicas would count it at the others' rate.
func TestRequestRate(t *testing.T) {
	now := time.Now()
	at := func(s float64) time.Time { return now.Add(time.Duration(s * float64(time.Second))) }
	c := New(Options{State: nil, Interval: 2 * time.Second})
	c.state = cluster.State{
		Services: []cluster.Service{{Name: "web"}, {Name: "idle"}},
		Tasks: []cluster.Task{
			{ID: "a", Service: "web", State: cluster.TaskRunning},
			{ID: "b", Service: "web", State: cluster.TaskRunning},
			{ID: "new", Service: "web", State: cluster.TaskRunning},
			{ID: "old", Service: "web", State: cluster.TaskPending},
			{ID: "i", Service: "idle", State: cluster.TaskRunning},
		},
	}
	c.samples = map[string][]ContainerStats{
		"a":   {{Time: at(-4), HasRequests: true, Requests: 100}, {Time: at(0), HasRequests: true, Requests: 220}}, // 30/s
		"b":   {{Time: at(-4), HasRequests: true, Requests: 10}, {Time: at(0), HasRequests: true, Requests: 50}},   // 10/s
		"new": {{Time: at(0), HasRequests: true, Requests: 3}},
		"old": {{Time: at(-4), HasRequests: true, Requests: 0}, {Time: at(0), HasRequests: true, Requests: 400}}, // not running
		"i":   {{Time: at(-4)}, {Time: at(0)}},                                                                   // no request figures
	}
	got, err := c.RequestRate(context.Background(), "web", 2*time.Second)
	if err != nil || math.Abs(got-40) > 1e-9 {
		t.Errorf("web: %v req/s, %v; want 40", got, err)
	}
	if mean, _ := c.Value(context.Background(), engine.MetricQuery{App: "web", Metric: "rps", Window: 2 * time.Second}); math.Abs(mean-20) > 1e-9 {
		t.Errorf("web per replica: %v, want 20", mean)
	}
	for _, app := range []string{"idle", "nope"} {
		if _, err := c.RequestRate(context.Background(), app, 2*time.Second); !errors.Is(err, engine.ErrNoData) {
			t.Errorf("%s: err = %v, want no data", app, err)
		}
	}
}

// fakeDocker is one node's dockerd with one task container.
type fakeDocker struct {
	mu       sync.Mutex
	cpu      uint64
	port     string
	gwIP     string
	statsErr error
	net      uint64
}

func (f *fakeDocker) ContainerInspect(_ context.Context, id string, _ client.ContainerInspectOptions) (client.ContainerInspectResult, error) {
	var r client.ContainerInspectResult
	if id != "c1" {
		return r, errors.New("no such container " + id)
	}
	r.Container.State = &container.State{Running: true, Pid: 4242}
	return r, nil
}

// fakeShaper records what the agent asks of the kernel.
type fakeShaper struct {
	mu      sync.Mutex
	applied map[int]throttle.Limit
	applies int
	removes int
}

func (f *fakeShaper) Apply(_ context.Context, pid int, l throttle.Limit) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied[pid] = l
	f.applies++
	return nil
}

func (f *fakeShaper) Remove(_ context.Context, pid int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.applied, pid)
	f.removes++
	return nil
}

func (f *fakeShaper) Read(_ context.Context, pid int) (throttle.State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.applied[pid]
	return throttle.State{Applied: ok, Found: ok, Rate: l.Rate, Egress: throttle.Counters{Bytes: 10, Overlimits: 3}}, nil
}

func (f *fakeDocker) Info(context.Context, client.InfoOptions) (client.SystemInfoResult, error) {
	var i system.Info
	i.NCPU, i.MemTotal, i.Swarm.NodeID = 1, 1<<30, "node-1"
	return client.SystemInfoResult{Info: i}, nil
}

func (f *fakeDocker) ContainerList(_ context.Context, o client.ContainerListOptions) (client.ContainerListResult, error) {
	if !o.Filters["label"][labelTaskID] {
		return client.ContainerListResult{}, errors.New("want only task containers")
	}
	return client.ContainerListResult{Items: []container.Summary{
		{ID: "c1", State: container.StateRunning, Labels: map[string]string{labelTaskID: "t1", labelService: "web", LabelMetricsPort: f.port}},
		{ID: "c2", State: container.StateExited, Labels: map[string]string{labelTaskID: "t0", labelService: "web"}},
	}}, nil
}

func (f *fakeDocker) ContainerStats(_ context.Context, id string, o client.ContainerStatsOptions) (client.ContainerStatsResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.statsErr != nil {
		return client.ContainerStatsResult{}, f.statsErr
	}
	if o.Stream || o.IncludePreviousSample {
		return client.ContainerStatsResult{}, errors.New("want a one-shot sample")
	}
	f.cpu += 5e8
	f.net += 1000
	body := fmt.Sprintf(`{"read":%q,"cpu_stats":{"cpu_usage":{"total_usage":%d}},"memory_stats":{"usage":%d,"limit":%d,"stats":{"total_inactive_file":%d}},`+
		`"networks":{"eth0":{"rx_bytes":%d,"rx_packets":%d,"tx_bytes":%d,"tx_packets":%d},"eth1":{"rx_bytes":%d,"tx_bytes":0}}}`,
		time.Now().Format(time.RFC3339Nano), f.cpu, 60<<20, 1<<30, 10<<20, f.net, f.net/100, 2*f.net, f.net/50, f.net)
	return client.ContainerStatsResult{Body: io.NopCloser(strings.NewReader(body))}, nil
}

func (f *fakeDocker) NetworkInspect(_ context.Context, id string, _ client.NetworkInspectOptions) (client.NetworkInspectResult, error) {
	var r client.NetworkInspectResult
	if id != "docker_gwbridge" {
		return r, errors.New("unexpected network " + id)
	}
	r.Network.Containers = map[string]network.EndpointResource{"c1": {IPv4Address: netip.MustParsePrefix(f.gwIP + "/16")}}
	return r, nil
}

type fixedState struct{ st cluster.State }

func (f fixedState) State(context.Context) (cluster.State, error) { return f.st, nil }

// TestAgentAndCollector runs an agent over HTTP on a fake dockerd whose task
// serves real demoapp-style metrics, and a collector scraping it.
func TestAgentAndCollector(t *testing.T) {
	var reqs int
	var mu sync.Mutex
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		reqs += 20
		fmt.Fprintf(w, demoMetrics, reqs, reqs, reqs, reqs, reqs)
	}))
	defer app.Close()
	host, port, _ := net.SplitHostPort(app.Listener.Addr().String())
	fd := &fakeDocker{port: port, gwIP: host}
	shaper := &fakeShaper{applied: map[int]throttle.Limit{}}
	agent := &Agent{Docker: fd, Machine: "m1", Shaper: shaper}
	rep, err := agent.Report(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Containers) != 1 || rep.NodeID != "node-1" {
		t.Fatalf("report = %+v", rep)
	}
	cs := rep.Containers[0]
	if cs.TaskID != "t1" || cs.Service != "web" || cs.Memory != 50<<20 || !cs.HasRequests || cs.Requests != 22 || cs.ScrapeErr != "" {
		t.Fatalf("container = %+v", cs)
	}

	srv := httptest.NewServer(agent.Handler())
	defer srv.Close()
	ahost, aport, _ := net.SplitHostPort(srv.Listener.Addr().String())
	var ap int
	fmt.Sscan(aport, &ap)
	st := cluster.State{
		Services: []cluster.Service{{Name: "web", Limit: cluster.Resources{MilliCPU: 1000, Memory: 100 << 20}, Reservation: cluster.Resources{MilliCPU: 500}}},
		Tasks:    []cluster.Task{{ID: "t1", Service: "web", NodeID: "node-1", State: cluster.TaskRunning, Reservation: cluster.Resources{MilliCPU: 500}}},
		Nodes: []cluster.Node{{ID: "node-1", Machine: "m1", Ready: true, Addr: ahost, Capacity: cluster.Resources{MilliCPU: 1000}},
			{ID: "node-2", Ready: true, Addr: "127.0.0.2"}}, // no agent there
	}
	book := throttle.NewBook()
	c := New(Options{State: fixedState{st}, AgentPort: ap, Interval: 200 * time.Millisecond, Throttles: book})
	ctx := context.Background()
	if _, err := c.Value(ctx, engine.MetricQuery{App: "web", Metric: "cpu", Window: time.Second}); !errors.Is(err, engine.ErrNoData) {
		t.Fatalf("before any scrape: %v", err)
	}
	for i := 0; i < 3; i++ {
		c.Scrape(ctx)
		time.Sleep(200 * time.Millisecond)
	}
	cpu, err := c.Value(ctx, engine.MetricQuery{App: "web", Metric: "cpu", Window: time.Second})
	// 0.5 s of CPU per ~0.2 s scrape: far above the 1-core limit in wall
	// terms; the point is that a rate comes out, positive and finite.
	if err != nil || cpu <= 0 || math.IsInf(cpu, 0) {
		t.Fatalf("cpu = %v, %v", cpu, err)
	}
	if rps, err := c.Value(ctx, engine.MetricQuery{App: "web", Metric: "rps", Window: time.Second}); err != nil || rps <= 0 {
		t.Fatalf("rps = %v, %v", rps, err)
	}
	if mem, err := c.Value(ctx, engine.MetricQuery{App: "web", Metric: "memory", Window: time.Second}); err != nil || mem != 50 {
		t.Fatalf("memory = %v, %v", mem, err)
	}
	nodes := c.Nodes()
	if len(nodes) != 2 || nodes[0].Tasks != 1 || nodes[0].CPU <= 0 || nodes[0].Reserved.MilliCPU != 500 || nodes[1].Error == "" {
		t.Fatalf("nodes = %+v", nodes)
	}
	ts := c.Tasks()
	if len(ts) != 1 || ts[0].Service != "web" || ts[0].Net == nil || math.Abs(ts[0].Net.TxBytes-ts[0].Net.RxBytes) > 1e-6*ts[0].Net.RxBytes || ts[0].Interfaces["eth1"].RxBytes <= 0 {
		t.Fatalf("tasks = %+v", ts)
	}
	// Traffic: eth0 receives 1000 and sends 2000 bytes a scrape, eth1
	// receives 1000: tx = rx over both interfaces.
	rx, err1 := c.Value(ctx, engine.MetricQuery{App: "web", Metric: "net_rx", Window: time.Second})
	tx, err2 := c.Value(ctx, engine.MetricQuery{App: "web", Metric: "net_tx", Window: time.Second})
	if err1 != nil || err2 != nil || rx <= 0 || math.Abs(tx-rx) > 1e-6*rx {
		t.Fatalf("net_rx %v %v, net_tx %v %v", rx, err1, tx, err2)
	}
	if per, err := c.TaskNet(ctx, "web", time.Second); err != nil || per["t1"].TxBytes <= 0 {
		t.Fatalf("TaskNet = %v, %v", per, err)
	}

	// A limit hoist wants reaches the agent at the next scrape, once: the
	// next scrapes find it applied; lifted, it is removed.
	book.Set(throttle.Entry{App: "web", Limit: throttle.Limit{Rate: 3e6}, Since: time.Now(), Until: time.Now().Add(time.Hour)})
	c.Scrape(ctx)
	c.Scrape(ctx)
	shaper.mu.Lock()
	applied, applies := shaper.applied[4242], shaper.applies
	shaper.mu.Unlock()
	if applied.Rate != 3e6 || applies != 1 {
		t.Fatalf("applied %+v %d times", applied, applies)
	}
	if ts := c.Tasks(); ts[0].Throttle == nil || !ts[0].Throttle.Applied {
		t.Fatalf("task throttle = %+v", ts[0])
	}
	if n := testutil.CollectAndCount(c, "hoist_task_throttle_overlimits_total"); n != 2 {
		t.Errorf("%d overlimit series, want 2 (egress, ingress)", n)
	}
	if n := testutil.CollectAndCount(c, "hoist_task_net_bytes_per_second"); n != 2 {
		t.Errorf("%d task traffic series, want 2", n)
	}
	book.Lift("web")
	c.Scrape(ctx)
	shaper.mu.Lock()
	_, still := shaper.applied[4242]
	removes := shaper.removes
	shaper.mu.Unlock()
	if still || removes != 1 {
		t.Fatalf("after lifting: applied %v, %d removes", still, removes)
	}
	// A plain GET reads and changes nothing.
	book.Set(throttle.Entry{App: "web", Limit: throttle.Limit{Rate: 1e6}, Since: time.Now(), Until: time.Now().Add(time.Hour)})
	if _, err := agent.Report(ctx, nil); err != nil || shaper.applies != 1 {
		t.Fatalf("GET applied: %v %d", err, shaper.applies)
	}
	// A bad POST is refused with what is wrong.
	resp, err := http.Post(srv.URL+"/v1/stats", "application/json", strings.NewReader(`{"throttles":[{"task_id":"t1"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "rate > 0") {
		t.Fatalf("bad POST: %s %s", resp.Status, body)
	}
	// A container whose stats fail is left out of the report, not guessed.
	fd.mu.Lock()
	fd.statsErr = errors.New("stats broke")
	fd.mu.Unlock()
	if rep, err := agent.Report(ctx, nil); err != nil || len(rep.Containers) != 0 {
		t.Fatalf("report with failing stats = %+v, %v", rep, err)
	}
}

// wantsRecorder is a Reporter that keeps what it was told.
type wantsRecorder struct {
	mu    sync.Mutex
	wants []map[string]throttle.Limit
}

func (w *wantsRecorder) Report(_ context.Context, want map[string]throttle.Limit) (Report, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.wants = append(w.wants, want)
	return Report{Machine: "m"}, nil
}

// deciding is a book that is not always the one deciding (a standby).
type deciding struct {
	*throttle.Book
	on bool
}

func (d *deciding) Deciding() bool { return d.on }

// While its Throttles are not deciding (a standby), the collector only
// reads the agents: they keep the leader's limits.
func TestStandbyTellsAgentsNothing(t *testing.T) {
	st := cluster.State{
		Services: []cluster.Service{{Name: "web"}},
		Tasks:    []cluster.Task{{ID: "t1", Service: "web", NodeID: "n1", State: cluster.TaskRunning}},
		Nodes:    []cluster.Node{{ID: "n1", Ready: true}},
	}
	rec := &wantsRecorder{}
	book := &deciding{Book: throttle.NewBook()}
	c := New(Options{State: fixedState{st}, Local: rec, LocalNode: "n1", Throttles: book})
	ctx := context.Background()
	c.Scrape(ctx)
	book.on = true
	c.Scrape(ctx)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.wants) != 2 || rec.wants[0] != nil || rec.wants[1] == nil {
		t.Fatalf("wants %v: want nil (read only) as a standby, then {} (remove any) as the leader", rec.wants)
	}
}
