package main

// The real cluster: Docker Swarm as the orchestrator, a machine provider per
// pool (local namespaces, the operator's scripts, OpenStack or EC2), the built-in collector
// as metric source, the load-balancer layer (internal/balancer,
// docs/balancer.md), and machine operations in the background.

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/moby/moby/client"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hoist/hoist/internal/api"
	"github.com/hoist/hoist/internal/balancer"
	"github.com/hoist/hoist/internal/collector"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/guard"
	"github.com/hoist/hoist/internal/metrics"
	"github.com/hoist/hoist/internal/provider/command"
	"github.com/hoist/hoist/internal/provider/ec2"
	"github.com/hoist/hoist/internal/provider/local"
	"github.com/hoist/hoist/internal/provider/openstack"
	"github.com/hoist/hoist/internal/series"
	"github.com/hoist/hoist/internal/swarm"
	"github.com/hoist/hoist/internal/throttle"
)

// hoist_app_requests_per_second on a real cluster is the collector's sum.
var _ metrics.RequestTotaler = (*collector.Collector)(nil)
var _ guard.Traffic = (*collector.Collector)(nil)

// swarmBackend is a Docker Swarm manager and the machines of its pools.
type swarmBackend struct {
	cli       *client.Client
	orch      *swarm.Orchestrator
	coll      *collector.Collector
	layer     *balancer.Layer
	lb        *balancer.Source
	wrapped   engine.Orchestrator // orch with the balancer layer
	providers map[string]engine.Provider
	closers   []func()
}

var _ backend = (*swarmBackend)(nil)

