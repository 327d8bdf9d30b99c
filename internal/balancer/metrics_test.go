package balancer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/engine"
)

func at(base time.Time, sec float64, s Summary) sample {
	return sample{t: base.Add(time.Duration(sec * float64(time.Second))), s: s}
}

func TestValue(t *testing.T) {
	now := time.Now()
	base := now.Add(-4 * time.Second)
	per := map[string][]sample{
		// 100 requests in 2 s: 50/s; 2 then 4 sessions; queue 1; ttime 10 ms.
		"a": {at(base, -30, Summary{Requests: 0}), at(base, 1, Summary{Requests: 100, Sessions: 2, Queue: 1, TTime: 10}),
			at(base, 3, Summary{Requests: 200, Sessions: 4, Queue: 1, TTime: 10})},
		// 30 requests in 3 s: 10/s; ttime 40 ms.
		"b": {at(base, 0, Summary{Requests: 1000, Sessions: 1, TTime: 40}), at(base, 3, Summary{Requests: 1030, Sessions: 1, TTime: 40})},
		// HAProxy restarted: its counter went down, no rate from it.
		"c": {at(base, 1, Summary{Requests: 500, Sessions: 3}), at(base, 2, Summary{Requests: 5, Sessions: 3})},
	}
	win := 5 * time.Second
	for _, tc := range []struct {
		metric  string
		running int
		want    float64
	}{
		{"lb_rps", 2, (50 + 10) / 2.0},
		{"lb_rps", 1, 60},
		{"lb_connections", 2, (3 + 1 + 3) / 2.0},
		{"lb_queue", 5, 1},
		{"lb_latency", 1, (100*10 + 30*40) / 130.0},
	} {
		got, err := value(tc.metric, per, tc.running, now, win, "web-lb")
		if err != nil {
			t.Fatalf("%s: %v", tc.metric, err)
		}
		if math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s with %d replicas = %g, want %g", tc.metric, tc.running, got, tc.want)
		}
	}
	noData := func(metric string, per map[string][]sample, running int) {
		t.Helper()
		if _, err := value(metric, per, running, now, win, "web-lb"); !errors.Is(err, engine.ErrNoData) {
			t.Errorf("%s: got %v, want no data", metric, err)
		}
	}
	noData("lb_rps", per, 0)
	noData("lb_rps", map[string][]sample{"a": {at(base, 3, Summary{Requests: 9})}}, 1)                  // one sample: no rate
	noData("lb_rps", map[string][]sample{"a": {at(base, -60, Summary{}), at(base, -50, Summary{})}}, 1) // outside the window
	noData("lb_latency", map[string][]sample{"a": {at(base, 1, Summary{Requests: 5, TTime: 9}), at(base, 2, Summary{Requests: 5, TTime: 9})}}, 1)
	noData("lb_queue", nil, 1)
}

// fakeState is a cluster with a balancer service for "web".
type fakeState struct {
	mu sync.Mutex
	st cluster.State
}

func (f *fakeState) State(context.Context) (cluster.State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st, nil
}

// statsServer answers every balancer replica's stats page, by host, with a
// request count that grows by 10 on each scrape.
type statsServer struct {
	mu    sync.Mutex
	count map[string]int64
	hosts []string
}

