package main

// The real runtime of `hoist run` and `hoist plan`: Docker Swarm as the
// orchestrator, a machine provider per pool (local namespaces or the
// operator's scripts), the built-in collector as metric source, and the engine
// running machine operations in the background.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/hoist/hoist/internal/api"
	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/collector"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/guard"
	"github.com/hoist/hoist/internal/metrics"
	"github.com/hoist/hoist/internal/provider/command"
	"github.com/hoist/hoist/internal/provider/local"
	"github.com/hoist/hoist/internal/store"
	"github.com/hoist/hoist/internal/swarm"
)

func init() {
	httpRoutes = append(httpRoutes, collectorRoutes)
	prev := serviceRemover
	serviceRemover = func(rt *Runtime) api.ServiceRemover {
		if p := partsOf(rt); p != nil {
			return p.orch
		}
		return prev(rt)
	}
}

// hoist_app_requests_per_second on a real cluster is the collector's sum.
var _ metrics.RequestTotaler = (*collector.Collector)(nil)

// realHooks adapt the real runtime's engine dependencies before the engine is
// made: a feature may wrap the orchestrator and the metric source, derive
// apps, and start work that ends with ctx (the balancer layer, balancer.go).
var realHooks []func(ctx context.Context, cfg *config.Config, p *realParts, d *engine.Deps) error

// realParts are what a real runtime drives, for the routes and hooks that
// need more than the engine.
type realParts struct {
	cli       *client.Client
	orch      *swarm.Orchestrator
	coll      *collector.Collector
	providers map[string]engine.Provider
	closers   []func()
}

var (
	realMu   sync.Mutex
	realRuns = map[*Runtime]*realParts{}
)

func partsOf(rt *Runtime) *realParts {
	realMu.Lock()
	defer realMu.Unlock()
	return realRuns[rt]
}

func (p *realParts) close() {
	for i := len(p.closers) - 1; i >= 0; i-- {
		p.closers[i]()
	}
}

