package config

import (
	"strings"
	"testing"
)

// An app whose descriptor writes an slo and no policies key gets the
// predictive policy; any other app keeps what it wrote.
func TestPredictiveIsTheDefaultWithAnSLO(t *testing.T) {
	// minimal without its policies.
	head := minimal[:strings.Index(minimal, "    policies:")]
	for _, c := range []struct {
		name, tail string
		want       []string // policy types
		defaulted  bool
	}{
		{"slo and no policies", "    slo: {latency_p95: 300ms}\n", []string{PolicyPredictive}, true},
		{"slo as a block, no policies", "    slo:\n      latency_p95: 1s\n", []string{PolicyPredictive}, true},
		{"no slo, no policies", "", nil, false},
		{"slo and an explicit empty list", "    slo: {latency_p95: 300ms}\n    policies: []\n", nil, false},
		{"slo and a policy", "    slo: {latency_p95: 300ms}\n    policies:\n      - {type: target, metric: cpu, target: 60}\n", []string{PolicyTarget}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Parse("d.yaml", []byte(head+c.tail))
			if err != nil {
				t.Fatal(err)
			}
			app := cfg.Apps[0]
			var got []string
			for _, p := range app.Policies {
				got = append(got, p.Type)
			}
			if strings.Join(got, ",") != strings.Join(c.want, ",") || app.PredictiveDefault != c.defaulted {
				t.Errorf("policies %v (defaulted %v), want %v (%v)", got, app.PredictiveDefault, c.want, c.defaulted)
			}
			if c.defaulted && app.SLO.LatencyP95 == 0 {
				t.Error("the written slo was lost")
			}
		})
	}
}

// The default comes from the file as written: filling defaults again (the
// benchmark and the API do) never turns an app without an slo predictive.
func TestPredictiveDefaultOnlyFromTheFile(t *testing.T) {
	cfg, err := Parse("d.yaml", []byte(strings.Replace(minimal, `    policies:
      - type: target
        metric: cpu
        target: 60
`, "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	cfg.SetDefaults()
	if n := len(cfg.Apps[0].Policies); n != 0 || cfg.Apps[0].PredictiveDefault {
		t.Errorf("an app without an slo got %d policies", n)
	}
}
