package main

// The runtime of `hoist run` and `hoist plan`: every part built in one place
// (newRuntime), every route in one handler (Handler), every actor started and
// stopped together (Run). See docs/architecture.md.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hoist/hoist/internal/api"
	"github.com/hoist/hoist/internal/auth"
	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/guard"
	"github.com/hoist/hoist/internal/series"
	"github.com/hoist/hoist/internal/store"
	"github.com/hoist/hoist/internal/throttle"
	"github.com/hoist/hoist/internal/web"
	"github.com/hoist/hoist/internal/workload"
)

// defaultListen is where `hoist run` on the simulator serves the API and the
// dashboard when --listen is not given: loopback only, so no token is needed.
const defaultListen = "127.0.0.1:8080"

// runtimeOptions are what `hoist run` and `hoist plan` are given.
type runtimeOptions struct {
	// ConfigPath is the descriptor's file ("": the built-in quickstart),
	// re-read on reload.
	ConfigPath string
	// Speed is the simulated clock's speed-up (simulated pools only).
	Speed float64
	// Quiet prints events only, no status line.
	Quiet bool
	// Listen is the address of the API, dashboard and /metrics ("": none).
	Listen string
	// ListenFallback listens on a free port of Listen's host when Listen is
	// taken (the dashboard's default address), rather than failing.
	ListenFallback bool
	// Data is the directory of durable state ("": in memory).
	Data string
	// Tokens is the API tokens file ("": open API, loopback only).
	Tokens          string
	TLSCert, TLSKey string
	SelfSigned      bool
	InsecureListen  bool
	Retention       store.Retention
	AgentCredential string // file; default DATA/agent-credential
	// AllowedHosts are host names requests may name beyond IP addresses,
	// localhost and the machine's name (auth.Fence; nil: those only).
	AllowedHosts []string
	// After is how long `hoist plan` simulates before planning (simulator).
	After time.Duration
	// Loads replace the descriptor's simulated load per app (hoist sim --trace).
	Loads map[string]workload.Source
	// HA takes part in leader election (hoist run --ha, ha.go).
	HA               haOptions
	Logger           *slog.Logger
	Out              io.Writer // the terminal (events, status lines, notes)
	noSignalHandling bool      // tests: no SIGHUP reload
	// throttleReports replaces the backend's agents' reports of limits
	// (tests: the dashboard's table of them on the simulator, which has none).
	throttleReports func(app string) []api.TaskLimit
}

// Runtime is a running hoist: the engine and the parts around it, built
// once by newRuntime and never rewired afterwards.
type Runtime struct {
	opt    runtimeOptions
	log    *slog.Logger
	out    io.Writer
	Engine *engine.Engine
	Events *events.Memory // what the terminal and the exporter follow
	Guard  *guard.Guard
	// throttles are the rate limits hoist wants on tasks (docs/netguard.md).
	throttles *throttle.Book
	state     *durable
	auth      *auth.Authenticator
	tokens    *auth.Tokens
	series    *series.Recorder
	prom      *promFeature
	backend   backend
	api       *api.Server
	ha        *haFeature // nil without --ha
	// seriesTick and ruleTick are nudged after every tick (engine observers).
	seriesTick, ruleTick tickNudge
	// Listening: ln is open from newRuntime on, so URL is known before Run.
	ln     net.Listener
	server *http.Server
	url    string
	note   string // how the server is secured, for the banner
}

// actor is one thing a Runtime runs until its context ends. It returns nil
// when the context ended, an error when it could not go on.
type actor struct {
	name string
	run  func(ctx context.Context) error
}