// buildReal connects to the swarm manager and makes the orchestrator, the
// providers and the collector for cfg.
func buildReal(ctx context.Context, cfg *config.Config, rec swarm.Recorder, log *slog.Logger) (*realParts, error) {
	cli, err := swarm.Dial("")
	if err != nil {
		return nil, err
	}
	p := &realParts{cli: cli, providers: map[string]engine.Provider{}}
	p.closers = append(p.closers, func() { cli.Close() })
	fail := func(err error) (*realParts, error) {
		p.close()
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	info, err := cli.Info(pctx, client.InfoOptions{})
	if err != nil {
		return fail(fmt.Errorf("no Docker daemon at %s (scripts/localstack up starts one): %w", cli.DaemonHost(), err))
	}
	if !info.Info.Swarm.ControlAvailable {
		return fail(fmt.Errorf("the Docker daemon at %s is not a swarm manager (swarm state %q): %w",
			cli.DaemonHost(), info.Info.Swarm.LocalNodeState, swarm.ErrNotManager))
	}
	var pools []string
	for _, pl := range cfg.Pools {
		pools = append(pools, pl.Name)
	}
	p.orch = swarm.New(cli, swarm.Options{Pools: pools, Events: rec, Logger: log})
	self, _ := os.Executable()
	for _, pl := range cfg.Pools {
		switch pl.Provider {
		case "local":
			o := local.Options{Pool: pl.Name, CPUs: pl.Machine.CPUs, Manager: p.orch, Agent: self, Logger: log,
				BootTimeout: min(cfg.Controller.BootTimeout.D(), 2*time.Minute)}
			if pl.Local != nil {
				o.Prefix, o.Subnet = pl.Local.Prefix, pl.Local.Subnet
			}
			lp, err := local.New(o)
			if err != nil {
				return fail(fmt.Errorf("pool %s: %w", pl.Name, err))
			}
			p.providers[pl.Name] = lp
			p.closers = append(p.closers, lp.Close)
		case "command":
			c := pl.Command
			maddr, token, err := p.orch.JoinInfo(pctx)
			if err != nil {
				return fail(fmt.Errorf("pool %s: %w", pl.Name, err))
			}
			cp, err := command.New(command.Options{Pool: pl.Name, Create: c.Create, Destroy: c.Destroy, List: c.List,
				Timeout: c.Timeout.D(), Retries: c.Retries, Labeler: p.orch, Logger: log,
				Env: []string{"HOIST_SWARM_MANAGER=" + maddr, "HOIST_SWARM_TOKEN=" + token, "HOIST_BIN=" + self,
					fmt.Sprintf("HOIST_MACHINE_CPUS=%g", pl.Machine.CPUs), "HOIST_MACHINE_MEMORY=" + fmt.Sprint(int64(pl.Machine.Memory))}})
			if err != nil {
				return fail(fmt.Errorf("pool %s: %w", pl.Name, err))
			}
			p.providers[pl.Name] = cp
		default:
			return fail(fmt.Errorf("pool %s: provider %q cannot run beside real pools", pl.Name, pl.Provider))
		}
	}
	p.coll = collector.New(collector.Options{State: p.orch, Logger: log,
		Local: &collector.Agent{Docker: cli, Machine: "manager"}, LocalNode: info.Info.Swarm.NodeID})
	return p, nil
}

// runSwarm is `hoist run` on a real cluster.
func runSwarm(ctx context.Context, cfg *config.Config, opt *runOptions, w io.Writer) error {
	log := slog.Default()
	d, err := openDurable(ctx, cfg, opt)
	if err != nil {
		return err
	}
	defer d.close()
	mem := events.NewMemory(100_000)
	var rec engine.Recorder = mem
	var st engine.Store = store.NewMemory()
	if d.bolt != nil {
		st, rec = d.bolt, d.tee
	}
	parts, err := buildReal(ctx, cfg, rec, log)
	if err != nil {
		return err
	}
	defer parts.close()
	collCtx, stopColl := context.WithCancel(ctx)
	defer stopColl()
	go parts.coll.Run(collCtx)
	// Built-in metrics from the collector, `query:` policies from Prometheus.
	metricSrc, _, err := promMetricSource(cfg, parts.coll)
	if err != nil {
		return err
	}
	grd, err := guard.New(cfg.Controller.Anomaly, metricSrc, rec)
	if err != nil {
		return err
	}
	deps := engine.Deps{
		Orchestrator: parts.orch, Providers: parts.providers, Metrics: metricSrc, Guard: grd,
		Store: st, Events: rec, Logger: log, Async: true,
		ExtraApps: func(s cluster.State) []config.App {
			return append(d.catalog.ExtraApps(s), swarm.AppsFromLabels(s)...)
		},
	}
	for _, h := range realHooks {
		if err := h(ctx, cfg, parts, &deps); err != nil {
			return err
		}
	}
	eng, err := engine.New(cfg, deps)
	if err != nil {
		return err
	}
	rt := &Runtime{Config: cfg, Engine: eng, Events: mem, Guard: grd}
	d.attach(rt)
	realMu.Lock()
	realRuns[rt] = parts
	realMu.Unlock()
	defer func() {
		realMu.Lock()
		delete(realRuns, rt)
		realMu.Unlock()
	}()
	errc := make(chan error, len(runHooks))
	for _, h := range runHooks {
		go func() { errc <- h(ctx, rt, opt, w) }()
	}
	sub, unsub := mem.Subscribe(1024)
	defer unsub()
	tty := isTerminal(w) && !opt.quiet
	fmt.Fprintf(w, "hoist: running %s on Docker Swarm at %s; Ctrl-C to stop\n", describe(cfg), parts.cli.DaemonHost())

	interval := cfg.Interval()
	tick := time.NewTimer(0)
	defer tick.Stop()
	redraw := time.NewTicker(250 * time.Millisecond)
	defer redraw.Stop()
	for {
		select {
		case <-ctx.Done():
			if tty {
				fmt.Fprintln(w)
			}
			// Machine operations under way see the cancelled context and stop;
			// their records say where they were, so the next run resumes.
			done := make(chan struct{})
			go func() { eng.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				fmt.Fprintln(w, "hoist: machine operations still running after 20s; leaving them")
			}
			fmt.Fprintf(w, "hoist: stopped at %s\n", time.Now().UTC().Format("15:04:05"))
			return nil
		case err := <-errc:
			if err != nil {
				return err
			}
		case <-tick.C:
			if _, err := eng.Tick(ctx); err != nil && ctx.Err() == nil {
				log.Warn("tick", "err", err)
			}
			tick.Reset(interval)
			drainEvents(w, sub, tty)
			line := realStatus(eng, parts.coll)
			if tty {
				fmt.Fprintf(w, "\r\033[K%s", line)
			} else if !opt.quiet {
				fmt.Fprintln(w, line)
			}
		case <-redraw.C:
			// Events of background machine operations show up between ticks.
			if len(sub) > 0 {
				drainEvents(w, sub, tty)
				if tty {
					fmt.Fprintf(w, "\r\033[K%s", realStatus(eng, parts.coll))
				}
			}
		}
	}
}

// realStatus is the one-line summary after each tick.
func realStatus(eng *engine.Engine, coll *collector.Collector) string {
	plan, snap := eng.Last()
	if plan == nil || snap == nil {
		return "[" + time.Now().UTC().Format("15:04:05") + "] observing..."
	}
	var parts []string
	for _, a := range plan.Apps {
		s := fmt.Sprintf("%s %d/%d run", a.App, a.Running, a.Desired)
		if a.Pending > 0 {
			s += fmt.Sprintf(" %d pending", a.Pending)
		}
		for _, v := range a.Votes {
			if v.HasValue {
				s += fmt.Sprintf(" %s %.0f", v.Metric, v.Value)
			}
		}
		parts = append(parts, s)
	}
	for _, p := range plan.Pools {
		parts = append(parts, fmt.Sprintf("%s %d ready %d booting %d leaving", p.Pool, p.Ready, p.InFlight, p.Leaving))
	}
	cpu := 0.0
	for _, n := range coll.Nodes() {
		cpu += n.CPU
	}
	parts = append(parts, fmt.Sprintf("tasks use %.2f cores", cpu))
	return fmt.Sprintf("[%s] %s", plan.Time.UTC().Format("15:04:05"), strings.Join(parts, " | "))
}

// planSwarm is `hoist plan` on a real cluster: one decision, nothing done.
// The collector scrapes twice first so rates have two samples.
func planSwarm(cmd *cobra.Command, cfg *config.Config) (*engine.Plan, error) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	mem := events.NewMemory(1000)
	parts, err := buildReal(ctx, cfg, nil, slog.Default())
	if err != nil {
		return nil, err
	}
	defer parts.close()
	parts.coll.Scrape(ctx)
	time.Sleep(2 * time.Second)
	parts.coll.Scrape(ctx)
	metricSrc, _, err := promMetricSource(cfg, parts.coll)
	if err != nil {
		return nil, err
	}
	deps := engine.Deps{Orchestrator: parts.orch, Providers: parts.providers, Metrics: metricSrc,
		Store: store.NewMemory(), Events: mem, ExtraApps: swarm.AppsFromLabels}
	for _, h := range realHooks {
		if err := h(ctx, cfg, parts, &deps); err != nil {
			return nil, err
		}
	}
	eng, err := engine.New(cfg, deps)
	if err != nil {
		return nil, err
	}
	return eng.Plan(ctx)
}

// collectorRoutes serves the built-in collector's view under /collector/.
func collectorRoutes(rt *Runtime, mux *http.ServeMux) {
	p := partsOf(rt)
	if p == nil {
		return
	}
	mux.Handle("/collector/", http.StripPrefix("/collector", p.coll.Handler()))
}
