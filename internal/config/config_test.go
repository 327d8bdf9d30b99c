package config

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hoist/hoist/internal/fuzzbudget"
)

const minimal = `
pools:
  - name: workers
    machine: {cpus: 2, memory: 4GiB}
    max: 3
apps:
  - name: web
    image: hoist/demoapp:latest
    pools: [workers]
    replicas: {min: 1, max: 4}
    resources:
      reservations: {cpus: 0.5, memory: 256MiB}
    policies:
      - type: target
        metric: cpu
        target: 60
`

func TestParseMinimalAppliesDefaults(t *testing.T) {
	cfg, err := Parse("min.yaml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Interval(); got != DefaultInterval {
		t.Errorf("interval = %v, want %v", got, DefaultInterval)
	}
	p := cfg.Pools[0]
	if p.Provider != "sim" || p.BootTime.D() != DefaultBootTime || p.ScaleDown.Below != 0.5 || p.ScaleDown.For.D() != DefaultScaleDownFor {
		t.Errorf("pool defaults not applied: %+v", p)
	}
	if p.Machine.Memory != 4<<30 {
		t.Errorf("memory = %d, want 4GiB", p.Machine.Memory)
	}
	pol := cfg.Apps[0].Policies[0]
	if *pol.Tolerance != 0.1 || pol.ScaleDown.Stabilization.D() != 5*time.Minute || pol.ScaleUp.MaxReplicas != 4 || pol.ScaleUp.MaxPercent != 100 {
		t.Errorf("HPA defaults not applied: tol %v down %+v up %+v", *pol.Tolerance, pol.ScaleDown, pol.ScaleUp)
	}
}

