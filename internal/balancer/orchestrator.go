package balancer

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"
	mswarm "github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/hoist/hoist/internal/cluster"
	"github.com/hoist/hoist/internal/config"
	"github.com/hoist/hoist/internal/engine"
	"github.com/hoist/hoist/internal/events"
	"github.com/hoist/hoist/internal/swarm"
)

var _ engine.Orchestrator = (*Orchestrator)(nil)

// DockerAPI is the part of the Docker Engine API the balancer orchestrator
// uses; *client.Client implements it, tests use a fake.
type DockerAPI interface {
	ServiceInspect(ctx context.Context, id string, o client.ServiceInspectOptions) (client.ServiceInspectResult, error)
	ServiceCreate(ctx context.Context, o client.ServiceCreateOptions) (client.ServiceCreateResult, error)
	ServiceUpdate(ctx context.Context, id string, o client.ServiceUpdateOptions) (client.ServiceUpdateResult, error)
	ServiceRemove(ctx context.Context, id string, o client.ServiceRemoveOptions) (client.ServiceRemoveResult, error)
	ConfigList(ctx context.Context, o client.ConfigListOptions) (client.ConfigListResult, error)
	ConfigCreate(ctx context.Context, o client.ConfigCreateOptions) (client.ConfigCreateResult, error)
	ConfigRemove(ctx context.Context, id string, o client.ConfigRemoveOptions) (client.ConfigRemoveResult, error)
}

var _ DockerAPI = (*client.Client)(nil)

// Recorder receives the orchestrator's events (engine.Recorder fits).
type Recorder interface {
	Record(e events.Event) events.Event
}

// OrchestratorOptions configure an Orchestrator.
type OrchestratorOptions struct {
	// Pools are the descriptor's pool names, for placement constraints.
	Pools  []string
	Events Recorder // optional
	Logger *slog.Logger
	Now    func() time.Time
}

// Orchestrator is the engine's orchestrator with the balancer apps deployed
// as HAProxy services: everything else goes to the orchestrator it wraps.
type Orchestrator struct {
	engine.Orchestrator
	api   DockerAPI
	layer *Layer
	opt   OrchestratorOptions
	log   *slog.Logger

	mu     sync.Mutex
	failed map[string]string // balancer -> last reconcile error (one event each)
}

// NewOrchestrator wraps inner; the balancer apps are those layer derives.
func NewOrchestrator(inner engine.Orchestrator, api DockerAPI, layer *Layer, opt OrchestratorOptions) *Orchestrator {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Orchestrator{Orchestrator: inner, api: api, layer: layer, opt: opt, log: opt.Logger, failed: map[string]string{}}
}

// Deploy implements engine.Orchestrator: a balancer app becomes an HAProxy
// service with its Swarm config and published ports; other apps are the
// wrapped orchestrator's.
func (o *Orchestrator) Deploy(ctx context.Context, app config.App, replicas int) error {
	p, ok := o.layer.Params(app.Name)
	if !ok {
		return o.Orchestrator.Deploy(ctx, app, replicas)
	}
	_, err := o.deploy(ctx, app, p, replicas)
	return err
}

// deploy creates or updates the balancer service (an update keeps the
// replica count, which is the engine's) and returns the config it runs with.
func (o *Orchestrator) deploy(ctx context.Context, app config.App, p Params, replicas int) (string, error) {
	text, err := Render(p)
	if err != nil {
		return "", fmt.Errorf("deploy %s: %w", app.Name, err)
	}
	name := ConfigName(app.Name, text)
	id, err := o.ensureConfig(ctx, app.Name, name, text)
	if err != nil {
		return "", fmt.Errorf("deploy %s: %w", app.Name, err)
	}
	spec := Spec(app, p, replicas, o.opt.Pools, id, name)
	if err := o.apply(ctx, spec); err != nil {
		return "", err
	}
	o.pruneConfigs(ctx, app.Name, name)
	return name, nil
}

