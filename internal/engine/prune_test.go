package engine

import (
	"slices"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
)

func TestDecidePrune(t *testing.T) {
	t0 := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	managed := map[string]string{cluster.LabelManaged: "true"}
	kept := map[string]string{cluster.LabelManaged: "true", cluster.LabelKeep: "true"}
	svc := func(name string, labels map[string]string) cluster.Service {
		return cluster.Service{Name: name, Labels: labels}
	}
	for _, tc := range []struct {
		name     string
		services []cluster.Service
		apps     []string
		orphans  map[string]time.Time // memory before
		want     []ServicePrune       // Service, Remove, Keep only
		after    []string             // orphans remembered after
	}{
		{name: "every service has its app",
			services: []cluster.Service{svc("web", managed), svc("api", managed)}, apps: []string{"web", "api"}},
		{name: "first look: remembered, not removed",
			services: []cluster.Service{svc("web", managed), svc("old", managed)}, apps: []string{"web"},
			want: []ServicePrune{{Service: "old"}}, after: []string{"old"}},
		{name: "second look: removed",
			services: []cluster.Service{svc("web", managed), svc("old", managed)}, apps: []string{"web"},
			orphans: map[string]time.Time{"old": t0.Add(-10 * time.Second)},
			want:    []ServicePrune{{Service: "old", Remove: true}}, after: []string{"old"}},
		{name: "not deployed by hoist: never touched",
			services: []cluster.Service{svc("theirs", nil), svc("labelled", map[string]string{"hoist.enable": "true"}),
				svc("false", map[string]string{cluster.LabelManaged: "false"})}},
		{name: "kept by its label",
			services: []cluster.Service{svc("old", kept)}, orphans: map[string]time.Time{"old": t0.Add(-time.Hour)},
			want: []ServicePrune{{Service: "old", Keep: true}}, after: []string{"old"}},
		{name: "back in the descriptor: forgotten",
			services: []cluster.Service{svc("old", managed)}, apps: []string{"old"},
			orphans: map[string]time.Time{"old": t0.Add(-10 * time.Second)}},
		{name: "gone meanwhile: forgotten",
			orphans: map[string]time.Time{"old": t0.Add(-10 * time.Second)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Snapshot{Time: t0, State: cluster.State{Services: tc.services}}
			for _, a := range tc.apps {
				s.Apps = append(s.Apps, config.App{Name: a})
			}
			m := newMemory()
			for k, v := range tc.orphans {
				m.orphans[k] = v
			}
			got := decidePrune(s, m, func(name string) bool { return slices.Contains(tc.apps, name) })
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i := range got {
				g := got[i]
				if g.Service != tc.want[i].Service || g.Remove != tc.want[i].Remove || g.Keep != tc.want[i].Keep || g.Reason == "" {
					t.Errorf("got %+v, want %+v", g, tc.want[i])
				}
			}
			if len(m.orphans) != len(tc.after) {
				t.Errorf("remembered %v, want %v", m.orphans, tc.after)
			}
			for _, name := range tc.after {
				if _, ok := m.orphans[name]; !ok {
					t.Errorf("forgot %s", name)
				}
			}
		})
	}
}
