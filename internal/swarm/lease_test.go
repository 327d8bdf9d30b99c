package swarm

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/clock"
	"github.com/hoist/hoist/internal/lease"
)

func TestLeaseStoreCompareAndSwap(t *testing.T) {
	ctx := context.Background()
	fake := newFake()
	s := NewLeaseStore(fake, "")
	rec, v, err := s.Get(ctx)
	if err != nil || v != 0 || rec.Holder != "" {
		t.Fatalf("empty: %+v %d %v", rec, v, err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	v1, err := s.Put(ctx, lease.Record{Holder: "a", Epoch: 1, Renewed: now, Address: "http://a"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r := *fake.services[LeaseService].Spec.Mode.Replicated.Replicas; r != 0 {
		t.Errorf("lease service with %d replicas", r)
	}
	got, v, err := s.Get(ctx)
	if err != nil || v != v1 || got.Holder != "a" || got.Epoch != 1 || !got.Renewed.Equal(now) || got.Address != "http://a" {
		t.Fatalf("read back %+v at %d (%v), wrote at %d", got, v, err, v1)
	}
	if _, err := s.Put(ctx, lease.Record{Holder: "b", Epoch: 2}, 0); err != nil {
		// The fake does not refuse a second create; Swarm does (e2e).
		t.Logf("second create: %v", err)
	}
	fake.services[LeaseService].Spec.Labels = labelsOf(nil, lease.Record{Holder: "a", Epoch: 1})
	_, v, _ = s.Get(ctx)
	if _, err := s.Put(ctx, lease.Record{Holder: "b", Epoch: 2}, v+7); !errors.Is(err, lease.ErrConflict) {
		t.Fatalf("stale version: %v", err)
	}
	v2, err := s.Put(ctx, lease.Record{Holder: "b", Epoch: 2}, v)
	if err != nil || v2 <= v {
		t.Fatalf("current version: %d %v", v2, err)
	}
	fake.services[LeaseService].Spec.Labels[LabelLeaseEpoch] = "two"
	if _, _, err := s.Get(ctx); err == nil {
		t.Error("a garbled epoch label was read as a record")
	}
}

func TestLeaseStoreElection(t *testing.T) {
	ctx := context.Background()
	fake := newFake()
	c := clock.NewVirtual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	a, err := lease.New(NewLeaseStore(fake, ""), lease.Options{ID: "a", Clock: c})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := lease.New(NewLeaseStore(fake, ""), lease.Options{ID: "b", Clock: c})
	a.Step(ctx)
	b.Step(ctx)
	if !a.Leading() || b.Leading() {
		t.Fatalf("a %v b %v", a.Leading(), b.Leading())
	}
	// a stops renewing; b takes over after the lease, with epoch 2.
	for i := 0; i < 10 && !b.Leading(); i++ {
		c.Advance(lease.DefaultRenew)
		b.Step(ctx)
	}
	if !b.Leading() || b.Status().Epoch != 2 {
		t.Fatalf("b %+v", b.Status())
	}
	a.Step(ctx)
	if a.Leading() {
		t.Fatal("a still leading after b took over")
	}
}
