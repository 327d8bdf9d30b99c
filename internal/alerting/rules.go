// Package alerting is hoist's side of Prometheus alerting, after MiCADO:
// per-app (and per-pool) alert rule files written when the app appears and
// deleted when it goes, and the alert executor, a webhook that receives
// Alertmanager's notifications and turns firing alerts into scaling through
// the engine. Prometheus's and Alertmanager's types are mirrored here, not
// imported.
package alerting

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/metrics"
)

// Alert names: the executor reads the direction from them.
const (
	AppOverloaded   = "HoistAppOverloaded"
	AppUnderloaded  = "HoistAppUnderloaded"
	PoolOverloaded  = "HoistPoolOverloaded"
	PoolUnderloaded = "HoistPoolUnderloaded"
)

// Labels hoist puts on its alerts.
const (
	LabelApp    = "hoist_app"
	LabelPool   = "hoist_pool"
	LabelPolicy = "hoist_policy"
)

// FilePrefix starts every rule file hoist manages: files in the rules
// directory without it are left alone.
const FilePrefix = "hoist-"

// AppFile and PoolFile name the rule file of an app or a pool.
func AppFile(app string) string   { return FilePrefix + "app-" + app + ".yml" }
func PoolFile(pool string) string { return FilePrefix + "pool-" + pool + ".yml" }

// RuleFile mirrors a Prometheus rule file.
type RuleFile struct {
	Groups []Group `yaml:"groups"`
}

// Group mirrors a rule group.
type Group struct {
	Name  string `yaml:"name"`
	Rules []Rule `yaml:"rules"`
}

// Rule mirrors an alerting rule.
type Rule struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

// appSeries is the PromQL of a built-in metric over hoist's own /metrics, in
// the unit the descriptor uses for it.
func appSeries(metric, app string) string {
	sel := fmt.Sprintf(`{app=%q}`, app)
	switch metric {
	case "memory":
		return metrics.AppMemory + sel
	case "rps":
		// Per replica, as the built-in rps.
		return fmt.Sprintf(`%s%s / on(app) %s{app=%q,state="running"}`, metrics.AppRequests, sel, metrics.AppReplicas, app)
	case "latency_p95":
		return metrics.AppLatency + sel + " * 1000" // milliseconds, as the built-in
	case "net_rx", "net_tx":
		// Per replica, as the built-in: the collector's app total (bytes/s)
		// over the running replicas.
		return fmt.Sprintf(`sum by(app) (hoist_app_net_bytes_per_second{app=%q,direction=%q}) / on(app) %s{app=%q,state="running"}`,
			app, metric[len("net_"):], metrics.AppReplicas, app)
	default:
		return metrics.AppCPU + sel
	}
}

// AppRules are the rules of app's alert policies (ok false: it has none).
func AppRules(app *config.App) (RuleFile, bool) {
	g := Group{Name: FilePrefix + "app-" + app.Name}
	for i := range app.Policies {
		p := &app.Policies[i]
		if p.Type != config.PolicyAlert {
			continue
		}
		expr, what := appSeries(p.Metric, app.Name), p.Metric
		if p.Query != "" {
			expr, what = "("+strings.TrimSpace(p.Query)+")", "query"
		}
		labels := map[string]string{LabelApp: app.Name, LabelPolicy: strconv.Itoa(i)}
		g.Rules = append(g.Rules, Rule{
			Alert: AppOverloaded, Expr: expr + " > " + num(p.Upper), For: promDuration(p.For.D()), Labels: labels,
			Annotations: map[string]string{
				"summary":     fmt.Sprintf("%s is overloaded: %s above %s%s", app.Name, what, num(p.Upper), forText(p.For.D())),
				"description": fmt.Sprintf("hoist adds %s of %s (%s), again every %s while this fires. Value: {{ $value }}", replicas(p.StepUp), app.Name, p.Label(i), promDuration(p.Repeat.D())),
			},
		})
		if p.Lower != nil {
			g.Rules = append(g.Rules, Rule{
				Alert: AppUnderloaded, Expr: expr + " < " + num(*p.Lower), For: promDuration(p.DownFor.D()), Labels: labels,
				Annotations: map[string]string{
					"summary":     fmt.Sprintf("%s is underloaded: %s below %s%s", app.Name, what, num(*p.Lower), forText(p.DownFor.D())),
					"description": fmt.Sprintf("hoist removes %s of %s (%s), again every %s while this fires. Value: {{ $value }}", replicas(p.StepDown), app.Name, p.Label(i), promDuration(p.Repeat.D())),
				},
			})
		}
	}
	if len(g.Rules) == 0 {
		return RuleFile{}, false
	}
	return RuleFile{Groups: []Group{g}}, true
}

