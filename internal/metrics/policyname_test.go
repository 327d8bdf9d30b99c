package metrics

import (
	"testing"

	"github.com/hoist/hoist/internal/engine"
)

// A decision is classed by the type of the policy its reason starts with,
// named or counted.
func TestAppClassByPolicyLabel(t *testing.T) {
	votes := []engine.PolicyVote{{Policy: 0, Type: "target"}, {Policy: 1, Name: "lat", Type: "threshold"}, {Policy: 2, Name: "lat-2", Type: "predictive"}}
	for _, c := range []struct {
		reason, want string
	}{
		{"policies[0] cpu 90% > target 60%", "target"},
		{"policies[lat] latency_p95 300 > 250", "threshold"},
		{"policies[lat-2] forecast 12", "predictive"},
		{"policies[1] cpu", "other"}, // policy 1 is named: its position is not its label
		{"something else", "other"},
	} {
		d := &engine.AppDecision{Action: engine.ActScale, Current: 2, Desired: 3, Reason: c.reason, Votes: votes}
		if action, reason := appClass(d); action != "scale_up" || reason != c.want {
			t.Errorf("%q: %s %s, want scale_up %s", c.reason, action, reason, c.want)
		}
	}
}
