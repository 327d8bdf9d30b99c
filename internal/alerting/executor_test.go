package alerting

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/auth"
	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/policy"
)

var t0 = time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)

// fakeEngine is the engine as the executor sees it, on a virtual clock.
type fakeEngine struct {
	mu       sync.Mutex
	cfg      *config.Config
	now      time.Time
	machines []cluster.MachineRecord
	asked    []int // targets RequestPoolStep resolved, against the active machines
	evs      []events.Event
}

func (f *fakeEngine) Config() *config.Config { return f.cfg }
func (f *fakeEngine) RequestPoolStep(_ context.Context, pool string, delta int, reason string) (cluster.PoolRequest, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	target := delta
	for _, m := range f.machines {
		if m.Pool == pool && m.Phase.Counts() {
			target++
		}
	}
	f.asked = append(f.asked, target)
	f.evs = append(f.evs, events.Event{Kind: events.PoolScaleUp, Pool: pool, To: target, Reason: reason})
	return cluster.PoolRequest{Pool: pool, Target: target, Asked: target, Reason: reason}, nil
}
func (f *fakeEngine) Record(e events.Event) events.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.evs = append(f.evs, e)
	return e
}
func (f *fakeEngine) Now() time.Time { return f.now }

func (f *fakeEngine) events() []events.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]events.Event(nil), f.evs...)
}