// PoolRules are the rules of a pool with an alert block (ok false: none).
func PoolRules(pool *config.Pool) (RuleFile, bool) {
	a := pool.Alert
	if a == nil {
		return RuleFile{}, false
	}
	sel := fmt.Sprintf(`{pool=%q}`, pool.Name)
	expr, what := "avg("+metrics.NodeReserve+sel+")", "mean reserved share"
	switch {
	case a.Query != "":
		expr, what = "("+strings.TrimSpace(a.Query)+")", "query"
	case a.Metric == "cpu":
		expr, what = "avg("+metrics.NodeCPU+sel+")", "mean CPU share"
	}
	labels := map[string]string{LabelPool: pool.Name}
	g := Group{Name: FilePrefix + "pool-" + pool.Name, Rules: []Rule{{
		Alert: PoolOverloaded, Expr: expr + " > " + num(a.Upper), For: promDuration(a.For.D()), Labels: labels,
		Annotations: map[string]string{
			"summary":     fmt.Sprintf("pool %s is overloaded: %s above %s%s", pool.Name, what, num(a.Upper), forText(a.For.D())),
			"description": fmt.Sprintf("hoist orders %s for %s, again every %s while this fires. Value: {{ $value }}", machines(a.StepUp), pool.Name, promDuration(a.Repeat.D())),
		},
	}}}
	if a.Lower != nil {
		g.Rules = append(g.Rules, Rule{
			Alert: PoolUnderloaded, Expr: expr + " < " + num(*a.Lower), For: promDuration(a.DownFor.D()), Labels: labels,
			Annotations: map[string]string{
				"summary":     fmt.Sprintf("pool %s is underloaded: %s below %s%s", pool.Name, what, num(*a.Lower), forText(a.DownFor.D())),
				"description": fmt.Sprintf("hoist drains and removes %s of %s, again every %s while this fires. Value: {{ $value }}", machines(a.StepDown), pool.Name, promDuration(a.Repeat.D())),
			},
		})
	}
	return RuleFile{Groups: []Group{g}}, true
}

// Render writes a rule file with a header saying whose it is.
func Render(rf RuleFile, about string) []byte {
	var b bytes.Buffer
	// about goes into a comment: a newline or an invalid byte there would
	// end it early or make the file unreadable, whatever produced the name.
	about = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(about, "?"))
	fmt.Fprintf(&b, "# Generated by hoist for %s. Do not edit: hoist rewrites this file when\n", about)
	b.WriteString("# the descriptor changes and deletes it when the app or pool goes.\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(rf); err != nil {
		// Only strings and maps of strings: encoding cannot fail.
		panic(fmt.Sprintf("alerting: encode rules: %v", err))
	}
	_ = enc.Close()
	return b.Bytes()
}

// Files are the rule files hoist manages for apps and pools, by file name.
func Files(apps []config.App, pools []config.Pool) map[string][]byte {
	out := map[string][]byte{}
	for i := range apps {
		if rf, ok := AppRules(&apps[i]); ok {
			out[AppFile(apps[i].Name)] = Render(rf, "app "+apps[i].Name)
		}
	}
	for i := range pools {
		if rf, ok := PoolRules(&pools[i]); ok {
			out[PoolFile(pools[i].Name)] = Render(rf, "pool "+pools[i].Name)
		}
	}
	return out
}

// Names returns the file names of m, sorted.
func Names(m map[string][]byte) []string {
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func forText(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return " for " + promDuration(d)
}

func replicas(n int) string { return plural(n, "replica") }
func machines(n int) string { return plural(n, "machine") }

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// num writes a threshold as PromQL reads it.
func num(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// promDuration writes d in Prometheus's duration syntax (1h30m, 1s500ms):
// Go's "1.5s" is not valid there.
func promDuration(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	d = d.Round(time.Millisecond)
	var b strings.Builder
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}} {
		if n := d / u.d; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.name)
			d -= n * u.d
		}
	}
	if b.Len() == 0 {
		return "1ms"
	}
	return b.String()
}
