package main

// hoist and Prometheus: the metric source for policies with `query:`, hoist's
// own /metrics, the per-app (and per-pool) alert rule files kept in sync
// with the apps hoist manages, and the alert executor's webhook.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/hoist/hoist/internal/alerting"
	"github.com/hoist/hoist/internal/auth"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/metrics"
	"github.com/hoist/hoist/internal/prom"
	"github.com/hoist/hoist/internal/sim"
)

// WebhookPath is where Alertmanager posts its notifications.
const WebhookPath = "/v1/alerts/webhook"

// syncEvery is how often the rule files are checked against the apps when no
// tick prompts it (retrying a failed reload, pool alerts due again).
const syncEvery = time.Second

func init() {
	simHooks = append(simHooks, promSimHook)
	runHooks = append(runHooks, promRun)
	httpRoutes = append(httpRoutes, promRoutes)
}

// promFeature is the Prometheus side of one Runtime.
type promFeature struct {
	router   *metrics.Router // nil when the runtime built its own metric source
	client   *prom.Client    // nil without prometheus.url
	exporter *metrics.Exporter
	executor *alerting.Executor
	syncer   *alerting.Syncer // nil without prometheus.rules_dir
	ticked   chan struct{}
}

var (
	promMu       sync.Mutex
	promFeatures = map[*Runtime]*promFeature{}
)

// promMetricSource is the engine's metric source for cfg: built-in metrics
// from builtin (nil: set later with SetBuiltin), queries from Prometheus.
// A runtime other than the simulator passes its collector here.
func promMetricSource(cfg *config.Config, builtin engine.MetricSource) (*metrics.Router, *prom.Client, error) {
	var client *prom.Client
	if cfg.Prometheus.URL != "" {
		c, err := prom.New(cfg.Prometheus)
		if err != nil {
			return nil, nil, err
		}
		client = c
	}
	var q engine.MetricSource
	if client != nil {
		q = client
	}
	return metrics.NewRouter(builtin, q), client, nil
}

// promSimHook routes the simulated stack's metrics: queries to Prometheus,
// the rest to the simulator (or to a source another hook set).
func promSimHook(cfg *config.Config, opt *runOptions, so *sim.StackOptions) (func(*Runtime), func(), error) {
	if err := checkWebhookCredential(cfg); err != nil {
		return nil, nil, err
	}
	router, client, err := promMetricSource(cfg, so.Metrics)
	if err != nil {
		return nil, nil, err
	}
	so.Metrics = router
	var attached *Runtime
	attach := func(rt *Runtime) {
		if router.Builtin() == nil {
			router.SetBuiltin(rt.Sim.Cluster)
		}
		promAttach(rt, router, client)
		attached = rt
	}
	done := func() {
		promMu.Lock()
		delete(promFeatures, attached)
		promMu.Unlock()
	}
	return attach, done, nil
}

func checkWebhookCredential(cfg *config.Config) error {
	if w := cfg.Prometheus.Webhook; w != nil {
		if _, err := alerting.Guard(w.Credential(), http.NotFoundHandler()); err != nil {
			return fmt.Errorf("prometheus.webhook: %w", err)
		}
	}
	return nil
}

