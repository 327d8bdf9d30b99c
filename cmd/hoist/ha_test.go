package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/clock"
	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/lease"
)

type nopProvider struct{ created []string }

func (p *nopProvider) Create(_ context.Context, name string) (cluster.Machine, error) {
	p.created = append(p.created, name)
	return cluster.Machine{Name: name}, nil
}
func (p *nopProvider) Destroy(context.Context, string) error           { return nil }
func (p *nopProvider) List(context.Context) ([]cluster.Machine, error) { return nil, nil }

func testHA(t *testing.T, store lease.Store, id, url string) (*haFeature, *events.Memory) {
	t.Helper()
	h := &haFeature{opt: haOptions{ID: id, Lease: lease.DefaultLease, Renew: lease.DefaultRenew}, log: slog.New(slog.DiscardHandler),
		leases: store, machines: newResettableStore()}
	rec := events.NewMemory(100)
	if err := h.elect(url, rec); err != nil {
		t.Fatal(err)
	}
	return h, rec
}

func TestHAStandbyRedirectsWritesAndHealthSaysWhoLeads(t *testing.T) {
	ctx := context.Background()
	store := &lease.Memory{}
	leader, rec := testHA(t, store, "a", "http://127.0.0.1:7001")
	standby, _ := testHA(t, store, "b", "http://127.0.0.1:7002")
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })

	// No leader yet: writes to a standby get a 503 saying so.
	w := httptest.NewRecorder()
	standby.wrap(next).ServeHTTP(w, httptest.NewRequest("POST", "/v1/apps", strings.NewReader("{}")))
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "no_leader") {
		t.Fatalf("no leader: %d %s", w.Code, w.Body)
	}

	leader.elector.Step(ctx)
	standby.elector.Step(ctx)
	if evs := rec.List(events.Filter{}); len(evs) != 1 || evs[0].Kind != events.LeaderAcquired {
		t.Fatalf("leader events %+v", evs)
	}
	w = httptest.NewRecorder()
	standby.wrap(next).ServeHTTP(w, httptest.NewRequest("POST", "/v1/apps?x=1", strings.NewReader("{}")))
	if w.Code != http.StatusTemporaryRedirect || w.Header().Get("Location") != "http://127.0.0.1:7001/v1/apps?x=1" {
		t.Fatalf("standby write: %d %q %s", w.Code, w.Header().Get("Location"), w.Body)
	}
	w = httptest.NewRecorder()
	standby.wrap(next).ServeHTTP(w, httptest.NewRequest("GET", "/v1/apps", nil))
	if w.Code != http.StatusNoContent {
		t.Errorf("standby read: %d", w.Code)
	}
	w = httptest.NewRecorder()
	leader.wrap(next).ServeHTTP(w, httptest.NewRequest("POST", "/v1/apps", strings.NewReader("{}")))
	if w.Code != http.StatusNoContent {
		t.Errorf("leader write: %d", w.Code)
	}
	w = httptest.NewRecorder()
	standby.wrap(next).ServeHTTP(w, httptest.NewRequest("GET", "/v1/health", nil))
	var hh haHealth
	if err := json.Unmarshal(w.Body.Bytes(), &hh); err != nil || hh.HA.Leading || hh.HA.Leader != "a" || hh.HA.LeaderURL != "http://127.0.0.1:7001" || hh.HA.Epoch != 1 {
		t.Errorf("standby health %s (%v)", w.Body, err)
	}
}

func TestHAProvidersNeedLease(t *testing.T) {
	ctx := context.Background()
	store := &lease.Memory{}
	h, _ := testHA(t, store, "a", "")
	p := &nopProvider{}
	ps := map[string]engine.Provider{"w": p}
	h.providers(ps)
	if _, err := ps["w"].Create(ctx, "m1"); !errors.Is(err, lease.ErrNotLeader) {
		t.Fatalf("create without a lease: %v", err)
	}
	h.elector.Step(ctx)
	if _, err := ps["w"].Create(ctx, "m1"); err != nil {
		t.Fatal(err)
	}
	if len(p.created) != 1 {
		t.Errorf("provider calls %v", p.created)
	}
	if h.engineStore(nil) == nil {
		t.Error("no engine store")
	}
}

// A leader paused past its lease's deadline (SIGSTOP, a frozen VM) does not
// start a tick when it resumes, though its elector has not yet run the
// round that steps it down.
func TestHANoTickOnAnExpiredLease(t *testing.T) {
	ctx := context.Background()
	vc := clock.NewVirtual(time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC))
	h := &haFeature{opt: haOptions{ID: "a", Lease: lease.DefaultLease, Renew: lease.DefaultRenew}, log: slog.New(slog.DiscardHandler),
		leases: &lease.Memory{}, machines: newResettableStore(), clock: vc}
	if err := h.elect("", events.NewMemory(10)); err != nil {
		t.Fatal(err)
	}
	if h.acting(ctx, nil) {
		t.Fatal("acting before leading")
	}
	h.elector.Step(ctx)
	h.mu.Lock()
	h.fresh = false // the new leader's first read of the swarm, done
	h.mu.Unlock()
	if !h.acting(ctx, nil) {
		t.Fatal("the leader does not act")
	}
	vc.Advance(lease.DefaultLease * 2 / 3) // the deadline, with no renewal and no round
	if h.acting(ctx, nil) {
		t.Error("a leader past its lease's deadline ticks")
	}
	h.elector.Step(ctx) // too late to renew: steps down
	if h.elector.Status().Epoch != 1 || h.acting(ctx, nil) {
		t.Errorf("after the round: %+v, acting %v", h.elector.Status(), h.acting(ctx, nil))
	}
}
