package api

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/auth"
	"github.com/hoist/hoist/internal/prom"
	"github.com/hoist/hoist/internal/prom/promtest"
)

// openServer is the API of e's engine without tokens (hoist run on
// loopback without --tokens), on a real listener.
func openServer(t *testing.T, e *env, opt Options) *httptest.Server {
	t.Helper()
	opt.Engine, opt.Events, opt.Catalog, opt.Base = e.stack.Engine, e.db, e.cat, e.stack.Engine.Config()
	opt.Auth = auth.New(nil, auth.Options{})
	if opt.Heartbeat == 0 {
		opt.Heartbeat = 50 * time.Millisecond
	}
	srv, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { srv.Close(); ts.Close() })
	return ts
}

func rawDo(t *testing.T, ts *httptest.Server, method, path, body string, hdr map[string]string) reply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, raw: string(data), header: resp.Header}
}

const minerApp = `{"name":"miner","image":"attacker/miner","pools":["workers"],"replicas":{"min":5,"max":5}}`

// TestOpenModeRefusesWebPages: without tokens, what a visited page can make
// the browser send deploys nothing.
func TestOpenModeRefusesWebPages(t *testing.T) {
	e := newEnv(t, 1)
	ts := openServer(t, e, Options{})
	self := strings.TrimPrefix(ts.URL, "http://")
	for _, c := range []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"no-cors text/plain POST", map[string]string{"Content-Type": "text/plain;charset=UTF-8", "Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, 403},
		{"text/plain POST without fetch metadata", map[string]string{"Content-Type": "text/plain"}, 415},
		{"form POST", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415},
		{"cross-site JSON", map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, 403},
		{"foreign Origin", map[string]string{"Content-Type": "application/json", "Origin": "http://evil.example"}, 403},
		{"DNS rebinding", map[string]string{"Content-Type": "application/json", "Host": "evil.example:" + strings.Split(self, ":")[1], "Sec-Fetch-Site": "same-origin"}, 421},
	} {
		r := rawDo(t, ts, "POST", "/v1/apps", minerApp, c.hdr)
		if r.status != c.want || !strings.Contains(r.raw, `"error"`) {
			t.Errorf("%s: %d %s, want %d", c.name, r.status, r.raw, c.want)
		}
		if _, ok := e.cat.App("miner"); ok {
			t.Fatalf("%s: the app was registered", c.name)
		}
	}
	if r := rawDo(t, ts, "GET", "/v1/apps", "", map[string]string{"Host": "evil.example"}); r.status != 421 {
		t.Errorf("a read through a rebound name: %d %s", r.status, r.raw)
	}
	// The operator's own client and the dashboard still work.
	if r := rawDo(t, ts, "POST", "/v1/apps", minerApp, map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "same-origin", "Origin": ts.URL}); r.status != 201 {
		t.Fatalf("same-origin deploy: %d %s", r.status, r.raw)
	}
}

// nested is an app whose labels are nested depth deep.
func nested(depth int) string {
	return `{"name":"deep","image":"i","pools":["workers"],"labels":` + strings.Repeat(`{"a":`, depth) + `"x"` + strings.Repeat("}", depth) + `}`
}

// TestDeepBodyIsCheap: 60 KB nested 9,999 deep is refused before any
// conversion, at a cost bounded by its size.
func TestDeepBodyIsCheap(t *testing.T) {
	e := newEnv(t, 1)
	body := nested(9999)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r := e.do("POST", "/v1/apps", "operator", body)
	runtime.ReadMemStats(&after)
	if r.status != 400 || r.errCode() != "too_deep" {
		t.Fatalf("deep body: %d %.300s", r.status, r.raw)
	}
	// The client, the server and the body: a few copies of 60 KB.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
		t.Fatalf("a %d-byte body cost %d bytes of allocation", len(body), alloc)
	}
	if r := e.do("POST", "/v1/apps", "operator", nested(20)); r.status != 400 || r.errField() == "" {
		t.Fatalf("labels nested 20 deep are still refused by validation, with a field: %d %s", r.status, r.raw)
	}
	wide := `{"name":"wide","image":"i","pools":["workers"],"labels":{` + strings.TrimSuffix(strings.Repeat(`"k":"v",`, 30000), ",") + `}}`
	if r := e.do("POST", "/v1/apps", "operator", wide); r.status != 413 || r.errCode() != "too_large" {
		t.Fatalf("30,000 values: %d %.300s", r.status, r.raw)
	}
	labels := func(n int) string {
		var kv []string
		for i := 0; i < n; i++ {
			kv = append(kv, fmt.Sprintf(`"k%d":"v"`, i))
		}
		return `{"name":"labelled","image":"i","pools":["workers"],"labels":{` + strings.Join(kv, ",") + `}}`
	}
	// Quadratic in the YAML library beyond: one object has at most 256 members.
	if r := e.do("POST", "/v1/apps", "operator", labels(9500)); r.status != 413 || !strings.Contains(r.raw, "256 members") {
		t.Fatalf("9,500 labels: %d %.300s", r.status, r.raw)
	}
	e.expect(e.do("POST", "/v1/apps", "operator", labels(256)), 201)
	if r := e.do("PUT", "/v1/apps/web/policy", "operator", `{"policies":`+strings.Repeat("[", 40)+strings.Repeat("]", 40)+`}`); r.status != 400 || r.errCode() != "too_deep" {
		t.Fatalf("deep policy: %d %.300s", r.status, r.raw)
	}
}

