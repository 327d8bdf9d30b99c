// Package balancer is hoist's load-balancer layer, after MiCADO's version B:
// for every app that asks for one (`balancer:` in the descriptor or the API),
// a scalable layer of HAProxy replicas in front of the app, kept current by
// service discovery and scaled like any other app.
//
//   - The layer is an app of its own, NAME-lb, on a pool of its own (Derive):
//     the engine scales its replicas on its policies and orders or removes
//     machines for it, as for any app. By default each replica reserves its
//     whole machine, so one more replica means one more machine, as MiCADO's
//     lb node type.
//   - Each replica is HAProxy (Debian's, in a FROM scratch image) attached to
//     the app's overlay network, whose backend is a server-template on
//     tasks.NAME resolved through Docker's embedded DNS every second: scale
//     events change the servers at run time, without a reload (Render).
//   - Its configuration is a Swarm config named after a hash of its text; the
//     traffic and stats ports are published in host mode on the balancer's
//     machines (no routing mesh needed) (Orchestrator).
//   - HAProxy's stats feed the built-in metrics lb_rps, lb_connections,
//     lb_queue and lb_latency (Source, ParseCSV).
package balancer

import (
	"sort"
	"sync"
	"time"

	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/swarm"
)

// Labels on a balancer's service: what the metric source and the
// orchestrator read back from the cluster, and what operators see.
const (
	LabelFor       = "hoist.balancer.for"        // the app it balances
	LabelPort      = "hoist.balancer.port"       // the traffic port published on its machines
	LabelStatsPort = "hoist.balancer.stats_port" // the stats port published on its machines
	LabelConfig    = "hoist.balancer.config"     // the Swarm config it runs with
	// LabelService on a Swarm config: the balancer service it was made for.
	LabelService = "hoist.balancer.service"
)

// Defaults and fixed paths of the HAProxy image (scripts/localstack builds it).
const (
	DefaultImage = "hoist/haproxy:latest"
	ConfigPath   = "/usr/local/etc/haproxy/haproxy.cfg"
	// HealthPath, on the traffic port, is a replica's readiness: 200 while at
	// least one server of its app is up (resolved through DNS and not failed
	// by its health check), 503 before that and from the moment it is asked
	// to stop. It is what a tier in front (DNS health checks, a cloud load
	// balancer, the e2e load generator) polls to know where to send.
	HealthPath = "/hoist/lb/health"
	// StopSignal makes HAProxy stop softly: HealthPath fails at once, the
	// listeners stay open for Grace, then close while requests in flight finish.
	StopSignal = "SIGUSR1"
	Grace      = 5 * time.Second
	// HardStop bounds the soft stop (HAProxy's hard-stop-after); Swarm's stop
	// grace period is a little longer so HAProxy ends on its own.
	HardStop = 20 * time.Second
)

// Params are what a balancer's configuration is made from.
type Params struct {
	App         string // the app balanced: its service, its tasks.APP DNS name
	Algorithm   string // leastconn, roundrobin, source, random
	Port        int    // where the balancer takes traffic
	StatsPort   int    // stats page and Prometheus metrics
	BackendPort int    // the app's port
	Check       string // HTTP health check path; "" is a TCP connect check
	Slots       int    // server-template size: the most tasks it can follow
	Network     string // the app's overlay network
}

// ParamsOf returns the balancer parameters of app (ok false: no balancer).
func ParamsOf(app config.App) (Params, bool) {
	b := app.Balancer
	if b == nil {
		return Params{}, false
	}
	most := app.Replicas.Max
	for _, p := range app.Policies {
		for _, w := range p.Windows {
			if w.Max != nil {
				most = max(most, *w.Max)
			}
		}
	}
	return Params{App: app.Name, Algorithm: b.Algorithm, Port: b.Port, StatsPort: b.StatsPort,
		BackendPort: app.Port, Check: b.Check, Slots: slots(most), Network: swarm.NetworkName(app)}, true
}

// slots leaves room for old and new tasks side by side (drains, updates) and
// rounds up to a power of two, so a changed max rarely changes the
// configuration (which restarts the balancer's replicas one by one).
func slots(maxReplicas int) int {
	n := 16
	for n < 2*maxReplicas {
		n *= 2
	}
	return n
}

// Name is the balancer app of app.
func Name(app string) string { return app + config.BalancerSuffix }

// AppOf returns the balancer's own app for app, which has a balancer.
func AppOf(cfg *config.Config, app config.App) config.App {
	b := app.Balancer
	lb := config.App{
		Name: Name(app.Name), Image: b.Image, Pools: []string{b.Pool},
		Replicas: b.Replicas, Cooldown: b.Cooldown, Policies: b.Policies,
		Labels: map[string]string{LabelFor: app.Name, swarm.LabelNetwork: swarm.NetworkName(app)},
	}
	if lb.Image == "" {
		lb.Image = DefaultImage
	}
	switch {
	case b.Resources != nil:
		lb.Resources = *b.Resources
	case cfg != nil:
		// One balancer per machine: a second replica cannot fit beside the
		// first, so Swarm reports it pending for lack of resources and the
		// engine orders a machine (host-mode ports alone would only say
		// "port in use", which is no reason to buy one).
		if pool, ok := cfg.Pool(b.Pool); ok {
			lb.Resources.Reservations.CPUs = pool.Machine.CPUs
		}
	}
	lb.SetDefaults()
	return lb
}

// Layer derives the balancer apps each tick (engine.Deps.Derive) and keeps
// their parameters for the orchestrator that deploys them.
type Layer struct {
	mu      sync.Mutex
	params  map[string]Params     // by balancer app name
	apps    map[string]config.App // by balancer app name
	derived bool
}

// NewLayer returns an empty layer.
func NewLayer() *Layer { return &Layer{params: map[string]Params{}, apps: map[string]config.App{}} }

// Derive returns a balancer app for every app of apps that asks for one.
func (l *Layer) Derive(cfg *config.Config, apps []config.App) []config.App {
	params, byName := map[string]Params{}, map[string]config.App{}
	var out []config.App
	for _, a := range apps {
		p, ok := ParamsOf(a)
		if !ok {
			continue
		}
		lb := AppOf(cfg, a)
		params[lb.Name], byName[lb.Name] = p, lb
		out = append(out, lb)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	l.mu.Lock()
	l.params, l.apps, l.derived = params, byName, true
	l.mu.Unlock()
	return out
}

// Params returns the parameters of balancer app name.
func (l *Layer) Params(name string) (Params, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.params[name]
	return p, ok
}

// App returns balancer app name as last derived.
func (l *Layer) App(name string) (config.App, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a, ok := l.apps[name]
	return a, ok
}

// Known reports whether Derive has run, and the balancer apps it returned.
func (l *Layer) Known() (map[string]Params, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]Params, len(l.params))
	for k, v := range l.params {
		out[k] = v
	}
	return out, l.derived
}
