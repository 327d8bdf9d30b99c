package policy

import (
	"fmt"
	"time"

	"github.com/hoist/hoist/internal/config"
)

// Alert kinds: what a firing alert asks for.
const (
	Overloaded  = "overloaded"
	Underloaded = "underloaded"
)

// Firing is an alert that fires now, as hoist's alert executor knows it.
type Firing struct {
	// Policy is the index of the app's alert policy the rule was made from;
	// negative for an alert that names no policy (a rule written by hand),
	// which every alert policy of the app follows.
	Policy int
	// Kind is Overloaded or Underloaded.
	Kind string
	// Name is the alert's name (alertname).
	Name string
	// Since is when hoist first received it firing, on the engine's clock (the
	// alert's own startsAt is Prometheus's wall clock, which a simulated
	// clock does not share).
	Since time.Time
}

// Alert follows the alerts of one alert policy (index idx of the app's
// policies): while an overloaded alert fires it adds StepUp, while an
// underloaded one fires it removes StepDown; overloaded wins when both fire.
// It steps once per alert and again every Repeat while the alert keeps
// firing, as Alertmanager repeats it. A change in the same direction since
// the alert began, by any policy, counts as this alert's step, so neither a
// repeated webhook nor a second tick steps twice; the app's cooldowns and
// bounds then apply as for any policy. With no alert firing it abstains, so
// the app's other policies decide alone. Pure: everything comes from in.
func Alert(p *config.Policy, idx int, in Input, firing []Firing) Recommendation {
	var over, under *Firing
	for i := range firing {
		f := &firing[i]
		if f.Policy != idx && f.Policy >= 0 {
			continue
		}
		switch f.Kind {
		case Overloaded:
			if over == nil || f.Since.Before(over.Since) {
				over = f
			}
		case Underloaded:
			if under == nil || f.Since.Before(under.Since) {
				under = f
			}
		}
	}
	f, delta := over, p.StepUp
	if f == nil {
		f, delta = under, -p.StepDown
	}
	if f == nil {
		return Recommendation{Replicas: in.Current, Abstain: true, Reason: "no alert firing"}
	}
	age := in.Now.Sub(f.Since).Round(time.Second)
	last := lastChange(in.Changes, delta > 0)
	if !last.IsZero() && !last.Before(f.Since) {
		ago := in.Now.Sub(last)
		if p.Repeat == 0 || ago < p.Repeat.D() {
			why := fmt.Sprintf("alert %s firing for %s; stepped %s ago", f.Name, age, ago.Round(time.Second))
			if p.Repeat > 0 {
				why += fmt.Sprintf(", again after %s", p.Repeat)
			}
			return Recommendation{Replicas: in.Current, Reason: why}
		}
	}
	return Recommendation{Replicas: in.Current + delta, Reason: fmt.Sprintf("alert %s firing for %s: %+d", f.Name, age, delta)}
}

// lastChange is the time of the latest change upwards (up) or downwards.
func lastChange(cs []Change, up bool) time.Time {
	var t time.Time
	for _, c := range cs {
		if (c.Delta > 0) == up && c.Delta != 0 && c.Time.After(t) {
			t = c.Time
		}
	}
	return t
}
