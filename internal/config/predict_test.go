package config

import (
	"strings"
	"testing"
	"time"
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

// A predictive policy's seasons and season_bucket: valid ones parse into the
// policy, and every error names the file, line and column of the field.
func TestPredictiveSeasons(t *testing.T) {
	desc := func(interval, fields string) string {
		return "controller: {interval: " + interval + "}\n" + strings.Replace(minimal, `      - type: target
        metric: cpu
        target: 60
`, "      - type: predictive\n"+fields, 1)
	}
	cfg, err := Parse("x.yaml", []byte(desc("2s", "        seasons: [50s, 24h]\n        season_bucket: 2s\n")))
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Apps[0].Policies[0]
	if len(p.Seasons) != 2 || p.Seasons[0].D() != 50*time.Second || p.Seasons[1].D() != 24*time.Hour || p.SeasonBucket.D() != 2*time.Second {
		t.Errorf("seasons %v, bucket %v; want [50s 24h], 2s", p.Seasons, p.SeasonBucket)
	}
	if cfg, err := Parse("x.yaml", []byte(desc("2s", "        keep_window: 10s\n"))); err != nil || cfg.Apps[0].Policies[0].KeepWindow.D() != 10*time.Second {
		t.Errorf("keep_window 10s: %v", err)
	}
	if _, err := Parse("x.yaml", []byte(desc("2s", "        keep_window: -1s\n"))); err == nil || !strings.Contains(err.Error(), "x.yaml:16:22: apps[0].policies[0].keep_window: must not be negative") {
		t.Errorf("keep_window -1s: %v", err)
	}
	if _, err := Parse("x.yaml", []byte(desc("10s", "        seasons: [168h]\n"))); err != nil {
		t.Errorf("a week in the default 1m buckets: %v", err)
	}
	for _, c := range []struct {
		name, interval, fields, want string
	}{
		{"shorter than two default buckets", "2s", "        seasons: [50s]\n",
			"x.yaml:16:19: apps[0].policies[0].seasons[0]: 50s is shorter than two season_buckets of 1m0s: set a shorter season_bucket"},
		{"zero", "2s", "        seasons: [0s]\n        season_bucket: 2s\n", "x.yaml:16:19: apps[0].policies[0].seasons[0]: must be > 0"},
		{"negative", "2s", "        seasons: [-50s]\n", "x.yaml:16:19: apps[0].policies[0].seasons[0]: must not be negative"},
		{"not a duration", "2s", "        seasons: [daily]\n", "x.yaml:16:19: apps[0].policies[0].seasons[0]: must be a duration"},
		{"not a list", "2s", "        seasons: 24h\n", "x.yaml:16:18: apps[0].policies[0].seasons: must be a list"},
		{"empty", "2s", "        seasons: []\n", "x.yaml:16:18: apps[0].policies[0].seasons: give at least one season"},
		{"twice", "2s", "        seasons: [24h, 24h]\n", "x.yaml:16:24: apps[0].policies[0].seasons[1]: 24h0m0s is listed twice"},
		{"too many", "2s", "        seasons: [1h, 2h, 3h, 4h, 5h]\n", "x.yaml:16:18: apps[0].policies[0].seasons: at most 4 seasons, not 5"},
		{"too many buckets", "1s", "        seasons: [168h]\n        season_bucket: 1s\n",
			"x.yaml:16:19: apps[0].policies[0].seasons[0]: 168h0m0s in buckets of 1s is 604800 buckets, more than 100000: set a longer season_bucket"},
		{"bucket under the interval", "10s", "        seasons: [1h]\n        season_bucket: 2s\n",
			"x.yaml:17:24: apps[0].policies[0].season_bucket: 2s is shorter than controller.interval 10s: each bucket needs a sample"},
		{"bucket not a duration", "2s", "        season_bucket: often\n", "x.yaml:16:24: apps[0].policies[0].season_bucket: must be a duration"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte(desc(c.interval, c.fields)))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error = %v\nwant it to contain %q", err, c.want)
			}
		})
	}
	// Another policy type has no seasons.
	_, err = Parse("x.yaml", []byte(strings.Replace(minimal, "target: 60\n", "target: 60\n        seasons: [24h]\n", 1)))
	if want := "x.yaml:17:18: apps[0].policies[0].seasons: is not used by a target policy"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error = %v\nwant it to contain %q", err, want)
	}
}
