package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/config"
)

func alertPolicy() *config.Policy {
	a := config.App{Policies: []config.Policy{{Type: config.PolicyAlert, Upper: 80, Lower: f(20), StepUp: 2}}}
	a.SetDefaults()
	return &a.Policies[0]
}

func TestAlertSteps(t *testing.T) {
	p := alertPolicy() // step_up 2, step_down 1 (default), repeat 1m (default)
	if p.Metric != "cpu" || p.Repeat.D() != time.Minute || p.StepDown != 1 {
		t.Fatalf("defaults: %+v", p)
	}
	since := t0.Add(-30 * time.Second)
	over := Firing{Policy: 0, Kind: Overloaded, Name: "HoistAppOverloaded", Since: since}
	under := Firing{Policy: 0, Kind: Underloaded, Name: "HoistAppUnderloaded", Since: since}
	other := Firing{Policy: 1, Kind: Overloaded, Name: "HoistAppOverloaded", Since: since}
	cases := []struct {
		name    string
		firing  []Firing
		changes []Change
		now     time.Time
		want    int
		reason  string
	}{
		{"nothing firing", nil, nil, t0, 5, "no alert firing"},
		{"another policy's alert", []Firing{other}, nil, t0, 5, "no alert firing"},
		{"overloaded steps up", []Firing{over}, nil, t0, 7, "alert HoistAppOverloaded firing for 30s: +2"},
		{"underloaded steps down", []Firing{under}, nil, t0, 4, "firing for 30s: -1"},
		{"overloaded wins over underloaded", []Firing{under, over}, nil, t0, 7, "+2"},
		// The step for this alert was taken 10 s ago: a repeated webhook or
		// the next tick must not step again.
		{"stepped already", []Firing{over}, []Change{{Time: t0.Add(-10 * time.Second), Delta: 2}}, t0, 5, "stepped 10s ago, again after 1m0s"},
		// Alertmanager repeats a firing alert; after repeat it steps again.
		{"repeat elapsed", []Firing{over}, []Change{{Time: since, Delta: 2}}, since.Add(time.Minute), 7, "+2"},
		// A step before the alert began belongs to an earlier alert.
		{"earlier episode", []Firing{over}, []Change{{Time: since.Add(-time.Second), Delta: 1}}, t0, 7, "+2"},
		// A step down does not count as the overloaded alert's step.
		{"opposite change", []Firing{over}, []Change{{Time: t0.Add(-time.Second), Delta: -1}}, t0, 7, "+2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := Alert(p, 0, Input{Now: c.now, Current: 5, Ready: 5, Changes: c.changes}, c.firing)
			if rec.Replicas != c.want || rec.NoData || !strings.Contains(rec.Reason, c.reason) {
				t.Errorf("got %d %q (no data %v), want %d with %q", rec.Replicas, rec.Reason, rec.NoData, c.want, c.reason)
			}
			// Quiet, the policy abstains: it must not hold the others' scale-down.
			if quiet := c.reason == "no alert firing"; rec.Abstain != quiet {
				t.Errorf("abstain %v, want %v", rec.Abstain, quiet)
			}
		})
	}
}

// The earliest of several alerts of one kind sets the episode: a second
// overloaded alert (another rule of the same policy) does not step again.
func TestAlertEarliestSince(t *testing.T) {
	p := alertPolicy()
	a := Firing{Kind: Overloaded, Name: "a", Since: t0.Add(-time.Minute)}
	b := Firing{Kind: Overloaded, Name: "b", Since: t0.Add(-5 * time.Second)}
	rec := Alert(p, 0, Input{Now: t0, Current: 3, Changes: []Change{{Time: t0.Add(-20 * time.Second), Delta: 2}}}, []Firing{b, a})
	if rec.Replicas != 3 || !strings.Contains(rec.Reason, "alert a firing for 1m0s") {
		t.Errorf("got %d %q", rec.Replicas, rec.Reason)
	}
}
