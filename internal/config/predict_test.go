package config

import (
	"strings"
	"testing"
)

func TestPredictivePolicyChecked(t *testing.T) {
	for _, c := range []struct {
		name string
		p    Policy
		want string
	}{
		{"defaults", Policy{Type: PolicyPredictive}, ""},
		{"fallback target", Policy{Type: PolicyPredictive, Target: 70, ForecastOnly: true}, ""},
		{"target above 100", Policy{Type: PolicyPredictive, Target: 150}, "p.target: must be in (0, 100]"},
		{"metric", Policy{Type: PolicyPredictive, Metric: "cpu"}, "p.metric: is not used by a predictive policy"},
		{"scale_up", Policy{Type: PolicyPredictive, ScaleUp: &Behavior{MaxPercent: 100}}, "p.scale_up: is not used"},
		{"upper", Policy{Type: PolicyPredictive, Upper: 80}, "p.upper: is not used by a predictive policy"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ck := &checker{}
			c.p.check(ck, "p")
			var got []string
			for _, pr := range ck.probs {
				got = append(got, pr.path+": "+pr.msg)
			}
			all := strings.Join(got, "; ")
			if c.want == "" && all != "" || c.want != "" && !strings.Contains(all, c.want) {
				t.Errorf("problems %q, want %q", all, c.want)
			}
		})
	}
}
