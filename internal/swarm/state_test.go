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
