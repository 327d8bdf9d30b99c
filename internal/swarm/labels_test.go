package swarm

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/fuzzbudget"
)

func labelled(labels map[string]string) cluster.Service {
	return cluster.Service{Name: "shop", Image: "shop:1", Pools: []string{"workers"}, Labels: labels}
}

// The labels of docker-swarm-autoscaler opt a service in as hoist's do.
func TestLabelsOfBothStyles(t *testing.T) {
	cases := []struct {
		name     string
		labels   map[string]string
		ok       bool
		err      string
		min, max int
		policy   string // metric and type of the only policy
	}{
		{"hoist", map[string]string{LabelEnable: "true", LabelMin: "2", LabelMax: "6", LabelCPUTarget: "60"}, true, "", 2, 6, "target cpu"},
		{"swarm.autoscaler", map[string]string{LabelSwarmAutoscaler: "true", LabelSwarmMinimum: "2", LabelSwarmMaximum: "6"}, true, "", 2, 6, "threshold cpu"},
		{"swarm.autoscaler quoted true", map[string]string{LabelSwarmAutoscaler: " True ", LabelSwarmMaximum: "3"}, true, "", 1, 3, "threshold cpu"},
		{"swarm.autoscaler with a hoist target", map[string]string{LabelSwarmAutoscaler: "true", LabelSwarmMaximum: "4", LabelRPSTarget: "50"}, true, "", 1, 4, "target rps"},
		{"mixed", map[string]string{LabelEnable: "true", LabelSwarmMinimum: "3", LabelMax: "9", LabelCPUTarget: "50"}, true, "", 3, 9, "target cpu"},
		{"both agree", map[string]string{LabelSwarmAutoscaler: "true", LabelMin: "2", LabelSwarmMinimum: "2", LabelSwarmMaximum: "5"}, true, "", 2, 5, "threshold cpu"},
		{"both disagree", map[string]string{LabelSwarmAutoscaler: "true", LabelMin: "2", LabelSwarmMinimum: "3"}, true, `hoist.min: "2" differs from swarm.autoscaler.minimum "3"`, 0, 0, ""},
		{"hoist.enable=false wins", map[string]string{LabelEnable: "false", LabelSwarmAutoscaler: "true"}, false, "", 0, 0, ""},
		{"swarm.autoscaler=false", map[string]string{LabelSwarmAutoscaler: "false", LabelSwarmMaximum: "5"}, false, "", 0, 0, ""},
		{"no policy", map[string]string{LabelEnable: "true", LabelMax: "3"}, true, "no policy", 0, 0, ""},
		{"NaN target", map[string]string{LabelEnable: "true", LabelCPUTarget: "NaN"}, true, `hoist.cpu.target: "NaN" is not a positive number`, 0, 0, ""},
		{"Inf target", map[string]string{LabelEnable: "true", LabelCPUTarget: "+Inf%"}, true, `"+Inf%" is not a positive number`, 0, 0, ""},
		{"huge maximum", map[string]string{LabelSwarmAutoscaler: "true", LabelSwarmMaximum: "99999999999"}, true, "swarm.autoscaler.maximum: \"99999999999\" is not a count", 0, 0, ""},
		{"maximum below minimum", map[string]string{LabelSwarmAutoscaler: "true", LabelSwarmMinimum: "4", LabelSwarmMaximum: "2"}, true, "hoist.max: 2 is less than hoist.min 4", 0, 0, ""},
		{"managed", map[string]string{LabelSwarmAutoscaler: "true", LabelManaged: "true"}, false, "", 0, 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, ok, err := AppFromLabels(labelled(tc.labels))
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v (err %v)", ok, tc.ok, err)
			}
			if tc.err != "" {
				if !errors.Is(err, ErrLabels) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				return
			}
			if a.Replicas.Min != tc.min || a.Replicas.Max != tc.max || len(a.Policies) != 1 || a.Policies[0].Type+" "+a.Policies[0].Metric != tc.policy {
				t.Fatalf("app = %+v", a)
			}
			if p := a.Policies[0]; p.Type == config.PolicyThreshold && (p.Upper != 85 || *p.Lower != 25 || p.StepUp != 1 || p.StepDown != 1) {
				t.Fatalf("docker-swarm-autoscaler's rule = %+v", p)
			}
			pools := map[string]*config.Pool{"workers": {Name: "workers", Machine: config.Shape{CPUs: 2, Memory: 1 << 30}}}
			if errs := a.Check(pools); len(errs) != 0 {
				t.Fatalf("the app fails validation: %v", errs)
			}
		})
	}
}

// FuzzAppFromLabels: any labels (one key=value a line) give an app that
// validates or errors naming the labels, never a panic, in bounded time and
// memory.
func FuzzAppFromLabels(f *testing.F) {
	f.Add("hoist.enable=true\nhoist.min=2\nhoist.max=8\nhoist.cpu.target=60%\nhoist.window=30s\nhoist.cooldown.down=1m")
	f.Add("swarm.autoscaler=true\nswarm.autoscaler.minimum=2\nswarm.autoscaler.maximum=6")
	f.Add("hoist.enable=true\nhoist.min=three\nhoist.max=1\nhoist.rps.target=-4\nhoist.pool=a,b,,c")
	f.Add("hoist.enable=TRUE\nhoist.latency.target=.nan\nhoist.memory.target=1e400\nhoist.window=-1s")
	f.Add("swarm.autoscaler=true\nhoist.min=2\nswarm.autoscaler.minimum=3\nhoist.pool=" + strings.Repeat("p,", 100))
	f.Fuzz(func(t *testing.T, text string) {
		labels := map[string]string{}
		for _, line := range strings.Split(text, "\n") {
			k, v, _ := strings.Cut(line, "=")
			labels[k] = v
		}
		var a config.App
		var ok bool
		var err error
		fuzzbudget.Check(t, labelsBudget, len(text), func() { a, ok, err = AppFromLabels(labelled(labels)) })
		if !ok {
			if err != nil {
				t.Fatalf("not opted in, yet an error: %v", err)
			}
			return
		}
		if err != nil {
			if !errors.Is(err, ErrLabels) {
				t.Fatalf("error does not wrap ErrLabels: %v", err)
			}
			return
		}
		if a.Replicas.Min < 1 || a.Replicas.Max < a.Replicas.Min || a.Replicas.Max > maxLabelReplicas {
			t.Fatalf("replicas %+v", a.Replicas)
		}
		if len(a.Policies) == 0 || len(a.Pools) > maxLabelPools {
			t.Fatalf("app = %+v", a)
		}
		for _, p := range a.Policies {
			if math.IsNaN(p.Target) || math.IsInf(p.Target, 0) || p.Type == config.PolicyTarget && p.Target <= 0 {
				t.Fatalf("policy %+v", p)
			}
		}
		pools := map[string]*config.Pool{}
		for _, name := range a.Pools {
			pools[name] = &config.Pool{Name: name, Machine: config.Shape{CPUs: 1, Memory: 1}}
		}
		for _, e := range a.Check(pools) {
			var fe *config.FieldError
			// Names come from the operator's pools, checked elsewhere.
			if errors.As(e, &fe) && strings.HasPrefix(fe.Path, "pools") {
				continue
			}
			t.Fatalf("an app from labels fails validation: %v", e)
		}
	})
}

// labelsBudget bounds reading one input's labels.
var labelsBudget = fuzzbudget.Budget{Fixed: 1 << 20, PerByte: 64, Time: 10 * time.Second}