// promAttach sets up the exporter, the executor and the rule files of rt
// (once). router and client may be nil (a runtime with its own source).
func promAttach(rt *Runtime, router *metrics.Router, client *prom.Client) *promFeature {
	promMu.Lock()
	defer promMu.Unlock()
	if f := promFeatures[rt]; f != nil {
		return f
	}
	cfg := rt.Engine.Config()
	if client == nil && cfg.Prometheus.URL != "" {
		if c, err := prom.New(cfg.Prometheus); err == nil {
			client = c
		} else {
			slog.Warn("prometheus client", "err", err)
		}
	}
	var builtin engine.MetricSource
	switch {
	case router != nil:
		builtin = router.Builtin()
	case rt.Sim != nil:
		builtin = rt.Sim.Cluster
	default:
		if p := partsOf(rt); p != nil {
			builtin = p.coll
		}
	}
	f := &promFeature{router: router, client: client, exporter: metrics.New(rt.Engine, builtin), ticked: make(chan struct{}, 1)}
	rt.Engine.AddObserver(f.exporter)
	if rt.Guard != nil {
		f.exporter.Registry().MustRegister(rt.Guard)
	}
	rt.Engine.AddObserver(tickNudge(f.ticked))
	var expire time.Duration
	if w := cfg.Prometheus.Webhook; w != nil {
		expire = w.ExpireAfter.D()
	}
	f.executor = alerting.NewExecutor(rt.Engine, expire, slog.Default())
	if dir := cfg.Prometheus.RulesDir; dir != "" {
		var rl alerting.Reloader
		if client != nil {
			rl = client
		}
		f.syncer = alerting.NewSyncer(dir, rl, func(e events.Event) { rt.Engine.Record(e) }, slog.Default())
	}
	promFeatures[rt] = f
	return f
}

// promRoutes mounts /metrics and the alert webhook on the --listen server.
// /metrics needs a viewer token when the API has tokens. The webhook takes
// the executor's own credential (prometheus.webhook); without one, a token
// of role webhook from the tokens file.
func promRoutes(rt *Runtime, mux *http.ServeMux) {
	f := promAttach(rt, nil, nil)
	authn := runtimeAuth(rt)
	var metricsH http.Handler = f.exporter.Handler()
	if authn != nil {
		metricsH = authn.Require(auth.RoleViewer, metricsH)
	}
	mux.Handle("GET /metrics", metricsH)

	var hook http.Handler
	if w := rt.Engine.Config().Prometheus.Webhook; w != nil {
		g, err := alerting.Guard(w.Credential(), f.executor)
		if err != nil {
			slog.Error("alert webhook not mounted", "err", err)
			return
		}
		hook = g
	} else if authn != nil {
		hook = authn.Webhook(f.executor)
	} else {
		slog.Warn("alert webhook not mounted: configure prometheus.webhook")
		return
	}
	mux.Handle("POST "+WebhookPath, hook)
	// Alert policies read the executor only once it can hear Alertmanager;
	// before, they have no data (and never scale down).
	rt.Engine.SetAlertSource(f.executor)
}

// promRun follows the events for /metrics and keeps the rule files and the
// executor in step with the apps and pools the engine manages.
func promRun(ctx context.Context, rt *Runtime, opt *runOptions, w io.Writer) error {
	f := promAttach(rt, nil, nil)
	sub, unsub := rt.Events.Subscribe(4096)
	defer unsub()
	go f.exporter.Follow(ctx, sub)
	if f.syncer != nil {
		fmt.Fprintf(w, "hoist: alert rules in %s%s\n", rt.Engine.Config().Prometheus.RulesDir, reloadNote(f.client))
	}
	if opt.listen == "" && rt.Engine.Config().HasAlerts() {
		fmt.Fprintln(w, "hoist: alert policies hear Alertmanager only on --listen: without it they hold")
	}
	t := time.NewTicker(syncEvery)
	defer t.Stop()
	lastErr := ""
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-f.ticked:
		}
		apps, pools := managed(rt)
		if f.syncer != nil {
			_, err := f.syncer.Sync(ctx, apps, pools)
			// A failed reload is an event already; log each new error once.
			if msg := errText(err); msg != lastErr {
				lastErr = msg
				if err != nil {
					slog.Warn("alert rules", "err", err)
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
func managed(rt *Runtime) ([]config.App, []config.Pool) {
	cfg := rt.Engine.Config()
	apps := cfg.Apps
	if _, snap := rt.Engine.Last(); snap != nil {
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

// tickNudge is an engine.Observer that wakes the rule sync after each tick,
// so an app's rules follow its appearance within one tick.
type tickNudge chan struct{}

var _ engine.Observer = tickNudge(nil)

func (n tickNudge) Ticked(*engine.Plan, *engine.Snapshot, error) {
	select {
	case n <- struct{}{}:
	default:
	}
}

func (tickNudge) ProviderCalled(string, string, time.Duration, error) {}