// newRuntime builds everything cfg needs. cfg receives the policy overrides
// stored under opt.Data. Close releases what it holds; Run runs it.
func newRuntime(ctx context.Context, cfg *config.Config, opt runtimeOptions) (rt *Runtime, err error) {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Out == nil {
		opt.Out = io.Discard
	}
	if opt.Speed == 0 {
		opt.Speed = 1
	}
	if opt.Speed < 0 {
		return nil, errors.New("--speed must be > 0")
	}
	rt = &Runtime{opt: opt, log: opt.Logger, out: opt.Out, seriesTick: make(tickNudge, 1), ruleTick: make(tickNudge, 1)}
	defer func() {
		if err != nil {
			rt.Close()
			rt = nil
		}
	}()

	if opt.HA.Enabled {
		if allSim(cfg) {
			return rt, errHASim
		}
		if rt.ha, err = newHA(opt.HA, opt.Logger); err != nil {
			return rt, err
		}
	}
	// Durable state first: its policy overrides change cfg.
	if rt.state, err = openDurable(ctx, cfg, opt, rt.ha.registry()); err != nil {
		return rt, err
	}
	rt.Events = events.NewMemory(100_000)
	rec := rt.state.recorder(rt.Events)

	// The rate limits hoist wants (desired state): set by the guard and the
	// API, read by the backend (the agents apply them).
	// They survive a restart in the state under --data, and a failover in
	// the swarm's hoist-state with --ha (a simulation keeps them in memory).
	rt.throttles = throttle.NewBook()
	if st := rt.throttleStore(cfg); st != nil {
		if rt.throttles, err = throttle.OpenBook(ctx, st, time.Now(), opt.Logger); err != nil {
			return rt, err
		}
	}
	if rt.backend, err = newBackend(ctx, cfg, opt, rec, rt.throttles, rt.ha); err != nil {
		return rt, err
	}
	parts := rt.backend.parts()

	if rt.prom, err = newPromFeature(cfg, parts.builtin, opt.Logger); err != nil {
		return rt, err
	}
	// The guard throttles through the book; the backend's per-task traffic
	// (the collector's) names the tasks.
	traffic, _ := parts.builtin.(guard.Traffic)
	if rt.Guard, err = guard.NewWithNet(cfg.Controller.Anomaly, rt.prom.router, rec, guard.Net{Book: rt.throttles, Traffic: traffic}); err != nil {
		return rt, err
	}
	rt.prom.exporter.Registry().MustRegister(rt.Guard)
	rt.prom.exporter.Registry().MustRegister(parts.collectors...)
	rt.series = series.New(series.DefaultPoints)

	extra := rt.state.catalog.ExtraApps
	if parts.extraApps != nil {
		extra = func(s cluster.State) []config.App {
			return append(rt.state.catalog.ExtraApps(s), parts.extraApps(s)...)
		}
	}
	deps := engine.Deps{
		Orchestrator: parts.orchestrator, Providers: parts.providers, Clock: parts.clock, Async: parts.async,
		Metrics: rt.prom.router, Store: rt.ha.engineStore(rt.state.store()), Events: rec, Logger: opt.Logger, Guard: rt.Guard,
		ExtraApps: extra, Derive: parts.derive,
		Observers: []engine.Observer{rt.prom.exporter, rt.seriesTick, rt.ruleTick},
	}
	if parts.wrapMetrics != nil {
		deps.Metrics = parts.wrapMetrics(deps.Metrics)
	}
	// Alert policies hear Alertmanager only through the webhook, which is
	// served only with --listen and its own credential; otherwise they hold.
	if opt.Listen != "" && rt.prom.webhook != nil {
		deps.Alerts = rt.prom.executor
	}
	if rt.Engine, err = engine.New(cfg, deps); err != nil {
		return rt, err
	}
	rt.prom.link.e = rt.Engine // closes the exporter's and the executor's loop, before anything runs

	var tokens *auth.Tokens
	if opt.Tokens != "" {
		if tokens, err = auth.LoadTokens(opt.Tokens, opt.Logger); err != nil {
			return rt, err
		}
	}
	rt.tokens, rt.auth = tokens, auth.New(tokens, auth.Options{Log: opt.Logger})
	o := api.Options{
		Engine: rt.Engine, Events: rt.state.log(rt.Events), Catalog: rt.state.catalog, Services: parts.services,
		Auth: rt.auth, Base: rt.state.base, Now: rt.Engine.Now, Logger: opt.Logger, Series: rt.series,
		Load: func(context.Context) (*config.Config, error) { return loadConfig(opt.ConfigPath) },
	}
	o.Throttles, o.ThrottleReports = rt.Guard, parts.throttleReports
	if opt.throttleReports != nil {
		o.ThrottleReports = opt.throttleReports
	}
	if opt.Tokens != "" {
		o.Tokens = func() (*auth.Tokens, error) { return auth.LoadTokens(opt.Tokens, opt.Logger) }
	}
	o.AllowedHosts = hostsOrDefault(opt.AllowedHosts)
	if rt.prom.client != nil {
		o.Queries = rt.prom.client // policy queries are checked by Prometheus before they are accepted
	}
	if rt.api, err = api.New(o); err != nil {
		return rt, err
	}
	if opt.Listen != "" {
		if err = rt.listen(); err != nil {
			return rt, err
		}
	}
	if rt.ha != nil {
		if err = rt.ha.elect(rt.url, rec); err != nil {
			return rt, err
		}
		rt.prom.exporter.Registry().MustRegister(rt.ha)
	}
	return rt, nil
}

