package swarm

import (
	"context"
	"errors"
	"testing"

	"github.com/moby/moby/client"

	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/store"
)

type noMetrics struct{}

func (noMetrics) Value(context.Context, engine.MetricQuery) (float64, error) {
	return 0, engine.ErrNoData
}

// failingList is the fake whose service listing can fail.
type failingList struct {
	*fakeAPI
	fail bool
}

func (f *failingList) ServiceList(ctx context.Context, o client.ServiceListOptions) (client.ServiceListResult, error) {
	if f.fail {
		return client.ServiceListResult{}, errors.New("daemon busy")
	}
	return f.fakeAPI.ServiceList(ctx, o)
}

// The engine prunes on Swarm through Orchestrator.Remove what it deployed
// (hoist.managed=true) and no longer manages; a failed listing prunes nothing
// and a service hoist did not deploy is never touched.
func TestEnginePrunesOnSwarm(t *testing.T) {
	f := &failingList{fakeAPI: newFake()}
	o := New(f, Options{Pools: []string{"workers"}})
	ctx := context.Background()
	a, b := demoApp(), demoApp()
	b.Name = "old"
	if _, err := f.ServiceCreate(ctx, client.ServiceCreateOptions{Spec: Spec(config.App{Name: "theirs", Image: "x"}, 1, nil)}); err != nil {
		t.Fatal(err)
	}
	delete(f.services["theirs"].Spec.Labels, LabelManaged) // made by someone else
	evs := events.NewMemory(100)
	e, err := engine.New(&config.Config{Apps: []config.App{a, b}}, engine.Deps{Orchestrator: o, Metrics: noMetrics{}, Store: store.NewMemory(), Events: evs})
	if err != nil {
		t.Fatal(err)
	}
	tick := func() {
		t.Helper()
		if _, err := e.Tick(ctx); err != nil && !f.fail {
			t.Fatal(err)
		}
	}
	tick()
	if f.services["demo"] == nil || f.services["old"] == nil {
		t.Fatalf("not deployed: %v", f.services)
	}
	if err := e.SetConfig(&config.Config{Apps: []config.App{a}}); err != nil {
		t.Fatal(err)
	}
	tick() // first look
	f.fail = true
	tick() // no observation, no decision
	tick()
	if f.services["old"] == nil {
		t.Fatal("removed after one look")
	}
	f.fail = false
	tick()
	if f.services["old"] != nil || f.services["demo"] == nil || f.services["theirs"] == nil {
		t.Fatalf("after the second look: %v", f.services)
	}
	if n := len(evs.List(events.Filter{Kinds: []events.Kind{events.AppRemoved}})); n != 1 {
		t.Fatalf("%d app.removed events, want 1", n)
	}
}