// newSwarmBackend connects to the swarm manager and makes the orchestrator,
// the providers, the collector and the balancer layer for cfg. agentCred is
// the credential the agents ask the collector for.
// throttles are the rate limits hoist wants, sent to the agents at every
// scrape. With --ha, every service and node write is fenced by ha's epoch
// and the providers are called only with enough lease left (ha.go).
func newSwarmBackend(ctx context.Context, cfg *config.Config, rec swarm.Recorder, agentCred string, throttles *throttle.Book, log *slog.Logger, ha *haFeature) (_ *swarmBackend, err error) {
	cli, err := swarm.Dial("")
	if err != nil {
		return nil, err
	}
	b := &swarmBackend{cli: cli, providers: map[string]engine.Provider{}}
	b.closers = append(b.closers, func() { cli.Close() })
	defer func() {
		if err != nil {
			b.close()
		}
	}()
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	info, err := cli.Info(pctx, client.InfoOptions{})
	if err != nil {
		return nil, fmt.Errorf("no Docker daemon at %s (scripts/localstack up starts one): %w", cli.DaemonHost(), err)
	}
	if !info.Info.Swarm.ControlAvailable {
		return nil, fmt.Errorf("the Docker daemon at %s is not a swarm manager (swarm state %q): %w",
			cli.DaemonHost(), info.Info.Swarm.LocalNodeState, swarm.ErrNotManager)
	}
	var pools []string
	for _, pl := range cfg.Pools {
		pools = append(pools, pl.Name)
	}
	var writer interface {
		swarm.API
		balancer.DockerAPI
	} = cli
	if f := ha.fence(); f != nil {
		writer = &swarm.FencedClient{Client: cli, Fencer: &swarm.Fencer{Fence: f}}
	}
	b.orch = swarm.New(writer, swarm.Options{Pools: pools, Events: rec, Logger: log})
	credFile, removeCred, err := agentCredentialFile(agentCred)
	if err != nil {
		return nil, err
	}
	b.closers = append(b.closers, removeCred)
	self, _ := os.Executable()
	for _, pl := range cfg.Pools {
		switch pl.Provider {
		case "local":
			o := local.Options{Pool: pl.Name, CPUs: pl.Machine.CPUs, Manager: b.orch, Agent: self, AgentCredentialFile: credFile,
				Logger: log, BootTimeout: min(cfg.Controller.BootTimeout.D(), 2*time.Minute)}
			if pl.Local != nil {
				o.Prefix, o.Subnet = pl.Local.Prefix, pl.Local.Subnet
			}
			lp, err := local.New(o)
			if err != nil {
				return nil, fmt.Errorf("pool %s: %w", pl.Name, err)
			}
			b.providers[pl.Name] = lp
			b.closers = append(b.closers, lp.Close)
		case "command":
			c := pl.Command
			maddr, token, err := b.orch.JoinInfo(pctx)
			if err != nil {
				return nil, fmt.Errorf("pool %s: %w", pl.Name, err)
			}
			cp, err := command.New(command.Options{Pool: pl.Name, Create: c.Create, Destroy: c.Destroy, List: c.List,
				Timeout: c.Timeout.D(), Retries: c.Retries, Labeler: b.orch, Logger: log,
				Env: []string{"HOIST_SWARM_MANAGER=" + maddr, "HOIST_SWARM_TOKEN=" + token, "HOIST_BIN=" + self,
					"HOIST_AGENT_CREDENTIAL_FILE=" + credFile,
					fmt.Sprintf("HOIST_MACHINE_CPUS=%g", pl.Machine.CPUs), "HOIST_MACHINE_MEMORY=" + fmt.Sprint(int64(pl.Machine.Memory))}})
			if err != nil {
				return nil, fmt.Errorf("pool %s: %w", pl.Name, err)
			}
			b.providers[pl.Name] = cp
		case "openstack":
			o := pl.OpenStack
			compute, err := openstack.Connect(ctx, o.Cloud, o.Region, o.Timeout.D())
			if err != nil {
				return nil, fmt.Errorf("pool %s: %w", pl.Name, err)
			}
			op, err := openstack.New(openstack.Options{Pool: pl.Name, Compute: compute, Joiner: b.orch,
				Flavor: o.Flavor, Image: o.Image, Network: o.Network, Key: o.Key, SecurityGroups: o.SecurityGroups,
				AvailabilityZone: o.AvailabilityZone, Logger: log})
			if err != nil {
				return nil, fmt.Errorf("pool %s: %w", pl.Name, err)
			}
			b.providers[pl.Name] = op
		case "ec2":
			e := pl.EC2
			c, err := ec2.NewClient(ctx, e.Region, e.Profile, e.Endpoint, e.Timeout.D())
			if err != nil {
				return nil, fmt.Errorf("pool %s: %w", pl.Name, err)
			}
			ep, err := ec2.New(ec2.Options{Pool: pl.Name, Client: c, Joiner: b.orch, InstanceType: e.InstanceType, AMI: e.AMI,
				Subnet: e.Subnet, SecurityGroups: e.SecurityGroups, Key: e.Key, AvailabilityZone: e.AvailabilityZone, Logger: log})
			if err != nil {
				return nil, fmt.Errorf("pool %s: %w", pl.Name, err)
			}
			b.providers[pl.Name] = ep
		default:
			return nil, fmt.Errorf("pool %s: provider %q cannot run beside real pools", pl.Name, pl.Provider)
		}
	}
	ha.providers(b.providers)
	b.coll = collector.New(collector.Options{State: b.orch, Logger: log, HTTP: collector.CredentialClient(agentCred),
		Local: &collector.Agent{Docker: cli, Machine: "manager", Shaper: throttle.PIDShaper{}}, LocalNode: info.Info.Swarm.NodeID,
		Throttles: ha.throttles(throttles)})

	// The balancer layer: balancer apps deployed as HAProxy services, one
	// derived per app that asks for it, their stats as the lb_* metrics.
	b.layer = balancer.NewLayer()
	b.wrapped = balancer.NewOrchestrator(b.orch, writer, b.layer, balancer.OrchestratorOptions{Pools: pools, Events: rec, Logger: log})
	b.lb = balancer.NewSource(balancer.SourceOptions{State: b.orch, Logger: log, Active: func() bool {
		known, derived := b.layer.Known()
		return !derived || len(known) > 0
	}})
	return b, nil
}

func (b *swarmBackend) parts() clusterParts {
	return clusterParts{
		orchestrator: b.wrapped, providers: b.providers, builtin: b.coll, async: true, collectors: []prometheus.Collector{b.coll},
		extraApps: swarm.AppsFromLabels, derive: b.layer.Derive, services: b.orch,
		wrapMetrics: func(next engine.MetricSource) engine.MetricSource { return &balancer.Router{LB: b.lb, Next: next} },
		load:        b.observedLoad, throttleReports: b.throttleReports,
	}
}

// throttleReports is each of app's tasks with a limit, as its agent last
// reported it (the API's GET /v1/apps/{name}/throttle, the dashboard).
func (b *swarmBackend) throttleReports(app string) []api.TaskLimit {
	var out []api.TaskLimit
	for _, u := range b.coll.Tasks() {
		if u.Service != app || (u.Throttle == nil && u.ThrottleErr == "") {
			continue
		}
		r := api.TaskLimit{Task: u.TaskID, Error: u.ThrottleErr}
		if st := u.Throttle; st != nil {
			r.Applied, r.Rate, r.Egress, r.Ingress = st.Applied, st.Rate, st.Egress, st.Ingress
		}
		out = append(out, r)
	}
	return out
}

