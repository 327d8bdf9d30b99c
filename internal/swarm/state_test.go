package swarm

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/lease"
	"github.com/hoist/hoist/internal/store"
	"github.com/hoist/hoist/internal/throttle"
)

func TestStateRoundTrip(t *testing.T) {
	ctx := context.Background()
	fake := newFake()
	fence := &epochFence{epoch: 3}
	s := NewState(copying{fake}, "", fence)
	if apps, err := s.Apps(ctx); err != nil || len(apps) != 0 {
		t.Fatalf("empty: %v %v", apps, err)
	}
	app := config.App{Name: "web", Image: "nginx", Replicas: config.Replicas{Min: 1, Max: 4}}
	if err := s.PutApp(ctx, app); err != nil {
		t.Fatal(err)
	}
	if err := s.PutApp(ctx, config.App{Name: "api", Image: "api:1"}); err != nil {
		t.Fatal(err)
	}
	apps, err := s.Apps(ctx)
	if err != nil || len(apps) != 2 || apps[1].Name != "web" || apps[1].Replicas.Max != 4 || apps[1].Image != "nginx" {
		t.Fatalf("apps %+v %v", apps, err)
	}
	if got := fake.services[StateService].Spec.Labels[LabelEpoch]; got != "3" {
		t.Errorf("state epoch label %q", got)
	}
	if err := s.PutOverride(ctx, store.Override{App: "web", Replicas: config.Replicas{Min: 2, Max: 5}}); err != nil {
		t.Fatal(err)
	}
	if ovs, err := s.Overrides(ctx); err != nil || ovs["web"].Replicas.Max != 5 {
		t.Fatalf("overrides %+v %v", ovs, err)
	}
	if err := s.DeleteApp(ctx, "api"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteApp(ctx, "api"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	r := cluster.PoolRequest{Pool: "workers", Seq: 2, Target: 3, Time: time.Unix(0, 0).UTC()}
	if err := s.PutPoolRequest(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := s.DeletePoolRequest(ctx, "workers", 1); err != nil {
		t.Fatal(err)
	}
	if reqs, _ := s.PoolRequests(ctx); len(reqs) != 1 || reqs[0].Target != 3 {
		t.Fatalf("a newer request was deleted by an older number: %+v", reqs)
	}
	if err := s.DeletePoolRequest(ctx, "workers", 2); err != nil {
		t.Fatal(err)
	}
	if reqs, _ := s.PoolRequests(ctx); len(reqs) != 0 {
		t.Fatalf("requests left %+v", reqs)
	}
	// A deposed leader writes nothing.
	old := NewState(copying{fake}, "", &epochFence{epoch: 2})
	if err := old.PutApp(ctx, config.App{Name: "x", Image: "x"}); !errors.Is(err, lease.ErrFenced) {
		t.Errorf("stale state write: %v", err)
	}
	none := NewState(copying{fake}, "", &epochFence{err: lease.ErrNotLeader})
	if err := none.PutApp(ctx, config.App{Name: "x", Image: "x"}); !errors.Is(err, lease.ErrNotLeader) {
		t.Errorf("standby state write: %v", err)
	}
	// Damage is an error naming the record, never half an app.
	fake.services[StateService].Spec.Labels[stateApp+"web"] = "name: other"
	if _, err := s.Apps(ctx); err == nil {
		t.Error("an inconsistent app record was read")
	}
}

// Rate limits kept in the state service: what a new leader's book reads.
func TestStateThrottles(t *testing.T) {
	ctx := context.Background()
	fake := newFake()
	s := NewState(copying{fake}, "", &epochFence{epoch: 3})
	t0 := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	book, err := throttle.OpenBook(ctx, s, t0, nil)
	if err != nil {
		t.Fatal(err)
	}
	book.Set(throttle.Entry{App: "web", Tasks: []string{"t1"}, Limit: throttle.Limit{Rate: 3e6}, Since: t0, Until: t0.Add(10 * time.Minute), By: "anomaly"})
	book.Set(throttle.Entry{App: "api", Limit: throttle.Limit{Rate: 1e6}, Since: t0, Until: t0.Add(time.Minute), By: "ops"})
	if got := fake.services[StateService].Spec.Labels[stateThrottle+"web"]; got == "" {
		t.Fatal("no label for web's limit")
	}
	// The next leader, two minutes later: api's limit expired and is deleted.
	s = NewState(copying{fake}, "", &epochFence{epoch: 4})
	next, err := throttle.OpenBook(ctx, s, t0.Add(2*time.Minute), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := next.Active(t0.Add(2 * time.Minute)); len(got) != 1 || got[0].App != "web" || got[0].Tasks[0] != "t1" {
		t.Fatalf("the next leader's book: %+v", got)
	}
	if _, ok := fake.services[StateService].Spec.Labels[stateThrottle+"api"]; ok {
		t.Fatal("the expired limit is still stored")
	}
	if err := s.DeleteThrottle(ctx, "none"); err != nil {
		t.Fatalf("deleting a missing limit: %v", err)
	}
	fake.services[StateService].Spec.Labels[stateThrottle+"web"] = `{"app":"other"}`
	if _, err := s.Throttles(ctx); err == nil {
		t.Error("an inconsistent rate limit was read")
	}
}
