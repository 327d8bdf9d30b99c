package main

// hoist and Prometheus: the metric source for policies with `query:`, hoist's
// own /metrics, the per-app (and per-pool) alert rule files kept in sync
// with the apps hoist manages, and the alert executor's webhook.

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/hoist/hoist/internal/alerting"
	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/metrics"
	"github.com/hoist/hoist/internal/prom"
)

// WebhookPath is where Alertmanager posts its notifications.
const WebhookPath = "/v1/alerts/webhook"

// syncEvery is how often the rule files are checked against the apps when no
// tick prompts it (retrying a failed reload, pool alerts due again).
const syncEvery = time.Second

// promFeature is the Prometheus side of a Runtime.
type promFeature struct {
	router   *metrics.Router // built-in metrics to the backend, queries to Prometheus
	client   *prom.Client    // nil without prometheus.url
	exporter *metrics.Exporter
	executor *alerting.Executor
	webhook  http.Handler     // the executor behind its own credential; nil without prometheus.webhook
	syncer   *alerting.Syncer // nil without prometheus.rules_dir
	link     *engineLink
}

// newPromFeature makes the Prometheus parts for cfg; builtin answers the
// built-in metrics.
func newPromFeature(cfg *config.Config, builtin engine.MetricSource, log *slog.Logger) (*promFeature, error) {
	f := &promFeature{link: &engineLink{}}
	var query engine.MetricSource
	if cfg.Prometheus.URL != "" {
		c, err := prom.New(cfg.Prometheus)
		if err != nil {
			return nil, err
		}
		f.client, query = c, c
	}
	f.router = metrics.NewRouter(builtin, query)
	f.exporter = metrics.New(f.link, builtin)
	var expire time.Duration
	if w := cfg.Prometheus.Webhook; w != nil {
		expire = w.ExpireAfter.D()
	}
	f.executor = alerting.NewExecutor(f.link, expire, log)
	// The webhook takes only its own credential, never an API token.
	if w := cfg.Prometheus.Webhook; w != nil {
		g, err := alerting.Guard(w.Credential(), f.executor)
		if err != nil {
			return nil, fmt.Errorf("prometheus.webhook: %w", err)
		}
		f.webhook = g
	}
	if dir := cfg.Prometheus.RulesDir; dir != "" {
		var rl alerting.Reloader
		if f.client != nil {
			rl = f.client
		}
		f.syncer = alerting.NewSyncer(dir, rl, func(e events.Event) { f.link.Record(e) }, log)
	}
	return f, nil
}

// followEvents counts events for /metrics.
func (rt *Runtime) followEvents(ctx context.Context) error {
	sub, unsub := rt.Events.Subscribe(4096)
	defer unsub()
	rt.prom.exporter.Follow(ctx, sub)
	return nil
}

// syncRules keeps the rule files and the executor in step with the apps and
// pools the engine manages, after each tick and every syncEvery.
func (rt *Runtime) syncRules(ctx context.Context) error {
	f := rt.prom
	cfg := rt.Engine.Config()
	if f.syncer != nil {
		fmt.Fprintf(rt.out, "hoist: alert rules in %s%s\n", clean(cfg.Prometheus.RulesDir), reloadNote(f.client))
	}
	if cfg.HasAlerts() {
		switch {
		case rt.server == nil:
			fmt.Fprintln(rt.out, "hoist: alert policies hear Alertmanager only on --listen: without it they hold")
		case f.webhook == nil:
			fmt.Fprintln(rt.out, "hoist: alert policies hear Alertmanager only through prometheus.webhook, which has no credential: they hold")
		}
	}
	t := time.NewTicker(syncEvery)
	defer t.Stop()
	lastErr := ""
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-rt.ruleTick:
		}
		apps, pools := managed(rt.Engine)
		if f.syncer != nil {
			_, err := f.syncer.Sync(ctx, apps, pools)
			// A failed reload is an event already; log each new error once.
			if msg := errText(err); msg != lastErr {
				lastErr = msg
				if err != nil {
					rt.log.Warn("alert rules", "err", err)
				}
			}
		}
		appSet, poolSet := map[string]bool{}, map[string]bool{}
		for _, a := range apps {
			appSet[a.Name] = true
		}
		for _, p := range pools {
			poolSet[p.Name] = true
		}
		f.executor.Forget(func(a string) bool { return appSet[a] }, func(p string) bool { return poolSet[p] })
		f.executor.Step(ctx)
	}
}

// managed are the apps the engine manages now (the last tick's, which
// include apps registered through the API or by labels) and the pools.
func managed(eng *engine.Engine) ([]config.App, []config.Pool) {
	cfg := eng.Config()
	apps := cfg.Apps
	if _, snap := eng.Last(); snap != nil {
		apps = snap.Apps
	}
	return apps, cfg.Pools
}

func reloadNote(c *prom.Client) string {
	if c == nil {
		return " (no prometheus.url: written, not reloaded)"
	}
	return ", reloaded at " + c.URL()
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// engineLink is the engine as the exporter and the alert executor see it.
// They are built before the engine (which observes the one and reads alerts
// from the other); newRuntime sets e once, before anything runs.
type engineLink struct{ e *engine.Engine }

var (
	_ metrics.Source  = (*engineLink)(nil)
	_ alerting.Engine = (*engineLink)(nil)
)

func (l *engineLink) Last() (*engine.Plan, *engine.Snapshot) { return l.e.Last() }
func (l *engineLink) Machines() []cluster.MachineRecord      { return l.e.Machines() }
func (l *engineLink) Config() *config.Config                 { return l.e.Config() }
func (l *engineLink) Record(ev events.Event) events.Event    { return l.e.Record(ev) }
func (l *engineLink) Now() time.Time                         { return l.e.Now() }
func (l *engineLink) RequestPoolChange(ctx context.Context, pool string, target int, reason string) (int, error) {
	return l.e.RequestPoolChange(ctx, pool, target, reason)
}
func (l *engineLink) RequestPoolStep(ctx context.Context, pool string, delta int, reason string) (cluster.PoolRequest, error) {
	return l.e.RequestPoolStep(ctx, pool, delta, reason)
}