// blockingChecker holds every query check until released.
type blockingChecker struct {
	entered chan string
	release chan struct{}
}

func (b *blockingChecker) CheckQuery(ctx context.Context, q string) error {
	b.entered <- q
	<-b.release
	return nil
}

func (b *blockingChecker) CheckExpr(ctx context.Context, expr string) error { return nil }

// TestChecksOutsideTheLock: while one deploy waits on Prometheus, other
// changes go through.
func TestChecksOutsideTheLock(t *testing.T) {
	e := newEnv(t, 1)
	bc := &blockingChecker{entered: make(chan string, 1), release: make(chan struct{})}
	e.srv.opt.Queries = bc
	e.srv.base.Prometheus.URL = "http://127.0.0.1:1"
	cfg := *e.stack.Engine.Config()
	cfg.Prometheus.URL = "http://127.0.0.1:1"
	if err := e.stack.Engine.SetConfig(&cfg); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	var slow reply
	go func() {
		defer wg.Done()
		slow = e.do("POST", "/v1/apps", "operator", `{"name":"q","image":"i","pools":["workers"],
			"policies":[{"type":"threshold","query":"sum(rate(x[1m]))","upper":10,"lower":1}]}`)
	}()
	select {
	case <-bc.entered:
	case <-time.After(30 * time.Second):
		t.Fatal("the query was never checked")
	}
	e.expect(e.do("POST", "/v1/apps", "operator", batchApp), 201)
	e.expect(e.do("DELETE", "/v1/apps/batch", "operator", ""), 200)
	close(bc.release)
	wg.Wait()
	if slow.status != 201 {
		t.Fatalf("the checked deploy: %d %s", slow.status, slow.raw)
	}
}

// TestAPIAppsPassTheDescriptorValidation: what involves several apps is
// checked for API apps too.
func TestAPIAppsPassTheDescriptorValidation(t *testing.T) {
	e := newEnv(t, 1)
	lb := func(name string, port int) string {
		return fmt.Sprintf(`{"name":%q,"image":"i","port":8080,"pools":["workers"],"balancer":{"pool":"workers","port":%d,"stats_port":%d}}`, name, port, port+1)
	}
	e.expectField(e.do("POST", "/v1/apps", "operator", `{"name":"noimage","pools":["workers"]}`), 400, "image")
	e.expectField(e.do("PUT", "/v1/apps/web/policy", "operator", `{"policies":[{"type":"target","metric":"cpu","target":1e400}]}`), 400, "policies[0].target")
	e.expect(e.do("POST", "/v1/apps", "operator", `{"name":"col-lb","image":"i","pools":["workers"]}`), 201)
	e.expectField(e.do("POST", "/v1/apps", "operator", lb("col", 9000)), 400, "balancer")
	e.expect(e.do("DELETE", "/v1/apps/col-lb", "operator", ""), 200)
	e.expect(e.do("POST", "/v1/apps", "operator", lb("col", 9000)), 201)
	r := e.do("POST", "/v1/apps", "operator", `{"name":"col-lb","image":"i","pools":["workers"]}`)
	e.expectField(r, 400, "name")
	if !strings.Contains(r.raw, `app \"col\"`) {
		t.Errorf("the refusal names the other app: %s", r.raw)
	}
	e.expectField(e.do("POST", "/v1/apps", "operator", lb("other", 9000)), 400, "balancer.port")
	e.expect(e.do("POST", "/v1/apps", "operator", lb("other", 9100)), 201)
	// A policy update is checked the same way, and its own problems only.
	e.expectField(e.do("PUT", "/v1/apps/other/policy", "operator", `{"replicas":{"min":3,"max":2}}`), 400, "replicas.max")
	e.expect(e.do("PUT", "/v1/apps/other/policy", "operator", `{"replicas":{"min":1,"max":4}}`), 200)
}