// observedLoad is what the dashboard shows as an app's load on Swarm: the
// request rate its replicas served (the collector's scrape of their
// /metrics, summed over the replicas), their p95 latency, CPU and traffic
// (all tasks together). The simulator knows the load offered; a real
// cluster only what was observed. A figure not known is NaN (no point on
// the chart).
func (b *swarmBackend) observedLoad(app string) (series.Load, bool) {
	ctx := context.Background()
	nan := math.NaN()
	l := series.Load{Offered: nan, P95: nan, CPU: nan}
	if rps, err := b.coll.RequestRate(ctx, app, 0); err == nil {
		l.Offered = rps
	}
	if p95, err := b.coll.Value(ctx, engine.MetricQuery{App: app, Metric: "latency_p95"}); err == nil {
		l.P95 = p95 / 1000
	}
	if cpu, err := b.coll.Value(ctx, engine.MetricQuery{App: app, Metric: "cpu"}); err == nil {
		l.CPU = cpu
	}
	l.NetRx, l.NetTx = nan, nan
	if per, err := b.coll.TaskNet(ctx, app, 0); err == nil && len(per) > 0 {
		l.NetRx, l.NetTx = 0, 0
		for _, r := range per {
			l.NetRx += r.RxBytes
			l.NetTx += r.TxBytes
		}
	}
	return l, !math.IsNaN(l.Offered) || !math.IsNaN(l.P95) || !math.IsNaN(l.CPU) || !math.IsNaN(l.NetRx)
}

func (b *swarmBackend) actors() []actor {
	return []actor{
		{"collector", b.coll.Run},
		{"balancer stats", b.lb.Run},
	}
}

// mount serves the collector's view under /collector/ and every balancer
// replica's latest stats under /balancer/, to viewers.
func (b *swarmBackend) mount(mux *http.ServeMux, view func(http.Handler) http.Handler) {
	mux.Handle("/collector/", view(http.StripPrefix("/collector", b.coll.Handler())))
	mux.Handle("/balancer/", view(http.StripPrefix("/balancer", b.lb.Handler())))
}

// warm scrapes twice, so rates have two samples.
func (b *swarmBackend) warm(ctx context.Context, _ *Runtime) error {
	b.coll.Scrape(ctx)
	b.lb.Scrape(ctx)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(2 * time.Second):
	}
	b.coll.Scrape(ctx)
	b.lb.Scrape(ctx)
	return nil
}

func (b *swarmBackend) close() {
	for i := len(b.closers) - 1; i >= 0; i-- {
		b.closers[i]()
	}
}

// loop ticks the engine every interval of wall time.
func (b *swarmBackend) loop(ctx context.Context, rt *Runtime) error {
	term := newTerminal(rt)
	defer term.close()
	eng := rt.Engine
	fmt.Fprintf(rt.out, "hoist: running %s on Docker Swarm at %s; Ctrl-C to stop\n", describe(eng.Config()), b.cli.DaemonHost())
	tick := time.NewTimer(0)
	defer tick.Stop()
	// Ticks start on a fixed schedule, one interval after the previous
	// start, so a slow observation does not stretch the period; a tick that
	// overran its interval is followed at once, never by a burst of the
	// ticks it missed.
	next := time.Now()
	redraw := time.NewTicker(250 * time.Millisecond)
	defer redraw.Stop()
	for {
		select {
		case <-ctx.Done():
			// Machine operations under way see the cancelled context and stop;
			// their records say where they were, so the next run resumes.
			done := make(chan struct{})
			go func() { eng.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				fmt.Fprintln(rt.out, "hoist: machine operations still running after 20s; leaving them")
			}
			term.events()
			term.end(fmt.Sprintf("hoist: stopped at %s", time.Now().UTC().Format("15:04:05")))
			return nil
		case <-tick.C:
			// A standby (--ha) does not tick: it observes and acts on nothing.
			if rt.ha.acting(ctx, rt) {
				if _, err := eng.Tick(ctx); err != nil && ctx.Err() == nil {
					rt.log.Warn("tick", "err", err)
				}
			}
			now := time.Now()
			if next = next.Add(eng.Config().Interval()); next.Before(now) {
				next = now
			}
			tick.Reset(next.Sub(now))
			term.events()
			term.status(b.status(eng))
		case <-redraw.C:
			// Events of background machine operations show up between ticks.
			if len(term.sub) > 0 {
				term.events()
				if term.tty {
					term.status(b.status(eng))
				}
			}
		}
	}
}

// status is the one-line summary after each tick.
func (b *swarmBackend) status(eng *engine.Engine) string {
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
	for _, n := range b.coll.Nodes() {
		cpu += n.CPU
	}
	parts = append(parts, fmt.Sprintf("tasks use %.2f cores", cpu))
	return fmt.Sprintf("[%s] %s", plan.Time.UTC().Format("15:04:05"), strings.Join(parts, " | "))
}