// throttleStore is where the rate limits are kept: nil in memory only.
func (rt *Runtime) throttleStore(cfg *config.Config) throttle.Store {
	switch {
	case allSim(cfg):
		return nil
	case rt.ha != nil:
		return rt.ha.state
	case rt.state.bolt != nil:
		return rt.state.bolt
	}
	return nil
}

// newBackend is the simulator when every pool is simulated, else Swarm.
func newBackend(ctx context.Context, cfg *config.Config, opt runtimeOptions, rec engine.Recorder, throttles *throttle.Book, ha *haFeature) (backend, error) {
	if allSim(cfg) {
		b, err := newSimBackend(cfg, opt.Speed, opt.After, opt.Loads, throttles)
		if err != nil {
			return nil, err
		}
		return b, nil
	}
	cred, err := agentCredential(opt.AgentCredential, opt.Data)
	if err != nil {
		return nil, err
	}
	b, err := newSwarmBackend(ctx, cfg, rec, cred, throttles, opt.Logger, ha)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// listen opens the server's listener (so its address is known at once).
func (rt *Runtime) listen() error {
	opt := rt.opt
	tlsCfg, scheme, note, err := serverTLS(opt)
	if err != nil {
		return err
	}
	if err := auth.CheckListen(opt.Listen, tlsCfg != nil, rt.tokens != nil, opt.InsecureListen); err != nil {
		return err
	}
	if !auth.IsLoopback(opt.Listen) && (tlsCfg == nil || rt.tokens == nil) {
		rt.log.Warn("API reachable from the network without TLS or tokens (--insecure-allow-remote-plaintext)")
	}
	ln, err := net.Listen("tcp", opt.Listen)
	if err != nil && opt.ListenFallback {
		rt.log.Info("default dashboard address taken; using a free port", "addr", opt.Listen, "err", err)
		host, _, _ := net.SplitHostPort(opt.Listen)
		ln, err = net.Listen("tcp", net.JoinHostPort(host, "0"))
	}
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	rt.ln = ln
	rt.url = scheme + "://" + ln.Addr().String()
	rt.server = &http.Server{Handler: rt.Handler(), TLSConfig: tlsCfg, ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(rt.log.Handler(), slog.LevelDebug)}
	auth := "tokens required"
	if rt.tokens == nil {
		auth = "no tokens: open to local users"
	}
	rt.note = auth + note
	return nil
}

// URL is the server's base URL (scheme://host:port), "" without --listen.
func (rt *Runtime) URL() string { return rt.url }

// Handler serves every route: the API, the dashboard, /metrics, the alert
// webhook, and the backend's own views (the collector's, the balancers').
func (rt *Runtime) Handler() http.Handler {
	mux := http.NewServeMux()
	rt.api.Register(mux)
	viewer := func(h http.Handler) http.Handler { return rt.auth.Require(auth.RoleViewer, h) }
	mux.Handle("GET /metrics", viewer(rt.prom.exporter.Handler()))
	if rt.prom.webhook != nil {
		mux.Handle("POST "+WebhookPath, rt.prom.webhook)
	}
	rt.backend.mount(mux, viewer)
	site, err := web.New(web.Options{Open: rt.auth.Open})
	if err != nil {
		// The files are embedded: this is a broken build, not a user error.
		rt.log.Error("dashboard unavailable", "err", err)
	} else {
		site.Register(mux)
	}
	// Every route, not only the API's: /metrics, the webhook and the
	// dashboard refuse other Host names and cross-site changes too.
	return auth.NewFence(hostsOrDefault(rt.opt.AllowedHosts)).Wrap(rt.ha.wrap(mux))
}

// hostsOrDefault adds this machine's name to the allowed host names.
func hostsOrDefault(allowed []string) []string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return append([]string{h}, allowed...)
	}
	return append([]string{}, allowed...)
}

