package engine

import (
	"testing"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
)

// startApps leaves a memory as app alone would: a memory for each app with a
// service, none for the others, the policies' states at their number, and
// a name met again with other policies replaced by app.
func TestStartAppsIsAppForEach(t *testing.T) {
	pol := func(n int) []config.Policy { return make([]config.Policy, n) }
	apps := []config.App{{Name: "a", Policies: pol(1)}, {Name: "b", Policies: pol(2)}, {Name: "c", Policies: pol(1)},
		{Name: "a", Policies: pol(3)}, {Name: "d"}}
	svc := &cluster.Service{}
	svcs := []*cluster.Service{svc, svc, nil, svc, svc}
	want, got := newMemory(), newMemory()
	got.startApps(apps, svcs)
	for i, a := range apps {
		if svcs[i] != nil {
			want.app(a.Name, len(a.Policies))
			got.app(a.Name, len(a.Policies))
		}
	}
	if len(got.apps) != len(want.apps) {
		t.Fatalf("%d memories, want %d", len(got.apps), len(want.apps))
	}
	for name, w := range want.apps {
		g := got.apps[name]
		if g == nil {
			t.Fatalf("no memory for %s", name)
		}
		if len(g.target) != len(w.target) || len(g.threshold) != len(w.threshold) || len(g.predict) != len(w.predict) ||
			cap(g.target) != len(g.target) || cap(g.threshold) != len(g.threshold) || cap(g.predict) != len(g.predict) {
			t.Errorf("%s: %d/%d/%d states (cap %d/%d/%d), want %d each", name, len(g.target), len(g.threshold), len(g.predict),
				cap(g.target), cap(g.threshold), cap(g.predict), len(w.target))
		}
	}
	if got.apps["a"] != got.app("a", 3) {
		t.Error("app replaced a's memory again")
	}
}