func (s *statsServer) RoundTrip(r *http.Request) (*http.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.URL.Path != "/stats;csv" {
		return nil, fmt.Errorf("unexpected path %s", r.URL.Path)
	}
	s.hosts = append(s.hosts, r.URL.Host)
	if strings.HasPrefix(r.URL.Host, "10.9.0.3") {
		return nil, errors.New("connection refused")
	}
	s.count[r.URL.Host] += 10
	body := fmt.Sprintf("# pxname,svname,qcur,scur,type,req_tot,intercepted,ttime,status,addr\n"+
		"web,FRONTEND,,4,0,%d,2,,OPEN,\nweb,web1,0,1,2,,,,UP,10.0.1.5:8080\nweb,BACKEND,3,1,1,%d,,12,UP,\n", s.count[r.URL.Host]+2, s.count[r.URL.Host])
	return &http.Response{StatusCode: 200, Status: "200 OK", Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
}

func TestSource(t *testing.T) {
	state := &fakeState{st: cluster.State{
		Services: []cluster.Service{
			{Name: "web", Desired: 4},
			{Name: "web-lb", Desired: 3, Labels: map[string]string{LabelFor: "web", LabelStatsPort: "8404"}},
			{Name: "other", Labels: map[string]string{LabelFor: "x", LabelStatsPort: "not a port"}},
		},
		Nodes: []cluster.Node{{ID: "n1", Addr: "10.9.0.1", Ready: true}, {ID: "n2", Addr: "10.9.0.2", Ready: true}, {ID: "n3", Addr: "10.9.0.3", Ready: true}},
		Tasks: []cluster.Task{
			{ID: "w1", Service: "web", State: cluster.TaskRunning}, {ID: "w2", Service: "web", State: cluster.TaskRunning},
			{ID: "w3", Service: "web", State: cluster.TaskStarting},
			{ID: "l1", Service: "web-lb", NodeID: "n1", State: cluster.TaskRunning},
			{ID: "l2", Service: "web-lb", NodeID: "n2", State: cluster.TaskRunning},
			{ID: "l3", Service: "web-lb", NodeID: "n3", State: cluster.TaskRunning}, // its stats port refuses
			{ID: "l4", Service: "web-lb", NodeID: "n2", State: cluster.TaskPending},
		},
	}}
	srv := &statsServer{count: map[string]int64{}}
	src := NewSource(SourceOptions{State: state, Interval: 50 * time.Millisecond, HTTP: &http.Client{Transport: srv}})
	ctx := context.Background()
	q := engine.MetricQuery{App: "web", Metric: "lb_rps", Window: time.Second}
	if _, err := src.Value(ctx, q); !errors.Is(err, engine.ErrNoData) {
		t.Fatalf("before any scrape: %v, want no data", err)
	}
	for i := 0; i < 3; i++ {
		src.Scrape(ctx)
		time.Sleep(50 * time.Millisecond)
	}
	srv.mu.Lock()
	for _, h := range srv.hosts {
		if !strings.HasSuffix(h, ":8404") || strings.HasPrefix(h, "10.9.0.4") {
			t.Errorf("scraped %s", h)
		}
	}
	srv.mu.Unlock()
	// Expected from the samples themselves: 10 requests per scrape interval
	// on each of the two replicas that answer, shared by 2 running tasks.
	src.mu.Lock()
	want := 0.0
	for _, id := range []string{"l1", "l2"} {
		ss := src.samples[id]
		if len(ss) != 3 {
			t.Fatalf("%d samples of %s, want 3", len(ss), id)
		}
		want += 20 / ss[2].t.Sub(ss[0].t).Seconds()
	}
	if len(src.samples["l3"]) != 0 {
		t.Error("samples from a replica whose stats failed")
	}
	src.mu.Unlock()
	got, err := src.Value(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(got-want/2) > 1e-9 {
		t.Errorf("lb_rps of web = %g, want %g", got, want/2)
	}
	// Asked about the balancer itself: per balancer replica (3 running).
	got, _ = src.Value(ctx, engine.MetricQuery{App: "web-lb", Metric: "lb_rps", Window: time.Second})
	if math.Abs(got-want/3) > 1e-9 {
		t.Errorf("lb_rps of web-lb = %g, want %g", got, want/3)
	}
	if v, _ := src.Value(ctx, engine.MetricQuery{App: "web", Metric: "lb_queue", Window: time.Second}); v != 6 {
		t.Errorf("lb_queue = %g, want 3 on each of 2 replicas", v)
	}
	if v, _ := src.Value(ctx, engine.MetricQuery{App: "web", Metric: "lb_connections", Window: time.Second}); v != 4 {
		t.Errorf("lb_connections = %g, want 4 on each of 2 replicas for 2 app replicas", v)
	}
	if v, _ := src.Value(ctx, engine.MetricQuery{App: "web", Metric: "lb_latency", Window: time.Second}); v != 12 {
		t.Errorf("lb_latency = %g, want 12", v)
	}
	if _, err := src.Value(ctx, engine.MetricQuery{App: "nope", Metric: "lb_rps"}); !errors.Is(err, engine.ErrNoData) {
		t.Errorf("app without balancer: %v", err)
	}
	if _, err := src.Value(ctx, engine.MetricQuery{App: "web", Metric: "cpu"}); !errors.Is(err, ErrUnknownMetric) {
		t.Errorf("cpu: %v", err)
	}
	reps := src.Replicas()
	if len(reps) != 3 || reps[2].Error == "" || reps[0].Summary.Requests == 0 || len(reps[0].Summary.Servers) != 1 {
		t.Errorf("replicas %+v", reps)
	}

	// No balancer known: nothing is asked of the cluster.
	calls := 0
	idle := NewSource(SourceOptions{State: countingState{&calls}, Active: func() bool { return false }})
	idle.Scrape(ctx)
	if calls != 0 {
		t.Errorf("an idle source read the cluster %d times", calls)
	}
}

type countingState struct{ n *int }

func (c countingState) State(context.Context) (cluster.State, error) {
	*c.n++
	return cluster.State{}, nil
}

type constSource float64

func (c constSource) Value(context.Context, engine.MetricQuery) (float64, error) {
	return float64(c), nil
}

func TestRouter(t *testing.T) {
	r := &Router{LB: constSource(1), Next: constSource(2)}
	for q, want := range map[engine.MetricQuery]float64{
		{Metric: "lb_rps"}: 1, {Metric: "lb_latency"}: 1, {Metric: "cpu"}: 2, {Metric: "rps"}: 2, {Query: "up"}: 2,
	} {
		if got, _ := r.Value(context.Background(), q); got != want {
			t.Errorf("%+v went to %g, want %g", q, got, want)
		}
	}
}