// Run runs every actor until ctx ends or one fails, stops them all, and
// returns the first error.
func (rt *Runtime) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	actors := rt.actors()
	errc := make(chan error, len(actors))
	for _, a := range actors {
		go func() {
			err := a.run(ctx)
			if err != nil {
				err = fmt.Errorf("%s: %w", a.name, err)
			}
			errc <- err
		}()
	}
	var first error
	for range actors {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
		cancel() // one stops: all stop
	}
	return first
}

// actors are what Run starts: the control loop first.
func (rt *Runtime) actors() []actor {
	as := []actor{{"control loop", func(ctx context.Context) error { return rt.backend.loop(ctx, rt) }}}
	as = append(as, rt.backend.actors()...)
	as = append(as,
		actor{"metrics", rt.followEvents},
		actor{"alert rules", rt.syncRules},
		actor{"series", rt.recordSeries},
	)
	if rt.server != nil {
		as = append(as, actor{"api server", rt.serve})
	}
	if rt.ha != nil {
		as = append(as, actor{"leader election", rt.ha.run},
			actor{"standby follow", func(ctx context.Context) error { return rt.ha.follow(ctx, rt) }})
	}
	if !rt.opt.noSignalHandling {
		as = append(as, actor{"reload", rt.reloadOnHUP})
	}
	return as
}

// Close releases the store, the backend's connections and the listener.
func (rt *Runtime) Close() {
	if rt.api != nil {
		rt.api.Close()
	}
	if rt.ln != nil {
		rt.ln.Close()
	}
	if rt.backend != nil {
		rt.backend.close()
	}
	if rt.state != nil {
		rt.state.close()
	}
	rt.ha.close()
}

// serve runs the API server on the listener until ctx ends.
func (rt *Runtime) serve(ctx context.Context) error {
	fmt.Fprintf(rt.out, "hoist: API on %s/v1 (%s)\n", rt.url, rt.note)
	fmt.Fprintf(rt.out, "hoist: dashboard on %s/\n", rt.url)
	errc := make(chan error, 1)
	go func() {
		if rt.server.TLSConfig != nil {
			errc <- rt.server.ServeTLS(rt.ln, "", "")
		} else {
			errc <- rt.server.Serve(rt.ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	rt.api.Close() // ends event streams, which Shutdown would wait for
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rt.server.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// reloadOnHUP re-reads the descriptor and tokens on SIGHUP.
func (rt *Runtime) reloadOnHUP(ctx context.Context) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			res, err := rt.api.Reload(ctx)
			if err != nil {
				fmt.Fprintf(rt.out, "hoist: reload refused, nothing changed: %s\n", clean(err.Error()))
				continue
			}
			fmt.Fprintf(rt.out, "hoist: reloaded %s (%d warnings)\n", clean(res.File), len(res.Warnings))
			for _, w := range res.Warnings {
				fmt.Fprintln(rt.out, "hoist: warning:", clean(w))
			}
		}
	}
}

// recordSeries records a dashboard sample after each tick, outside the
// tick, so it never slows the loop down.
func (rt *Runtime) recordSeries(ctx context.Context) error {
	load := rt.backend.parts().load
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-rt.seriesTick:
		}
		plan, snap := rt.Engine.Last()
		if plan == nil || !plan.Time.After(last) {
			continue
		}
		last = plan.Time
		rt.series.Record(series.Tick{Plan: plan, Snapshot: snap, Machines: rt.Engine.Machines(), Load: load})
	}
}

func allSim(cfg *config.Config) bool {
	for _, p := range cfg.Pools {
		if p.Provider != "sim" {
			return false
		}
	}
	return true
}

// tickNudge is an engine.Observer that wakes a follower after each tick.
type tickNudge chan struct{}

var _ engine.Observer = tickNudge(nil)

func (n tickNudge) Ticked(*engine.Plan, *engine.Snapshot, error) {
	select {
	case n <- struct{}{}:
	default:
	}
}

func (tickNudge) ProviderCalled(string, string, time.Duration, error) {}
