package main

import (
	"context"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hoist/hoist/internal/collector"
)

func TestServeCountsAndBurns(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHandler(5*time.Millisecond, reg)
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// Before any request the counter is exported (a rate needs a first sample).
	_, m := get("/metrics")
	if req, _, ok := collector.ParseMetrics(m); !ok || req != 0 {
		t.Fatalf("fresh metrics: requests %v, found %v", req, ok)
	}
	code, body := get("/?work=30ms")
	if code != 200 || !strings.Contains(body, "30ms") {
		t.Fatalf("GET / = %d %q", code, body)
	}
	if code, _ := get("/?work=forever"); code != 400 {
		t.Errorf("bad work: %d", code)
	}
	get("/")
	_, m = get("/metrics")
	req, buckets, ok := collector.ParseMetrics(m)
	if !ok || req != 3 { // two served, one refused
		t.Fatalf("requests = %v (found %v); metrics:\n%s", req, ok, m)
	}
	if buckets["+Inf"] != 2 || buckets["0.005"] != 0 {
		t.Errorf("latency buckets = %v: the 30ms and 5ms requests took at least their work", buckets)
	}
}

func TestBurnSpendsCPUTime(t *testing.T) {
	wall := time.Now()
	burn(25 * time.Millisecond)
	if took := time.Since(wall); took < 25*time.Millisecond {
		t.Errorf("burn(25ms) returned after %s", took)
	}
}

func TestLoadReachesEveryAddress(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	}))
	defer srv.Close()
	target := strings.TrimPrefix(srv.URL, "http://")
	var out strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := load(ctx, &out, []string{"--target", target, "--concurrency", "2", "--duration", "300ms", "--report", "1h"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "replicas=1 127.0.0.1=") || strings.Contains(out.String(), " ok=0 ") {
		t.Errorf("report %q", out.String())
	}
	if err := load(ctx, &out, []string{"--target", "no-port"}); err == nil {
		t.Error("a target without a port was accepted")
	}
}

// The flood mode uploads its bytes with every request; ?bytes=N answers N
// bytes: the traffic the network guard watches.
func TestFloodAndBytes(t *testing.T) {
	var got atomic.Int64
	reg := prometheus.NewRegistry()
	h := newHandler(0, reg)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if strings.Contains(rec.Body.String(), "received=4096\n") {
			got.Add(1)
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out strings.Builder
	if err := load(ctx, &out, []string{"--target", strings.TrimPrefix(srv.URL, "http://"), "--concurrency", "1", "--duration", "200ms", "--report", "1h", "--flood", "4096"}); err != nil {
		t.Fatal(err)
	}
	if got.Load() == 0 || strings.Contains(out.String(), " ok=0 ") {
		t.Fatalf("no flood request received its 4096 bytes: %q", out.String())
	}
	resp, err := http.Get(srv.URL + "/?bytes=100000")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if len(b) < 100000 || len(b) > 100100 {
		t.Fatalf("?bytes=100000 answered %d bytes", len(b))
	}
	for _, bad := range []string{"-1", "x", "2000000000"} {
		resp, err := http.Get(srv.URL + "/?bytes=" + bad)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("?bytes=%s: %d", bad, resp.StatusCode)
		}
	}
	if err := load(ctx, &out, []string{"--target", "h:1", "--flood", "-1"}); err == nil {
		t.Error("a negative flood was accepted")
	}
}

func TestSchedule(t *testing.T) {
	t0 := time.Unix(1000, 0)
	sc, err := parseSchedule("20s=20, 0s=20,26s=80,38s=80,40s=20", 50*time.Second, t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		at   time.Duration
		want float64
	}{{0, 20}, {10 * time.Second, 20}, {23 * time.Second, 50}, {26 * time.Second, 80}, {39 * time.Second, 50}, {45 * time.Second, 20},
		{50*time.Second + 23*time.Second, 50}, {-27 * time.Second, 50}} {
		if got := sc.rateAt(t0.Add(c.at)); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("rate at %s = %v, want %v", c.at, got, c.want)
		}
	}
	// Wrapping from the last point to the first.
	sc, _ = parseSchedule("10s=0,30s=100", 40*time.Second, t0)
	for at, want := range map[time.Duration]float64{0: 50, 5 * time.Second: 25, 35 * time.Second: 75, 20 * time.Second: 50} {
		if got := sc.rateAt(t0.Add(at)); math.Abs(got-want) > 1e-9 {
			t.Errorf("wrapping: rate at %s = %v, want %v", at, got, want)
		}
	}
	for _, bad := range []string{"", "0s", "0s=x", "60s=1", "-1s=1", "0s=1,0s=2", "0s=-1"} {
		if _, err := parseSchedule(bad, 50*time.Second, t0); err == nil {
			t.Errorf("schedule %q accepted", bad)
		}
	}
	if _, err := parseSchedule("0s=1", 0, t0); err == nil {
		t.Error("a schedule without a period accepted")
	}
	// --rate beside --schedule was ignored: refused, before any request.
	if err := load(context.Background(), io.Discard, []string{"--target", "127.0.0.1:1", "--schedule", "0s=200", "--period", "1s", "--rate", "5"}); err == nil || !strings.Contains(err.Error(), "--rate and --schedule") {
		t.Errorf("--rate with --schedule: %v", err)
	}
	// The generator follows it: 200 req/s for 300ms sends about 60.
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { n.Add(1) }))
	defer srv.Close()
	var out strings.Builder
	if err := load(context.Background(), &out, []string{"--target", strings.TrimPrefix(srv.URL, "http://"), "--schedule", "0s=200", "--period", "1s", "--duration", "300ms", "--report", "1h"}); err != nil {
		t.Fatal(err)
	}
	if got := n.Load(); got < 30 || got > 70 {
		t.Errorf("%d requests in 300ms at 200 req/s", got)
	}
}