// apply creates the service, or updates it keeping its mode (the replica
// count), read again when another writer (a scale) got there first.
func (o *Orchestrator) apply(ctx context.Context, spec mswarm.ServiceSpec) error {
	name := spec.Name
	for attempt := 0; ; attempt++ {
		cur, err := o.api.ServiceInspect(ctx, name, client.ServiceInspectOptions{})
		if cerrdefs.IsNotFound(err) {
			res, err := o.api.ServiceCreate(ctx, client.ServiceCreateOptions{Spec: spec})
			if err != nil {
				return fmt.Errorf("create balancer service %s: %w", name, err)
			}
			for _, w := range res.Warnings {
				o.log.Warn("balancer service create", "service", name, "warning", w)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("inspect balancer service %s: %w", name, err)
		}
		spec.Mode = cur.Service.Spec.Mode
		next := spec
		swarm.KeepDrain(cur.Service.Spec, &next) // a drain moving a balancer task goes on
		_, err = o.api.ServiceUpdate(ctx, cur.Service.ID, client.ServiceUpdateOptions{Version: cur.Service.Version, Spec: next})
		switch {
		case err == nil:
			return nil
		case swarm.IsConflict(err) && attempt < 4:
			time.Sleep(time.Duration(attempt+1) * 100 * time.Millisecond)
		default:
			return fmt.Errorf("update balancer service %s: %w", name, err)
		}
	}
}

// Spec is the service spec of a balancer app: the app's own spec (image,
// resources, pools, the balanced app's network) plus HAProxy's configuration,
// its stop signal, and the traffic and stats ports published in host mode on
// the balancer's machines (no routing mesh needed, and clients reach a
// replica's own machine).
func Spec(app config.App, p Params, replicas int, pools []string, configID, configName string) mswarm.ServiceSpec {
	spec := swarm.Spec(app, replicas, pools)
	spec.Labels[LabelFor] = p.App
	spec.Labels[LabelPort] = strconv.Itoa(p.Port)
	spec.Labels[LabelStatsPort] = strconv.Itoa(p.StatsPort)
	spec.Labels[LabelConfig] = configName
	cs := spec.TaskTemplate.ContainerSpec
	cs.Labels[LabelFor] = p.App
	cs.Configs = []*mswarm.ConfigReference{{
		File:     &mswarm.ConfigReferenceFileTarget{Name: ConfigPath, UID: "0", GID: "0", Mode: 0o444},
		ConfigID: configID, ConfigName: configName,
	}}
	cs.StopSignal = StopSignal
	grace := HardStop + 10*time.Second
	cs.StopGracePeriod = &grace
	spec.EndpointSpec = &mswarm.EndpointSpec{Mode: mswarm.ResolutionModeDNSRR, Ports: []mswarm.PortConfig{
		{Name: "http", Protocol: network.TCP, TargetPort: uint32(p.Port), PublishedPort: uint32(p.Port), PublishMode: mswarm.PortConfigPublishModeHost},
		{Name: "stats", Protocol: network.TCP, TargetPort: uint32(p.StatsPort), PublishedPort: uint32(p.StatsPort), PublishMode: mswarm.PortConfigPublishModeHost},
	}}
	// A new configuration replaces replicas one at a time: a host-mode port
	// cannot be taken twice on one machine, so the old one stops first, and
	// the others carry the traffic meanwhile.
	spec.UpdateConfig = &mswarm.UpdateConfig{Parallelism: 1, Order: mswarm.UpdateOrderStopFirst,
		Delay: 2 * time.Second, Monitor: 10 * time.Second, FailureAction: mswarm.UpdateFailureActionPause}
	return spec
}

func (o *Orchestrator) ensureConfig(ctx context.Context, lbApp, name string, text []byte) (string, error) {
	list, err := o.api.ConfigList(ctx, client.ConfigListOptions{Filters: client.Filters{}.Add("name", name)})
	if err != nil {
		return "", fmt.Errorf("list configs: %w", err)
	}
	for _, c := range list.Items {
		if c.Spec.Name == name {
			return c.ID, nil
		}
	}
	res, err := o.api.ConfigCreate(ctx, client.ConfigCreateOptions{Spec: mswarm.ConfigSpec{
		Annotations: mswarm.Annotations{Name: name, Labels: map[string]string{swarm.LabelManaged: "true", LabelService: lbApp}},
		Data:        text,
	}})
	if err != nil {
		return "", fmt.Errorf("create config %s: %w", name, err)
	}
	return res.ID, nil
}

// pruneConfigs removes the balancer's other configs. Swarm refuses to remove
// one a task still uses (during a rolling update): that one goes next time.
func (o *Orchestrator) pruneConfigs(ctx context.Context, lbApp, keep string) {
	list, err := o.api.ConfigList(ctx, client.ConfigListOptions{Filters: client.Filters{}.Add("label", LabelService+"="+lbApp)})
	if err != nil {
		o.log.Debug("balancer configs", "err", err)
		return
	}
	for _, c := range list.Items {
		if c.Spec.Name == keep || c.Spec.Labels[LabelService] != lbApp {
			continue
		}
		if _, err := o.api.ConfigRemove(ctx, c.ID, client.ConfigRemoveOptions{}); err != nil {
			o.log.Debug("old balancer config still in use", "config", c.Spec.Name, "err", err)
		}
	}
}

// State implements engine.Orchestrator, and keeps the balancers current on
// the way: a balancer whose configuration no longer matches its app's
// descriptor (algorithm, ports, check, slots) is updated, replica by
// replica; a balancer whose app is gone is removed.
func (o *Orchestrator) State(ctx context.Context) (cluster.State, error) {
	st, err := o.Orchestrator.State(ctx)
	if err != nil {
		return st, err
	}
	o.reconcile(ctx, st)
	return st, nil
}

func (o *Orchestrator) reconcile(ctx context.Context, st cluster.State) {
	known, derived := o.layer.Known()
	if !derived {
		return // nothing is known before the engine's first tick
	}
	services := map[string]bool{}
	for _, s := range st.Services {
		services[s.Name] = true
	}
	for _, s := range st.Services {
		of := s.Labels[LabelFor]
		if of == "" || s.Labels[swarm.LabelManaged] != "true" {
			continue
		}
		p, ok := known[s.Name]
		switch {
		case ok:
			text, err := Render(p)
			if err != nil || s.Labels[LabelConfig] == ConfigName(s.Name, text) {
				continue
			}
			app, _ := o.layer.App(s.Name)
			name, err := o.deploy(ctx, app, p, s.Desired)
			o.outcome(s.Name, of, err, fmt.Sprintf("balancer configuration changed: %s now runs with %s, replaced one replica at a time", s.Name, name))
		case !services[of]:
			_, err := o.api.ServiceRemove(ctx, s.Name, client.ServiceRemoveOptions{})
			if err != nil && cerrdefs.IsNotFound(err) {
				err = nil
			}
			if err == nil {
				o.pruneConfigs(ctx, s.Name, "")
			}
			o.outcome(s.Name, of, err, fmt.Sprintf("balancer %s removed: app %s is gone", s.Name, of))
		}
	}
}

func (o *Orchestrator) outcome(lb, app string, err error, done string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	ev := events.Event{Time: o.opt.Now(), Kind: events.AppDeployed, App: lb, Reason: done}
	if err != nil {
		if o.failed[lb] == err.Error() {
			return
		}
		o.failed[lb] = err.Error()
		ev.Kind, ev.Reason = events.AppWarning, "balancer of "+app+" not updated, will retry: "+err.Error()
	} else {
		delete(o.failed, lb)
	}
	o.log.Info("balancer", "service", lb, "event", strings.TrimSpace(ev.Reason))
	if o.opt.Events != nil {
		o.opt.Events.Record(ev)
	}
}