// TestStreamsPerToken: one viewer cannot take every event stream.
func TestStreamsPerToken(t *testing.T) {
	e := newEnv(t, 0)
	e.srv.opt.MaxStreamsPerClient = 3
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	open := func(role string) int {
		req, _ := http.NewRequestWithContext(ctx, "GET", e.ts.URL+"/v1/events/stream", nil)
		req.Header.Set("Authorization", "Bearer "+testTokens[role])
		resp, err := e.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == 200 {
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() && !strings.HasPrefix(sc.Text(), ": connected") {
			}
			t.Cleanup(func() { resp.Body.Close() })
		} else {
			resp.Body.Close()
		}
		return resp.StatusCode
	}
	for i := 0; i < 3; i++ {
		if c := open("viewer"); c != 200 {
			t.Fatalf("stream %d: %d", i, c)
		}
	}
	if c := open("viewer"); c != http.StatusTooManyRequests {
		t.Fatalf("fourth stream of one token: %d", c)
	}
	if c := open("operator"); c != 200 {
		t.Fatalf("another token's stream: %d", c)
	}
}

// promChecker is a QueryChecker over a fake Prometheus that answers like
// the real one (the real one is in TestQueriesCheckedByPrometheus).
func TestQueryCheckErrors(t *testing.T) {
	e := newEnv(t, 1)
	var mu sync.Mutex
	answer := func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		io.WriteString(w, `{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:5: parse error: unexpected <op:*>"}`)
	}
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		answer(w, r)
	}))
	defer fake.Close()
	cfg := *e.stack.Engine.Config()
	cfg.Prometheus.URL = fake.URL
	c, err := prom.New(cfg.Prometheus)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.stack.Engine.SetConfig(&cfg); err != nil {
		t.Fatal(err)
	}
	e.srv.opt.Queries = c
	app := `{"name":"q","image":"i","pools":["workers"],"policies":[{"type":"threshold","query":"sum(*x)","upper":10,"lower":1}]}`
	r := e.do("POST", "/v1/apps", "operator", app)
	e.expectField(r, 400, "policies[0].query")
	if !strings.Contains(r.raw, "parse error: unexpected") {
		t.Fatalf("Prometheus's message is the answer: %s", r.raw)
	}
	mu.Lock()
	answer = func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }
	mu.Unlock()
	if r := e.do("POST", "/v1/apps", "operator", app); r.status != 503 || r.errCode() != "unavailable" {
		t.Fatalf("Prometheus down: %d %s", r.status, r.raw)
	}
	if _, ok := e.cat.App("q"); ok {
		t.Fatal("an unchecked query was accepted")
	}
}

// TestQueriesCheckedByPrometheus: with the real Prometheus, a policy query
// it refuses is a 400 with its parser's message, and nothing is stored.
func TestQueriesCheckedByPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus")
	}
	e := newEnv(t, 1)
	ps := promtest.Start(t, "")
	cfg := *e.stack.Engine.Config()
	cfg.Prometheus.URL = ps.URL
	c, err := prom.New(cfg.Prometheus)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.stack.Engine.SetConfig(&cfg); err != nil {
		t.Fatal(err)
	}
	e.srv.opt.Queries = c
	app := func(name, typ, query string) string {
		return fmt.Sprintf(`{"name":%q,"image":"i","pools":["workers"],"policies":[{"type":%q,"query":%q,"upper":10,"lower":1}]}`, name, typ, query)
	}
	for _, c := range []struct{ typ, query, says string }{
		{"threshold", "sum(*x)", "parse error"},
		{"alert", "sum(rate(x[1m])", "parse error"},
		{"threshold", "up[5m]", "matrix"},
		{"alert", "1", "BOOL"}, // a scalar parses, but its alert rule "(1) > 10" does not
	} {
		r := e.do("POST", "/v1/apps", "operator", app("q", c.typ, c.query))
		e.expectField(r, 400, "policies[0].query")
		if !strings.Contains(r.raw, c.says) {
			t.Errorf("%s %q: %s, want Prometheus's %q", c.typ, c.query, r.raw, c.says)
		}
		if _, ok := e.cat.App("q"); ok {
			t.Fatalf("%q: stored", c.query)
		}
	}
	e.expect(e.do("POST", "/v1/apps", "operator", app("q", "alert", `sum(rate(http_requests_total{job="q"}[1m]))`)), 201)
	e.expectField(e.do("PUT", "/v1/apps/q/policy", "operator", `{"policies":[{"type":"threshold","query":"rate(","upper":10,"lower":1}]}`), 400, "policies[0].query")
}
