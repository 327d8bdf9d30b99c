package alerting

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/fuzzbudget"
)

// FuzzRuleRendering: whatever an app's name, query, thresholds and
// durations, the rendered file reads back as exactly the rules rendered (a
// query cannot break out of its expression: no YAML injection, no lost
// line), each expression holds the query verbatim, and rendering stays
// within its budget. Whether Prometheus accepts the expression is the
// Syncer's check (TestSyncerNeverWritesWhatPrometheusRefuses).
func FuzzRuleRendering(f *testing.F) {
	f.Add("web", `sum(rate(http_requests_total{job="web"}[1m]))`, 80.0, 20.0, int64(30_000))
	f.Add("a", "up\n# comment\n- alert: Evil", 1.0, 0.5, int64(1500))
	f.Add("b", `"quoted" : {{ $value }} & *anchor !tag`, 1e300, -1e300, int64(0))
	f.Add("c", "  \t", math.Inf(1), math.NaN(), int64(-5))
	f.Add("d", strings.Repeat("(", 1000), 0.1, 0.0, int64(1<<62))
	f.Fuzz(func(t *testing.T, name, query string, upper, lower float64, forMs int64) {
		app := config.App{Name: name, Policies: []config.Policy{{
			Type: config.PolicyAlert, Query: query, Upper: upper, Lower: &lower,
			For: config.Duration(time.Duration(forMs) * time.Millisecond), StepUp: 1, StepDown: 1,
		}}}
		var rf RuleFile
		var out []byte
		n := len(name) + len(query)
		fuzzbudget.Check(t, fuzzbudget.Budget{Fixed: 256 << 10, PerByte: 64}, n, func() {
			var ok bool
			if rf, ok = AppRules(&app); ok {
				out = Render(rf, "app "+name)
			}
		})
		if out == nil {
			t.Fatal("an alert policy without rules")
		}
		var back RuleFile
		if err := yaml.Unmarshal(out, &back); err != nil {
			t.Fatalf("the rendered file does not read back: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(back, rf) {
			t.Fatalf("read back differs:\n%+v\nrendered:\n%+v\n%s", back, rf, out)
		}
		for _, r := range allRules(back) {
			if q := strings.TrimSpace(query); q != "" && !strings.Contains(r.Expr, "("+q+")") {
				t.Fatalf("expression %q lost the query %q", r.Expr, q)
			}
		}
	})
}

// allRules lists every rule of a file.
func allRules(rf RuleFile) []Rule {
	var out []Rule
	for _, g := range rf.Groups {
		out = append(out, g.Rules...)
	}
	return out
}