func newFake(t testing.TB) *fakeEngine {
	cfg, err := config.Parse("t.yaml", []byte(`
pools:
  - name: workers
    min: 1
    max: 5
    machine: {cpus: 2, memory: 4GiB}
    cooldown: 3m
    alert: {upper: 0.8, lower: 0.2, for: 1m, repeat: 1m}
apps:
  - name: web
    image: hoist/demoapp:latest
    pools: [workers]
    replicas: {min: 1, max: 10}
    policies:
      - {type: alert, upper: 80, lower: 20, for: 30s}
`))
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeEngine{cfg: cfg, now: t0}
	for _, n := range []string{"w1", "w2"} {
		f.machines = append(f.machines, cluster.MachineRecord{Name: n, Pool: "workers", Phase: cluster.PhaseReady})
	}
	return f
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func post(t testing.TB, h http.Handler, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/v1/alerts/webhook", bytes.NewReader(body))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// The recorded Alertmanager 0.25 notification decodes into the mirror.
func TestDecodeRecordedPayload(t *testing.T) {
	p, err := Decode(bytes.NewReader(fixture(t, "alertmanager-0.25-firing.json")))
	if err != nil {
		t.Fatal(err)
	}
	a := p.Alerts[0]
	if p.Version != "4" || p.Receiver != "hoist" || p.Status != StatusFiring || len(p.Alerts) != 1 ||
		a.Fingerprint != "c690c7a69ae14fea" || a.Labels[LabelApp] != "web" || a.Labels["alertname"] != AppOverloaded ||
		a.StartsAt.IsZero() || !a.EndsAt.IsZero() || a.Annotations["summary"] == "" {
		t.Fatalf("decoded %+v", p)
	}
}

func TestFiringRepeatedResolved(t *testing.T) {
	f := newFake(t)
	x := NewExecutor(f, 0, nil)
	firing, resolved := fixture(t, "alertmanager-0.25-firing.json"), fixture(t, "alertmanager-0.25-resolved.json")

	if w := post(t, x, firing); w.Code != 200 || !strings.Contains(w.Body.String(), `"firing":1`) {
		t.Fatalf("firing: %d %s", w.Code, w.Body)
	}
	want := []policy.Firing{{Policy: 0, Kind: policy.Overloaded, Name: AppOverloaded, Since: t0}}
	if got := x.Firing("web"); !reflect.DeepEqual(got, want) {
		t.Fatalf("Firing = %+v, want %+v", got, want)
	}
	if got := x.Firing("api"); len(got) != 0 {
		t.Fatalf("another app sees %+v", got)
	}
	// Alertmanager repeats the notification: same fingerprint, nothing new.
	f.now = t0.Add(time.Minute)
	if w := post(t, x, firing); w.Code != 200 || !strings.Contains(w.Body.String(), `"repeated":1`) {
		t.Fatalf("repeat: %d %s", w.Code, w.Body)
	}
	if got := x.Firing("web"); len(got) != 1 || !got[0].Since.Equal(t0) {
		t.Fatalf("after the repeat: %+v", got)
	}
	f.now = t0.Add(90 * time.Second)
	if w := post(t, x, resolved); w.Code != 200 || !strings.Contains(w.Body.String(), `"resolved":1`) {
		t.Fatalf("resolved: %d %s", w.Code, w.Body)
	}
	if got := x.Firing("web"); len(got) != 0 {
		t.Fatalf("resolved alert still firing: %+v", got)
	}
	// A resolved alert hoist never saw firing changes nothing.
	if w := post(t, x, resolved); w.Code != 200 || !strings.Contains(w.Body.String(), `"ignored":1`) {
		t.Fatalf("unknown resolved: %d %s", w.Code, w.Body)
	}
	evs := f.events()
	if len(evs) != 2 || evs[0].Kind != KindFiring || evs[0].App != "web" || evs[1].Kind != KindResolved ||
		!strings.Contains(evs[1].Reason, "resolved after 1m30s") || !strings.Contains(evs[0].Reason, "web is overloaded: cpu above 80 for 30s") {
		t.Fatalf("events: %+v", evs)
	}
}

// One bad alert refuses the whole notification: nothing of it applies.
func TestBadNotificationChangesNothing(t *testing.T) {
	f := newFake(t)
	x := NewExecutor(f, 0, nil)
	good := string(fixture(t, "alertmanager-0.25-firing.json"))
	cases := map[string]string{
		"bad status":   strings.Replace(good, `"alerts":[{"status":"firing"`, `"alerts":[{"status":"firing","labels":{"alertname":"HoistAppOverloaded","hoist_app":"api"},"fingerprint":"aa"},{"status":"pending"`, 1),
		"bad policy":   strings.Replace(good, `"hoist_policy":"0"`, `"hoist_policy":"x"`, 1),
		"app and pool": strings.Replace(good, `"hoist_app":"web"`, `"hoist_app":"web","hoist_pool":"workers"`, 1),
		"bad app name": strings.Replace(good, `"hoist_app":"web"`, `"hoist_app":"Web!"`, 1),
		"version":      strings.Replace(good, `"version":"4"`, `"version":"3"`, 1),
		"not json":     good[:len(good)/2],
		"trailing":     good + `{}`,
	}
	for name, body := range cases {
		if w := post(t, x, []byte(body)); w.Code != http.StatusBadRequest {
			t.Errorf("%s: %d %s", name, w.Code, w.Body)
		}
	}
	if st := x.State(); len(st) != 0 || len(f.events()) != 0 {
		t.Fatalf("a refused notification changed state %+v / events %+v", st, f.events())
	}
	if w := httptest.NewRecorder(); true {
		x.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v1/alerts/webhook", nil))
		if w.Code != http.StatusMethodNotAllowed {
			t.Errorf("GET: %d", w.Code)
		}
	}
}

// Alerts of other receivers' rules (no hoist label, another name) are
// acknowledged and ignored.
func TestForeignAlertsIgnored(t *testing.T) {
	f := newFake(t)
	x := NewExecutor(f, 0, nil)
	body := strings.NewReplacer(`"alertname":"HoistAppOverloaded"`, `"alertname":"DiskFull"`).Replace(string(fixture(t, "alertmanager-0.25-firing.json")))
	if w := post(t, x, []byte(body)); w.Code != 200 || !strings.Contains(w.Body.String(), `"ignored":1`) || len(x.State()) != 0 {
		t.Fatalf("%d %s %+v", w.Code, w.Body, x.State())
	}
}

func poolPayload(status, name, fp string) []byte {
	return []byte(`{"version":"4","status":"` + status + `","receiver":"hoist","alerts":[{"status":"` + status +
		`","labels":{"alertname":"` + name + `","hoist_pool":"workers"},"annotations":{"summary":"pool workers is busy"},"startsAt":"2026-01-05T12:00:00Z","endsAt":"0001-01-01T00:00:00Z","fingerprint":"` + fp + `"}]}`)
}

// Pool alerts ask the engine for machines: once, again every repeat while
// firing, never a removal within the pool's cooldown of an addition, and
// nothing once resolved.
func TestPoolAlerts(t *testing.T) {
	f := newFake(t) // 2 machines; repeat 1m; cooldown 3m
	x := NewExecutor(f, 0, nil)
	ctx := context.Background()
	if w := post(t, x, poolPayload("firing", PoolOverloaded, "p1")); w.Code != 200 || !strings.Contains(w.Body.String(), `"pool_steps":1`) {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if !reflect.DeepEqual(f.asked, []int{3}) {
		t.Fatalf("asked %v, want [3]", f.asked)
	}
	f.now = t0.Add(30 * time.Second)
	post(t, x, poolPayload("firing", PoolOverloaded, "p1")) // a repeat within repeat
	if n := x.Step(ctx); n != 0 || len(f.asked) != 1 {
		t.Fatalf("stepped again within repeat: %v", f.asked)
	}
	f.machines = append(f.machines, cluster.MachineRecord{Name: "w3", Pool: "workers", Phase: cluster.PhaseBooting})
	f.now = t0.Add(time.Minute)
	if n := x.Step(ctx); n != 1 || !reflect.DeepEqual(f.asked, []int{3, 4}) {
		t.Fatalf("after repeat: asked %v", f.asked)
	}
	post(t, x, poolPayload("resolved", PoolOverloaded, "p1"))
	// Underloaded fires 1m after the last addition: the 3m cooldown holds it.
	f.now = t0.Add(2 * time.Minute)
	post(t, x, poolPayload("firing", PoolUnderloaded, "p2"))
	if len(f.asked) != 2 {
		t.Fatalf("removal within the cooldown: %v", f.asked)
	}
	f.now = t0.Add(4 * time.Minute)
	if n := x.Step(ctx); n != 1 || !reflect.DeepEqual(f.asked, []int{3, 4, 2}) {
		t.Fatalf("removal after the cooldown: asked %v", f.asked)
	}
	post(t, x, poolPayload("resolved", PoolUnderloaded, "p2"))
	f.now = t0.Add(time.Hour)
	if n := x.Step(ctx); n != 0 {
		t.Fatalf("resolved alerts still act")
	}
	var reasons []string
	for _, e := range f.events() {
		if e.Kind == events.PoolScaleUp {
			reasons = append(reasons, e.Reason)
		}
	}
	if len(reasons) != 3 || !strings.Contains(reasons[0], "alert HoistPoolOverloaded firing for 0s (pool workers is busy)") {
		t.Fatalf("pool change reasons: %q", reasons)
	}
}

func TestExpire(t *testing.T) {
	f := newFake(t)
	x := NewExecutor(f, 5*time.Minute, nil)
	post(t, x, fixture(t, "alertmanager-0.25-firing.json"))
	f.now = t0.Add(4 * time.Minute)
	x.Step(context.Background())
	if len(x.Firing("web")) != 1 {
		t.Fatal("expired too early")
	}
	f.now = t0.Add(6 * time.Minute)
	x.Step(context.Background())
	if len(x.Firing("web")) != 0 {
		t.Fatal("not expired")
	}
	evs := f.events()
	if last := evs[len(evs)-1]; last.Kind != KindResolved || !strings.Contains(last.Reason, "expired") {
		t.Fatalf("events %+v", evs)
	}
}

func TestForget(t *testing.T) {
	f := newFake(t)
	x := NewExecutor(f, 0, nil)
	post(t, x, fixture(t, "alertmanager-0.25-firing.json"))
	x.Forget(func(a string) bool { return a != "web" }, func(string) bool { return true })
	if len(x.State()) != 0 {
		t.Fatal("the alerts of a deleted app survived")
	}
}

func TestGuard(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("webhook-token-0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bearer, err := Guard(config.HTTPAuth{BearerTokenFile: tokenFile}, ok)
	if err != nil {
		t.Fatal(err)
	}
	basic, err := Guard(config.HTTPAuth{Username: "am", Password: "password-0123456789"}, ok)
	if err != nil {
		t.Fatal(err)
	}
	try := func(h http.Handler, header string) int {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		if header != "" {
			r.Header.Set("Authorization", header)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	for _, c := range []struct {
		h      http.Handler
		header string
		want   int
	}{
		{bearer, "", 401},
		{bearer, "Bearer wrong", 401},
		{bearer, "Bearer webhook-token-0123456789abcdef", 204}, // what Alertmanager sends (fixture's headers)
		{basic, basicAuth("am", "password-0123456789"), 204},
		{basic, basicAuth("am", "password-0123456788"), 401},
		{basic, "Bearer webhook-token-0123456789abcdef", 401},
	} {
		if got := try(c.h, c.header); got != c.want {
			t.Errorf("%q: %d, want %d", c.header, got, c.want)
		}
	}
	// Rotating the token file takes effect at once.
	if err := os.WriteFile(tokenFile, []byte("rotated-token-0123456789abcdef"), 0o600); err != nil {
		t.Fatal(err)
	}
	if try(bearer, "Bearer webhook-token-0123456789abcdef") != 401 || try(bearer, "Bearer rotated-token-0123456789abcdef") != 204 {
		t.Error("rotation not picked up")
	}
	if _, err := Guard(config.HTTPAuth{}, ok); !errors.Is(err, ErrNoCredential) {
		t.Errorf("an empty credential must be refused: %v", err)
	}
	weak := filepath.Join(dir, "weak")
	os.WriteFile(weak, []byte("short\n"), 0o600)
	for _, c := range []config.HTTPAuth{{BearerToken: "0123456789abcde"}, {BearerTokenFile: weak}, {Username: "am", Password: "pw"}, {Username: "am", PasswordFile: weak}} {
		if _, err := Guard(c, ok); !errors.Is(err, ErrWeakCredential) {
			t.Errorf("%+v: a short credential must be refused: %v", c, err)
		}
	}
	if _, err := Guard(config.HTTPAuth{BearerTokenFile: filepath.Join(dir, "missing")}, ok); err == nil {
		t.Error("a missing token file must be refused at start")
	}
}

func basicAuth(user, pw string) string {
	r := &http.Request{Header: http.Header{}}
	r.SetBasicAuth(user, pw)
	return r.Header.Get("Authorization")
}

// TestGuardLimitsGuesses: failed attempts are limited per client, over a
// real listener, counting every loopback address as one client; the right
// credential is refused too once the client is locked out.
func TestGuardLimitsGuesses(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	g, err := GuardWith(config.HTTPAuth{BearerToken: "webhook-token-0123456789"}, auth.NewLimiter(10, time.Hour, nil), ok)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(g)
	defer ts.Close()
	post := func(i int, token string) int {
		tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%20))}}).DialContext}
		defer tr.CloseIdleConnections()
		req, _ := http.NewRequest("POST", ts.URL, strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	codes := map[int]int{}
	for i := 0; i < 40; i++ {
		codes[post(i, fmt.Sprintf("guess-guess-guess-%02d", i))]++
	}
	if codes[401] != 10 || codes[429] != 30 {
		t.Fatalf("40 guesses from 20 loopback addresses: %v", codes)
	}
	if c := post(0, "webhook-token-0123456789"); c != 429 {
		t.Fatalf("the right token from a locked-out client: %d", c)
	}
}

// Any bytes: no panic, and a refused notification changes no state and
// records nothing.
func FuzzWebhook(f *testing.F) {
	f.Add(fixture(f, "alertmanager-0.25-firing.json"))
	f.Add(fixture(f, "alertmanager-0.25-resolved.json"))
	f.Add(poolPayload("firing", PoolOverloaded, "p9"))
	f.Add([]byte(`{"version":"4","alerts":[{"status":"firing","labels":{"alertname":"x_overloaded","hoist_app":"a","hoist_policy":"-1"},"fingerprint":"f"}]}`))
	f.Add([]byte(`{"version":"4","alerts":[null,{}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		fe := newFake(t)
		x := NewExecutor(fe, 0, nil)
		post(t, x, poolPayload("firing", PoolUnderloaded, "seed")) // some state to keep
		before, evs, asked := x.State(), len(fe.events()), len(fe.asked)
		w := post(t, x, body)
		if w.Code == http.StatusOK {
			return
		}
		if w.Code != http.StatusBadRequest && w.Code != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d", w.Code)
		}
		if after := x.State(); !reflect.DeepEqual(before, after) || len(fe.events()) != evs || len(fe.asked) != asked {
			t.Fatalf("refused notification changed state:\n%+v\n%+v", before, after)
		}
	})
}