// The broken descriptor has one error per problem, each located exactly, the
// structural ones (unknown field, ill-typed value) beside the semantic ones.
func TestValidateLocatesEveryError(t *testing.T) {
	data, err := os.ReadFile("testdata/broken.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Parse("testdata/broken.yaml", data)
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("want Errors, got %v", err)
	}
	want := []string{
		`testdata/broken.yaml:3:3: controller.tick: unknown field (known: anomaly, boot_timeout, drain_timeout, dry_run, interval)`,
		`testdata/broken.yaml:7:10: pools[0].min: min 3 is greater than max 2`,
		`testdata/broken.yaml:9:32: pools[0].machine.memory: must be a memory size such as 512MiB, 4GB or 512m (binary units, as Docker reads them), not "lots"`,
		`testdata/broken.yaml:12:21: pools[1].machine.cpus: must be a finite number, not ".inf"`,
		`testdata/broken.yaml:15:12: apps[0].image: not a Docker image reference: "hoist/demoapp:latest\n\x1b[2J" (invalid reference format)`,
		`testdata/broken.yaml:19:35: apps[0].balancer.check: must be an HTTP path of URL characters only (letters, digits and -._~!$&()*+,;=:@/%?), not "/health check"`,
		`testdata/broken.yaml:23:17: apps[0].policies[0].target: must be a finite number, not ".NaN"`,
		`testdata/broken.yaml:24:5: apps[1].image: is required: the Docker image of the service, such as nginx:1.27`,
		`testdata/broken.yaml:25:22: apps[1].pools[1]: no pool named "nowhere"`,
		`testdata/broken.yaml:30:17: apps[1].policies[0].target: must be > 0`,
		`testdata/broken.yaml:34:16: apps[1].policies[1].lower: lower 80 must be below upper 20`,
		`testdata/broken.yaml:35:15: apps[1].policies[2].type: "bogus" is not one of target, threshold, schedule, alert, predictive`,
	}
	got := make([]string, len(errs))
	for i, e := range errs {
		got[i] = e.Error()
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"empty", "", "x.yaml:1:1: descriptor is empty"},
		{"syntax", "pools: [\n", "x.yaml:2:1: did not find expected node content"},
		{"syntax with line", "pools:\n  - a: 1\n b: 2\n", "x.yaml:3:1: did not find expected key"},
		{"tab on line 3", "pools:\n  - name: a\n\tmax: 1\n", "x.yaml:3:1: found a tab character that violates indentation"},
		{"tab after spaces", "pools:\n  - name: a\n    max: 1\n  \t min: 2\n", "x.yaml:4:3: found a tab character"},
		{"unclosed brace on line 42", "pools:\n" + strings.Repeat("  - {name: p}\n", 40) + "apps: {name: x\n", "x.yaml:42:1: did not find expected ',' or '}'"},
		{"unclosed bracket on line 3", "pools:\n  - name: a\n    max: [1\n    min: 2\n", "x.yaml:3:1: did not find expected ',' or ']'"},
		{"two documents", minimal + "---\npools: []\n", "only one YAML document"},
		{"no pools", "apps: []\n", "pools: at least one pool is required"},
		{"wrong type", strings.Replace(minimal, "max: 3", "max: three", 1), "pools[0].max: must be an integer, not \"three\""},
		{"list expected", strings.Replace(minimal, "pools: [workers]", "pools: workers", 1), "apps[0].pools: must be a list"},
		{"bad duration", minimal + "controller: {interval: soon}\n", "controller.interval: must be a duration"},
		{"duplicate field", strings.Replace(minimal, "max: 3", "max: 3\n    max: 4", 1), "pools[0].max: field given twice"},
		{"duplicate app", minimal + `  - name: web
    pools: [workers]
`, "apps[1].name: app \"web\" is declared twice"},
		{"reservation fits no machine", strings.Replace(minimal, "cpus: 0.5", "cpus: 3", 1), "apps[0].resources.reservations: 3 CPUs / 256MiB fit no machine of pools workers"},
		{"unknown metric", strings.Replace(minimal, "metric: cpu", "metric: disk", 1), "apps[0].policies[0].metric: \"disk\" is not a built-in metric"},
		{"metric and query", strings.Replace(minimal, "metric: cpu", "metric: cpu\n        query: up", 1), "apps[0].policies[0].query: give either metric or query, not both"},
		{"field of another policy type", strings.Replace(minimal, "target: 60", "target: 60\n        upper: 3", 1), "apps[0].policies[0].upper: is not used by a target policy"},
		{"schedule window", minimal + `      - type: schedule
        windows: [{days: [funday], start: "25:00", end: "10:00"}]
`, "apps[0].policies[1].windows[0].days[0]: \"funday\" is not a day"},
		{"bad pool name", strings.Replace(minimal, "name: workers", "name: Workers_1", 1), "pools[0].name: \"Workers_1\" must be lowercase"},
		{"command provider needs scripts", strings.Replace(minimal, "max: 3", "max: 3\n    provider: command", 1), "pools[0].command: is required for provider command"},
		{"negative duration", minimal + "controller: {interval: -5s}\n", "controller.interval: must not be negative"},
		{"merge keys", "x: &a {}\npools:\n  - <<: *a\n", "YAML merge keys are not supported"},
		{"slo budget above a half", strings.Replace(minimal, "replicas: {min: 1, max: 4}", "replicas: {min: 1, max: 4}\n    slo: {latency_p95: 250ms, budget: 0.5}", 1), "x.yaml:11:39: apps[0].slo.budget: must be a share in [0, 0.5) of the ticks (0: no adaptation), not 0.5"},
		{"slo budget negative", strings.Replace(minimal, "replicas: {min: 1, max: 4}", "replicas: {min: 1, max: 4}\n    slo: {latency_p95: 250ms, budget: -0.01}", 1), "apps[0].slo.budget: must be a share in [0, 0.5)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestQuickstartIsValid(t *testing.T) {
	if _, err := Load("../../examples/quickstart.yaml"); err != nil {
		t.Fatal(err)
	}
}

// FuzzParse: any input gives a config or located errors, never a panic, in
// bounded time and memory; a config that parses passes validation again
// (defaults are idempotent) and holds no NaN or infinity; errors are one line
// each, sorted by position.
func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	for _, name := range []string{"../../examples/quickstart.yaml", "../../examples/balancer.yaml", "testdata/broken.yaml",
		"../../examples/compose.yaml", "testdata/compose-typo.yaml"} {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("pools: [{name: a, max: 1, machine: {cpus: 1, memory: 1}}]\napps: [{name: b, image: b, pools: [a], policies: [{type: schedule, windows: [{start: '23:00', end: '01:00', min: 2}]}]}]"))
	f.Add([]byte("pools: [{name: a, max: 1, machine: {cpus: .nan, memory: 1}}]\napps: [{name: b, image: \"b\\n\", pools: [a]}]"))
	f.Add([]byte("a: &a [x, x, x, x]\nb: &b [*a, *a, *a, *a]\nc: &c [*b, *b, *b, *b]\npools: [*c]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var cfg *Config
		var err error
		fuzzbudget.Check(t, fuzzBudget, len(data), func() { cfg, err = Parse("fuzz.yaml", data) })
		if err != nil {
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error is not a located Errors: %v", err)
			}
			for i, e := range errs {
				if e.Line < 1 || e.Col < 1 || e.File != "fuzz.yaml" {
					t.Fatalf("error without a position: %+v", e)
				}
				if strings.ContainsAny(e.Error(), "\n\r\x1b") {
					t.Fatalf("error message with a control character: %q", e.Error())
				}
				if i > 0 && (e.Line < errs[i-1].Line || e.Line == errs[i-1].Line && e.Col < errs[i-1].Col) {
					t.Fatalf("errors not sorted: %v", err)
				}
			}
			return
		}
		cfg.SetDefaults()
		if err := cfg.Validate(); err != nil {
			t.Fatalf("parsed config fails validation after SetDefaults: %v", err)
		}
		for _, a := range cfg.Apps {
			if CheckImage(a.Image) != nil {
				t.Fatalf("app %s accepted with image %q", a.Name, a.Image)
			}
		}
	})
}

// fuzzBudget bounds one fuzz input's work: a hang or a blow-up (aliases,
// deep nesting) is a bug.
var fuzzBudget = fuzzbudget.Budget{Fixed: 64 << 20, PerByte: 8192, Time: 10 * time.Second}
