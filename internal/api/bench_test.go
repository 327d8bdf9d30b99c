package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/events"
)

// The load figures: 100 concurrent clients against a real loopback listener
// with tokens checked on every request, while the control loop ticks the
// simulated cluster (and records events) beside them.
//
//	go test ./internal/api -run '^$' -bench 'Load' -benchtime 20000x

const benchClients = 100

// runLoop ticks the engine until stop is closed.
func runLoop(e *env, stop chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				_, _ = e.stack.Step(context.Background())
			}
		}
	}()
	return &wg
}

func p99(lat []time.Duration) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return lat[(len(lat)*99)/100]
}

func BenchmarkLoadAppsList(b *testing.B) {
	e := newEnv(b, 3)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchClients, MaxConnsPerHost: benchClients}}
	stop := make(chan struct{})
	loop := runLoop(e, stop)
	var next atomic.Int64
	lats := make([][]time.Duration, benchClients)
	var failed atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for c := 0; c < benchClients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				req, _ := http.NewRequest("GET", e.ts.URL+"/v1/apps", nil)
				req.Header.Set("Authorization", "Bearer "+testTokens["viewer"])
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
				}
				lats[c] = append(lats[c], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	b.StopTimer()
	close(stop)
	loop.Wait()
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	if failed.Load() > 0 {
		b.Fatalf("%d requests failed", failed.Load())
	}
	b.ReportMetric(float64(b.N)/took.Seconds(), "req/s")
	b.ReportMetric(float64(p99(all).Microseconds())/1000, "p99_ms")
}

func BenchmarkLoadEventStream(b *testing.B) {
	e := newEnv(b, 3)
	stop := make(chan struct{})
	loop := runLoop(e, stop)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchClients, MaxConnsPerHost: benchClients}}
	var ready, got sync.WaitGroup
	lats := make([][]time.Duration, benchClients)
	var received atomic.Int64
	for c := 0; c < benchClients; c++ {
		ready.Add(1)
		got.Add(1)
		go func() {
			defer got.Done()
			req, _ := http.NewRequestWithContext(ctx, "GET", e.ts.URL+"/v1/events/stream?kind=engine.info", nil)
			req.Header.Set("Authorization", "Bearer "+testTokens["viewer"])
			resp, err := client.Do(req)
			if err != nil {
				ready.Done()
				return
			}
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			signalled := false
			n := 0
			for sc.Scan() {
				line := sc.Text()
				if !signalled && strings.HasPrefix(line, ": connected") {
					signalled = true
					ready.Done()
				}
				if !strings.HasPrefix(line, "data: ") {
					continue
				}
				// Only the send time is read: the clients share the 2 cores
				// with the server, and decoding every event would measure them.
				i := strings.Index(line, `"sent":`)
				if i < 0 {
					continue
				}
				j := strings.IndexAny(line[i+7:], ",}")
				sent, err := strconv.ParseFloat(line[i+7:i+7+j], 64)
				if err != nil {
					continue
				}
				lats[c] = append(lats[c], time.Since(time.Unix(0, int64(sent))))
				received.Add(1)
				if n++; n == b.N {
					return
				}
			}
		}()
	}
	ready.Wait()
	b.ResetTimer()
	start := time.Now()
	// 1,000 events/s in bursts of 10, far more than a loop records (a few
	// per tick): 100,000 deliveries/s to the 100 clients.
	pace := time.NewTicker(10 * time.Millisecond)
	defer pace.Stop()
	for i := 0; i < b.N; i++ {
		e.db.Record(events.Event{Time: e.stack.Cluster.Now(), Kind: events.EngineInfo, Reason: "bench",
			Inputs: map[string]float64{"sent": float64(time.Now().UnixNano())}})
		if i%10 == 9 {
			<-pace.C
		}
	}
	done := make(chan struct{})
	go func() { got.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		b.Fatalf("clients received %d of %d events", received.Load(), b.N*benchClients)
	}
	took := time.Since(start)
	b.StopTimer()
	close(stop)
	loop.Wait()
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	if int(received.Load()) != b.N*benchClients {
		b.Fatalf("clients received %d of %d events", received.Load(), b.N*benchClients)
	}
	b.ReportMetric(float64(received.Load())/took.Seconds(), "deliveries/s")
	b.ReportMetric(float64(p99(all).Microseconds())/1000, "p99_ms")
}

// BenchmarkDeployBodies: what a body costs the server, refused or not: the
// 60 KB nested 9,999 deep of issue 19 (once 6-12 s and ~1 GB), 9,500 labels
// (quadratic in the YAML library: seconds before the member bound), the
// widest object the shape check lets through (256 labels), and a typical
// app.
func BenchmarkDeployBodies(b *testing.B) {
	e := newEnv(b, 1)
	h := e.srv.Handler()
	labels := func(n int) string {
		var kv []string
		for i := 0; i < n; i++ {
			kv = append(kv, fmt.Sprintf(`"k%d":"v"`, i))
		}
		return `{"name":"labelled","image":"i","pools":["workers"],"labels":{` + strings.Join(kv, ",") + `}}`
	}
	for _, c := range []struct {
		name, body string
		want       int
	}{
		{"nested-9999", nested(9999), 400},
		{"labels-9500", labels(9500), 413},
		{"labels-256", labels(256), 0},
		{"policies-255", `{"name":"many","image":"i","pools":["workers"],"policies":[` +
			strings.TrimSuffix(strings.Repeat(`{"type":"threshold","metric":"cpu","upper":80,"lower":20,"for":"1m"},`, 255), ",") + `]}`, 0},
		{"typical", batchApp, 0},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.body)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				w := asOperator(h, "POST", "/v1/apps", c.body)
				if c.want != 0 && w.Code != c.want || c.want == 0 && w.Code != 201 {
					b.Fatalf("%d %s", w.Code, w.Body.String())
				}
				if w.Code == 201 {
					b.StopTimer()
					var got struct{ App appView }
					_ = json.Unmarshal(w.Body.Bytes(), &got)
					asOperator(h, "DELETE", "/v1/apps/"+got.App.Name, "")
					b.StartTimer()
				}
			}
		})
	}
}

func asOperator(h http.Handler, method, path, body string) *httptest.ResponseRecorder {
	req := localRequest(method, path)
	req.Body = io.NopCloser(strings.NewReader(body))
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testTokens["operator"])
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}
